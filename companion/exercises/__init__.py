"""Checkers for the book's code exercises: hidden cases, a score, and no expected values.

Each code exercise names a function for the learner to write; ``check_<name>(fn)`` runs it on
cases generated from a fixed seed, compares it with companion's reference, prints a short report
and returns a :class:`Score`::

    from companion.exercises import check_attention
    check_attention(attention)   # ex-attention-implement: 7/7 cases passed ...

A failing case says what kind of case it was and how it failed (a shape, a dtype, the size of the
error, or the exception raised), never the expected tensor. :func:`grade_namespace` runs every
checker of one notebook on the functions found in a namespace (a notebook's globals), quietly and
without ever raising: it is what the grading command uses. :func:`exercise_table` lists every
exercise of the book, code or not, for the instructor guide.

One module per chapter holds that chapter's checkers, its ``EXERCISES`` (the auto-checked ones)
and its ``OTHER_EXERCISES`` (the rest); :mod:`companion.exercises.core` holds what they share.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from companion.exercises import (
    attention,
    bert,
    build_transformer,
    encoder_layer,
    masks_and_positions,
    pretrained,
    seq2seq,
    train_gpt,
)
from companion.exercises.attention import check_attention
from companion.exercises.bert import check_mask_tokens, check_mlm_loss
from companion.exercises.build_transformer import check_causal_self_attention, check_parameter_count
from companion.exercises.core import Exercise, Score, describe_exception
from companion.exercises.encoder_layer import check_encoder_layer_forward, check_layer_norm
from companion.exercises.masks_and_positions import check_masks, check_sinusoidal_encoding
from companion.exercises.pretrained import check_mean_pooling, check_wordpiece_word
from companion.exercises.seq2seq import check_chinese_numeral, check_greedy_decode
from companion.exercises.train_gpt import check_next_token_probs, check_ngram_cross_entropy

__all__ = [
    "EXERCISES",
    "OTHER_EXERCISES",
    "Exercise",
    "Score",
    "check_attention",
    "check_causal_self_attention",
    "check_chinese_numeral",
    "check_encoder_layer_forward",
    "check_greedy_decode",
    "check_layer_norm",
    "check_mask_tokens",
    "check_masks",
    "check_mean_pooling",
    "check_mlm_loss",
    "check_next_token_probs",
    "check_ngram_cross_entropy",
    "check_parameter_count",
    "check_sinusoidal_encoding",
    "check_wordpiece_word",
    "exercise_table",
    "grade_namespace",
]

CHAPTERS = (
    attention,
    masks_and_positions,
    encoder_layer,
    build_transformer,
    train_gpt,
    seq2seq,
    bert,
    pretrained,
)

# label -> Exercise, for every auto-checked exercise of the book
EXERCISES: dict[str, Exercise] = {ex.label: ex for ch in CHAPTERS for ex in ch.EXERCISES}

# label -> (notebook, title, difficulty), for every other exercise (read by hand)
OTHER_EXERCISES: dict[str, tuple[str, str, str]] = {
    label: (ch.NOTEBOOK, title, difficulty)
    for ch in CHAPTERS
    for label, (title, difficulty) in ch.OTHER_EXERCISES.items()
}


def exercise_table() -> list[dict]:
    """Every exercise of the book, by notebook: label, notebook, title, difficulty, auto_checked."""
    rows = [
        {
            "label": ex.label,
            "notebook": ex.notebook,
            "title": ex.title,
            "difficulty": ex.difficulty,
            "auto_checked": True,
        }
        for ex in EXERCISES.values()
    ]
    rows += [
        {
            "label": label,
            "notebook": nb,
            "title": title,
            "difficulty": difficulty,
            "auto_checked": False,
        }
        for label, (nb, title, difficulty) in OTHER_EXERCISES.items()
    ]
    return sorted(rows, key=lambda r: (r["notebook"], r["label"]))


def grade_namespace(notebook: str, namespace: dict) -> list[Score]:
    """Run every checker of ``notebook`` (a stem like ``"20_attention"``, or a path) on the
    functions of the same names in ``namespace``, quietly. Never raises: a missing function, or
    one that fails, scores 0 with a message saying why."""
    stem = Path(str(notebook)).stem
    scores = []
    for ex in EXERCISES.values():
        if ex.notebook != stem:
            continue
        missing = [n for n in ex.names if not callable(namespace.get(n))]
        if missing:
            msgs = [f"`{n}` is not defined: run the cell that defines it" for n in missing]
            scores.append(Score(ex.label, 0, 1, msgs))
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                scores.append(ex.checker(*(namespace[n] for n in ex.names), verbose=False))
        except (Exception, SystemExit) as exc:  # grading goes on whatever the code does
            scores.append(Score(ex.label, 0, 1, [f"checker failed: {describe_exception(exc)}"]))
    return scores
