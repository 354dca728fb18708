"""Checkers of the chapter "What pre-training predicts" (notebooks/11_objectives): BERT's
corruption, and seed 001's masked example done right.

The corruption is random, so :func:`check_mlm_corruption` cannot compare the learner's output with
a reference: it checks the rates on a large sample against fixed bands (0.15 +/- 0.01 selected,
80/10/10 +/- 2 percentage points; a correct version lies about five standard deviations inside
them: about 9,300 tokens are selected, and 0.02 / sqrt(0.16 / 9,300) = 4.8 for the 10% shares),
the rules that hold for every draw, and that the random replacements cover the non-special ids
about uniformly.

Choosing exactly ``round(0.15 n)`` tokens per sequence, as BERT's own data script does, instead
of each token independently with probability 0.15, as Hugging Face's collator and
:func:`companion.objectives.mask_tokens` do, is also right: both select 15% of the tokens, and the
checker accepts both.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter

CHAPTER = Chapter(11, "objectives")  # notebooks/11_objectives.ipynb

# --- ex-objectives-mask-tokens -------------------------------------------------------------------

# the specials are scattered through the vocabulary, so that drawing replacements from
# range(VOCAB_SIZE - 4) (as if the specials were the last ids) is caught
VOCAB_SIZE, PAD, CLS, SEP, MASK = 50, 0, 17, 33, 49
SPECIAL_IDS = (PAD, CLS, SEP, MASK)
ORDINARY_IDS = torch.tensor([i for i in range(VOCAB_SIZE) if i not in SPECIAL_IDS])  # (46,)
N_ORDINARY = len(ORDINARY_IDS)
SELECT_BAND, SPLIT_BAND = 0.01, 0.02  # the brief's tolerances: 15% +/- 1, 80/10/10 +/- 2 points


def _rows(case: int, n_rows: int = 800, seq: int = 128) -> Tensor:
    """``[CLS] ordinary tokens [SEP] [PAD] ...`` rows of random lengths: ``(n_rows, seq)`` int64."""
    g = case_generator(case)
    ids = ORDINARY_IDS[torch.randint(0, N_ORDINARY, (n_rows, seq), generator=g)]  # (n_rows, seq)
    lengths = torch.randint(seq // 4, seq + 1, (n_rows,), generator=g)
    for i, n in enumerate(lengths.tolist()):
        ids[i, 0], ids[i, n - 1] = CLS, SEP
        ids[i, n:] = PAD
    return ids


def _within(rate: float, p: float, band: float, what: str) -> str | None:
    if abs(rate - p) > band:
        return f"{what} is {rate:.3f}, outside {p:.2f} +/- {band:.2f}"
    return None


@CHAPTER.exercise(
    "ex-objectives-mask-tokens",
    title="BERT's corruption",
    difficulty="medium",
    names=("my_mask_tokens",),
    references=("companion.objectives.mask_tokens",),
)
def check_mlm_corruption(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-objectives-mask-tokens: ``my_mask_tokens(ids, generator, mask_id, vocab_size,
    special_ids) -> (corrupted, labels)``: ``ids (batch, seq)`` int64; both outputs
    ``(batch, seq)`` int64. 15% of the non-special tokens are selected; of those 80% become
    ``mask_id``, 10% a random non-special id, 10% stay; ``labels`` is the original id at the
    selected positions and -100 elsewhere."""

    def call(case: int) -> tuple[Tensor, Tensor, Tensor]:
        ids = _rows(case)  # the checker's copy; the learner gets another
        out = fn(ids.clone(), case_generator(100 + case), MASK, VOCAB_SIZE, SPECIAL_IDS)
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise TypeError(f"expected a pair (corrupted, labels), got {type(out).__name__}")
        for name, t in zip(("corrupted", "labels"), out, strict=True):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name} is a {type(t).__name__}, not a torch.Tensor")
            if t.shape != ids.shape or t.dtype != torch.long:
                raise TypeError(
                    f"{name} has shape {tuple(t.shape)} and dtype {t.dtype}, expected "
                    f"{tuple(ids.shape)} and torch.int64"
                )
        return ids, out[0].detach().cpu(), out[1].detach().cpu()

    def selected_rate(case: int) -> Callable[[], str | None]:
        def run():
            ids, _, labels = call(case)
            ordinary = ~torch.isin(ids, torch.tensor(SPECIAL_IDS))
            rate = int(((labels != -100) & ordinary).sum()) / int(ordinary.sum())
            return _within(rate, 0.15, SELECT_BAND, "the share of ordinary tokens selected")

        return run

    def split(case: int) -> Callable[[], str | None]:
        def run():
            ids, corrupted, labels = call(case)
            selected = labels != -100
            n = int(selected.sum())
            if n == 0:
                return "no token was selected"
            masked = int((selected & (corrupted == MASK)).sum()) / n
            kept = int((selected & (corrupted == ids)).sum()) / n
            other = 1 - masked - kept  # replaced by a different token
            return (
                _within(masked, 0.8, SPLIT_BAND, "the share of selected tokens set to [MASK]")
                or _within(other, 0.1, SPLIT_BAND, "the share of selected tokens replaced")
                or _within(kept, 0.1, SPLIT_BAND, "the share of selected tokens left unchanged")
            )

        return run

    def rules(case: int) -> Callable[[], str | None]:
        def run():
            ids, corrupted, labels = call(case)
            special = torch.isin(ids, torch.tensor(SPECIAL_IDS))
            selected = labels != -100
            if (selected & special).any():
                return f"{int((selected & special).sum())} special or padding tokens were selected"
            if not torch.equal(labels[selected], ids[selected]):
                return "labels at the selected positions are not the original tokens"
            if ((labels != -100) & (labels < 0)).any():
                return "labels hold negative values other than -100"
            if (corrupted[~selected] == MASK).any():
                return "[MASK] appears at a position whose label is -100"
            if not torch.equal(corrupted[~selected], ids[~selected]):
                wrong = int((corrupted[~selected] != ids[~selected]).sum())
                return (
                    f"{wrong} tokens whose label is -100 were changed (only selected ones may be)"
                )
            swapped = corrupted[selected & (corrupted != ids) & (corrupted != MASK)]
            if ((swapped < 0) | (swapped >= VOCAB_SIZE)).any():
                return "a random replacement lies outside the vocabulary"
            if torch.isin(swapped, torch.tensor(SPECIAL_IDS)).any():
                return "a random replacement is a special token ([PAD], [CLS], [SEP] or [MASK])"
            # about 900 replacements over the 46 non-special ids, about 20 each: a uniform draw
            # leaves none empty and none above 3 times the mean (Poisson(20) > 60: ~1e-12)
            counts = torch.bincount(swapped, minlength=VOCAB_SIZE)[ORDINARY_IDS]  # (46,)
            if (counts == 0).sum() > 2 or counts.max() > 3 * counts.float().mean():
                return "random replacements are not drawn uniformly from the non-special ids"
            return None

        return run

    def determinism() -> str | None:
        ids = _rows(8, n_rows=50)
        first = fn(ids.clone(), torch.Generator().manual_seed(123), MASK, VOCAB_SIZE, SPECIAL_IDS)
        again = fn(ids.clone(), torch.Generator().manual_seed(123), MASK, VOCAB_SIZE, SPECIAL_IDS)
        other = fn(ids.clone(), torch.Generator().manual_seed(124), MASK, VOCAB_SIZE, SPECIAL_IDS)
        if not all(torch.equal(a, b) for a, b in zip(first, again, strict=True)):
            return "two calls with generators seeded alike differ: draw from `generator` only"
        if torch.equal(first[1], other[1]):
            return "generators with different seeds give the same selection"
        return None

    def input_untouched() -> str | None:
        ids = _rows(9, n_rows=50)
        before = ids.clone()
        fn(ids, case_generator(109), MASK, VOCAB_SIZE, SPECIAL_IDS)
        return None if torch.equal(ids, before) else "ids was modified in place; work on a copy"

    cases: list[Case] = [
        ("15% of the ordinary tokens are selected", selected_rate(1)),
        ("80/10/10 of the selected: [MASK], random, unchanged", split(2)),
        ("specials never selected, labels and replacements by the rules", rules(3)),
        ("the same generator seed gives the same output", determinism),
        ("the input tensor is not modified", input_untouched),
    ]
    if hidden_generator() is not None:  # grading: more batches the notebook has not seen
        cases += [
            ("15% selected, another batch", selected_rate(4)),
            ("80/10/10, another batch", split(5)),
            ("the rules, another batch", rules(6)),
        ]
    return run_cases("ex-objectives-mask-tokens", cases, verbose)


# --- ex-objectives-fix-seed ------------------------------------------------------------------------

WORDS = (
    "the quick brown fox jumps over lazy dog cat sat on mat a dogs bark birds sing at dawn "
    "and my to of in is it was his her king queen lord good night sweet love ."
).split()
VOCAB = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS)
SENTENCES = (
    "the quick brown fox jumps over the lazy dog .",
    "the cat sat on the mat .",
    "good night , sweet prince",  # "," and "prince" are not in the vocabulary: [UNK]
    "a dog",
)


@functools.cache
def word_tokenizer():
    """A Hugging Face ``BertTokenizer`` over :data:`VOCAB` (one token per word), built offline
    from a vocabulary file in a temporary folder."""
    from transformers import BertTokenizer  # the hf extra; imported only when a case needs it

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
        return BertTokenizer.from_pretrained(folder)


def _compare_ids(got: object, want: Tensor, what: str) -> str | None:
    """None if ``got`` equals the int64 ``want``; else what is wrong, without ``want``'s values."""
    if not isinstance(got, Tensor):
        return f"{what} is a {type(got).__name__}, not a torch.Tensor"
    if tuple(got.shape) != tuple(want.shape):
        return f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    if got.dtype != torch.long:
        return f"{what} has dtype {got.dtype}, expected torch.int64"
    wrong = int((got.detach().cpu() != want).sum())
    return f"{what} differs at {wrong} of {want.numel()} positions" if wrong else None


@CHAPTER.exercise(
    "ex-objectives-fix-seed",
    title="Fix seed 001's example",
    difficulty="easy",
    names=("my_mlm_example",),
    references=(),
)
def check_mlm_example(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-objectives-fix-seed: ``my_mlm_example(vocab, text, position) -> (input_ids, labels)``,
    both int64 ``(1, L)``: the ids that the word-level ``BertTokenizer`` of ``vocab`` (a list of
    token strings, one line each of its ``vocab.txt``) gives ``text`` (``[CLS] ... [SEP]``, no
    padding), with the token at ``position`` (0 is ``[CLS]``) replaced by ``[MASK]``, and labels
    -100 everywhere except ``position``, where they hold the original id. The vocabulary is
    passed as strings, not as a tokenizer object, so that a grader can send it to a kernel."""
    tokenizer = word_tokenizer()

    def case(text: str, position: int) -> Callable[[], str | None]:
        def run():
            ids = torch.tensor([tokenizer(text)["input_ids"]])  # (1, L)
            want_labels = torch.full_like(ids, -100)
            want_labels[0, position] = ids[0, position]
            want_ids = ids.clone()
            want_ids[0, position] = tokenizer.mask_token_id
            out = fn(list(VOCAB), text, position)
            if not (isinstance(out, tuple | list) and len(out) == 2):
                return f"expected a pair (input_ids, labels), got {type(out).__name__}"
            return _compare_ids(out[0], want_ids, "input_ids") or _compare_ids(
                out[1], want_labels, "labels"
            )

        return run

    def sentence(case: int) -> tuple[str, int]:
        g = case_generator(case)
        n = int(torch.randint(4, 12, (1,), generator=g))
        words = [WORDS[int(i)] for i in torch.randint(len(WORDS), (n,), generator=g)]
        words[int(torch.randint(1, n, (1,), generator=g))] = words[0]  # a repeated word
        return " ".join(words), 1 + int(torch.randint(1, n, (1,), generator=g))

    cases: list[Case] = [
        ("'jumps' in the seed's sentence", case(SENTENCES[0], 5)),
        ("the second 'the' of a sentence", case(SENTENCES[0], 7)),
        ("'mat', the last word before '.'", case(SENTENCES[1], 6)),
        ("a word after an unknown one", case(SENTENCES[2], 4)),
        ("the first word", case(SENTENCES[3], 1)),
        *((f"a random sentence ({i})", case(*sentence(i))) for i in (1, 2)),
    ]
    if (g := hidden_generator()) is not None:  # grading: sentences the notebook has not seen
        seed = int(torch.randint(1000, 10_000, (1,), generator=g))
        cases += [("a hidden sentence", case(*sentence(seed)))]
    return run_cases("ex-objectives-fix-seed", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-objectives-changed-share", title="How many tokens does BERT change?", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-objectives-span-lengths", title="How long are T5's inputs and targets?", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-objectives-always-mask", title="Change the corruption: always [MASK]", difficulty="hard"
)
