"""Exercises of the chapter "Decoding: from a language model to text" (notebooks/40_generation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.generate import filter_logits

CHAPTER = Chapter(40, "generation")  # notebooks/40_generation.ipynb

MARGIN = 1e-4  # no cumulative mass of a random case lies this close to p (no float ties)
VALUE_ATOL = 1e-6  # the kept logits must come back unchanged


def _safe_p(logits: Tensor, p: float) -> float:
    """``p``, moved down until no row's sorted cumulative mass lies within MARGIN of it."""
    cumulative = logits.double().softmax(-1).sort(-1, descending=True).values.cumsum(-1)
    while bool(((cumulative - p).abs() < MARGIN).any()):
        p -= 3 * MARGIN
    return p


def _diagnose(got: Tensor, logits: Tensor, want: Tensor, p: float) -> str | None:
    """What is wrong with the answer ``got`` for ``logits`` and ``p``; None if it is right."""
    if not isinstance(got, Tensor):
        return f"returned a {type(got).__name__}, not a torch.Tensor"
    if tuple(got.shape) != tuple(logits.shape):
        return f"the output has shape {tuple(got.shape)}, expected {tuple(logits.shape)}"
    if not got.is_floating_point():
        return f"the output has dtype {got.dtype}, expected floating-point logits"
    got = got.detach().cpu()
    kept, should = ~torch.isneginf(got), torch.isfinite(want)
    rows = int((kept != should).any(-1).sum())
    if rows:
        probs = logits.double().softmax(-1)
        mass = (probs * kept).sum(-1)
        if bool((mass < p - 1e-6).any()):
            return (
                f"the kept set is wrong in {rows} of {should[..., 0].numel()} rows: in some rows "
                "the kept tokens hold less probability mass than p (the token that carries the "
                "mass across p belongs to the nucleus)"
            )
        least = probs.masked_fill(~kept, 2.0).amin(-1)  # the least likely kept token
        if bool((mass - least >= p + 1e-6).any()):
            return (
                f"the kept set is wrong in {rows} of {should[..., 0].numel()} rows: some rows keep "
                "more tokens than the smallest set whose mass reaches p"
            )
        return (
            f"the kept set is wrong in {rows} of {should[..., 0].numel()} rows: it has the right "
            "mass but not the most likely tokens (is the mask mapped back to vocabulary order?)"
        )
    if bool(torch.isnan(got[should]).any()):
        return "some kept logits are NaN"
    err = (got[should].double() - logits[should].double()).abs().max().item()
    if not err <= VALUE_ATOL:
        return (
            f"the kept logits were changed (max error {err:.1e} > {VALUE_ATOL:.0e}); return "
            "the logits themselves, not probabilities"
        )
    return None


@CHAPTER.exercise(
    "ex-generation-top-p",
    title="Implement top-p filtering",
    difficulty="medium",
    names=("my_top_p_filter",),
    references=("companion.generate.filter_logits",),
)
def check_top_p_filter(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-generation-top-p: ``top_p_filter(logits, p)`` -> a tensor of the shape of ``logits``
    ``(..., vocab)``: each row's logits unchanged on its nucleus (the smallest set of most likely
    tokens whose probability mass reaches ``p``, the token that crosses ``p`` included) and
    ``-inf`` elsewhere; ``0 < p <= 1``."""

    def case(logits: Tensor, p: float):
        logits = logits.float()
        want = filter_logits(logits, top_p=p)  # computed before the learner sees the logits

        def run():
            return _diagnose(fn(logits.clone(), p), logits, want, p)

        return run

    def rand(i: int, *shape: int, scale: float = 2.0, g: torch.Generator | None = None) -> Tensor:
        g = case_generator(i) if g is None else g
        return scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    four = torch.tensor([0.05, 0.5, 0.15, 0.3]).log()[None]  # sorted: 0.5, 0.3, 0.15, 0.05
    peaked = rand(6, 2, 1000, scale=4.0)
    specs = [
        ("4 tokens, p 0.7: the token that crosses p is kept", four, 0.7),
        ("4 tokens, p 0.5 + 1e-3", four, 0.501),
        ("4 tokens, p 1.0 keeps every token", four, 1.0),
        ("4 tokens, p 0.01 keeps the most likely token", four, 0.01),
        ("batch 3, 10 tokens, p 0.9", rand(1, 3, 10), 0.9),
        ("a (2, 3, 50) batch, p 0.5", rand(2, 2, 3, 50), 0.5),
        ("batch 4, 65 flat-ish tokens, p 0.95", rand(3, 4, 65, scale=0.5), 0.95),
        ("batch 2, 1000 peaked tokens, p 0.9", peaked, 0.9),
        ("batch 5, 30 tokens, p 0.3", rand(4, 5, 30, scale=3.0), 0.3),
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for k in range(2):
            vocab = int(torch.randint(5, 200, (1,), generator=g))
            scale = float(torch.rand(1, generator=g)) * 4 + 0.3
            p = float(torch.rand(1, generator=g)) * 0.9 + 0.05
            specs.append(
                (f"hidden case {k + 1}, vocab {vocab}", rand(0, 3, vocab, scale=scale, g=g), p)
            )
    cases: list[Case] = [
        (what, case(logits, _safe_p(logits, p) if p < 1 else p)) for what, logits, p in specs
    ]
    return run_cases("ex-generation-top-p", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-generation-by-hand", title="Decoding rules by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-generation-beam-width", title="Predict, then measure: a wider beam", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-generation-penalty-window",
    title="Change the decoder: the penalty's window",
    difficulty="hard",
)
