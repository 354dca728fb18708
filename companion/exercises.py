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
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from companion.attention import causal_mask, padding_mask, scaled_dot_product_attention
from companion.layers import EncoderLayer
from companion.positional import sinusoidal_encoding

__all__ = [
    "EXERCISES",
    "Exercise",
    "Score",
    "check_attention",
    "check_encoder_layer_forward",
    "check_layer_norm",
    "check_masks",
    "check_sinusoidal_encoding",
    "exercise_table",
    "grade_namespace",
]

SEED = 20240  # every checker draws its cases from this seed (plus the case number)


@dataclass(repr=False)
class Score:
    """The result of one checker: how many hidden cases passed, with one message per case.

    ``str(score)`` is the report the checker prints; ``repr`` is one line (what a notebook shows
    under a cell ending in ``check_...(fn)``, after the printed report)."""

    exercise: str
    passed: int
    total: int
    messages: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def __repr__(self) -> str:
        return f"Score({self.exercise!r}, passed={self.passed}, total={self.total})"

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {self.passed}/{self.total} cases passed"]
        lines += [f"  {m}" for m in self.messages]
        return "\n".join(lines)


@dataclass(frozen=True)
class Exercise:
    """A code exercise with a checker: its label, notebook (stem), title, difficulty and the
    names of the learner's functions that the checker takes, in order."""

    label: str
    notebook: str
    title: str
    difficulty: str
    names: tuple[str, ...]
    checker: Callable[..., Score]


# A case: a description ("causal mask, batch 2") and a thunk returning None (passed) or a problem.
Case = tuple[str, Callable[[], "str | None"]]


def _describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"raised {type(exc).__name__}: {first}" if first else f"raised {type(exc).__name__}"


def _run(label: str, cases: Sequence[Case], verbose: bool) -> Score:
    """Run every case, catching any exception per case; print the report if ``verbose``."""
    messages, passed = [], 0
    with torch.random.fork_rng(devices=[]):  # the learner's RNG state is left as it was
        for i, (what, run) in enumerate(cases, start=1):
            try:
                with (
                    contextlib.nullcontext()
                    if verbose
                    else contextlib.redirect_stdout(io.StringIO())
                ):
                    problem = run()
            except (Exception, SystemExit) as exc:  # the learner's code failed on this case
                problem = _describe_exception(exc)
            if problem is None:
                passed += 1
                messages.append(f"case {i} ({what}): passed")
            else:
                messages.append(f"case {i} ({what}): {problem}")
    score = Score(label, passed, len(cases), messages)
    if verbose:
        print(score)
    return score


def _compare(got: object, want: Tensor, what: str, atol: float, dtype: bool = False) -> str | None:
    """None if ``got`` matches ``want`` to ``atol``; else what is wrong, without ``want``'s values."""
    if not isinstance(got, Tensor):
        return f"{what} is a {type(got).__name__}, not a torch.Tensor"
    if tuple(got.shape) != tuple(want.shape):
        return f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    if dtype and got.dtype != want.dtype:
        return f"{what} has dtype {got.dtype}, expected {want.dtype}"
    got = got.detach().cpu()
    if want.dtype == torch.bool:
        if got.dtype != torch.bool:
            return f"{what} has dtype {got.dtype}, expected torch.bool"
        wrong = int((got != want).sum())
        return f"{what} differs in {wrong} of {want.numel()} entries" if wrong else None
    if not (got.is_floating_point() or got.is_complex()):
        return f"{what} has dtype {got.dtype}, expected a floating-point tensor"
    got, want = got.double(), want.detach().cpu().double()
    bad_nan = torch.isnan(got) & ~torch.isnan(want)
    if bad_nan.any():
        return f"{what} contains NaN in {int(bad_nan.sum())} of {want.numel()} entries"
    if want.numel() == 0:
        return None
    err = (got - want).abs().nan_to_num(nan=0.0).max().item()
    if not err <= atol:
        return f"{what} differs (max error {err:.1e} > {atol:.0e})"
    return None


def _gen(case: int) -> torch.Generator:
    return torch.Generator().manual_seed(SEED + case)


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


# --- 20_attention --------------------------------------------------------------------------------

ATTENTION_ATOL = 1e-6


def check_attention(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-attention-implement: ``attention(q, k, v, mask=None) -> (out, weights)``, explicit, with
    a boolean mask (True = may attend), against :func:`companion.attention.scaled_dot_product_attention`.
    """

    def case(seed, q_shape, k_len, d_v, mask_kind=None):
        def run():
            g = _gen(seed)
            *batch, n, d_k = q_shape
            q = _randn(g, *q_shape, scale=1.5)
            k = _randn(g, *batch, k_len, d_k, scale=1.5)
            v = _randn(g, *batch, k_len, d_v)
            mask = None
            if mask_kind == "causal":
                mask = causal_mask(n, k_len)
            elif mask_kind == "padding":
                lengths = torch.randint(1, k_len + 1, (batch[0],), generator=g)
                lengths[0] = k_len
                lengths[-1] = 1
                mask = padding_mask(lengths, k_len)  # (batch, 1, k_len)
                if len(batch) == 2:
                    mask = mask[:, None]  # (batch, 1, 1, k_len)
            elif mask_kind == "per-head":
                mask = torch.rand(*batch, n, k_len, generator=g) < 0.6
                mask[..., 0] = True  # every query keeps at least one key
            args = (q, k, v) if mask is None else (q, k, v, mask)
            result = fn(*args)
            if not isinstance(result, tuple | list) or len(result) != 2:
                return f"returned {type(result).__name__}, expected a tuple (out, weights)"
            out_ref, w_ref = scaled_dot_product_attention(q, k, v, mask)
            return _compare(result[1], w_ref, "weights", ATTENTION_ATOL) or _compare(
                result[0], out_ref, "output", ATTENTION_ATOL
            )

        return run

    cases: list[Case] = [
        ("no mask, 2-D inputs, q_len 4, k_len 6, d_v 3", case(1, (4, 8), 6, 3)),
        ("no mask, batch 2 x 3 heads, q_len 5, k_len 7, d_v 4", case(2, (2, 3, 5, 16), 7, 4)),
        ("causal mask, batch 2", case(3, (2, 6, 8), 6, 8, "causal")),
        ("causal mask, batch 2 x 2 heads, d_k 64", case(4, (2, 2, 5, 64), 5, 3, "causal")),
        ("padding mask (batch, 1, k_len), batch 3", case(5, (3, 4, 8), 7, 5, "padding")),
        ("padding mask, batch 3 x 2 heads", case(6, (3, 2, 4, 8), 6, 2, "padding")),
        ("per-head mask (batch, heads, q_len, k_len)", case(7, (2, 4, 5, 8), 9, 6, "per-head")),
        ("length-1 sequences", case(8, (2, 1, 4), 1, 3)),
    ]
    return _run("ex-attention-implement", cases, verbose)


# --- 21_masks_and_positions ----------------------------------------------------------------------


def check_masks(causal_fn: Callable, padding_fn: Callable, *, verbose: bool = True) -> Score:
    """ex-masks-and-positions-masks: ``causal_mask(n)`` -> bool ``(n, n)`` and
    ``padding_mask(lengths, max_len)`` -> bool ``(batch, 1, max_len)``, True = may attend."""

    def causal(n):
        return lambda: _compare(causal_fn(n), causal_mask(n), "mask", 0.0)

    def padding(lengths, max_len, as_tensor):
        def run():
            lens = torch.tensor(lengths) if as_tensor else list(lengths)
            return _compare(padding_fn(lens, max_len), padding_mask(lengths, max_len), "mask", 0.0)

        return run

    cases: list[Case] = [
        ("causal mask, n 1", causal(1)),
        ("causal mask, n 4", causal(4)),
        ("causal mask, n 9", causal(9)),
        ("padding mask, lengths list [3, 1, 4], max_len 4", padding([3, 1, 4], 4, False)),
        ("padding mask, lengths tensor, batch 2, max_len 7", padding([2, 5], 7, True)),
        ("padding mask, an empty sequence, max_len 6", padding([0, 6], 6, True)),
        ("padding mask, batch 1, max_len 1", padding([1], 1, True)),
        ("padding mask, batch 5, max_len 12", padding([12, 3, 7, 1, 9], 12, True)),
    ]
    return _run("ex-masks-and-positions-masks", cases, verbose)


SINUSOIDAL_ATOL = (
    1e-4  # float32 output; a float32 computation of the angles at pos ~200 is ~2e-5 off
)


def check_sinusoidal_encoding(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-masks-and-positions-sinusoidal: ``sinusoidal_encoding(max_len, d_model)`` -> float32
    ``(max_len, d_model)``, sin in the even dimensions and cos in the odd ones."""

    def case(max_len, d_model):
        want = sinusoidal_encoding(max_len, d_model)
        return lambda: _compare(fn(max_len, d_model), want, "encoding", SINUSOIDAL_ATOL, dtype=True)

    sizes = [(1, 2), (10, 4), (50, 16), (200, 64), (3, 128), (37, 10)]
    cases: list[Case] = [(f"max_len {n}, d_model {d}", case(n, d)) for n, d in sizes]
    return _run("ex-masks-and-positions-sinusoidal", cases, verbose)


# --- 22_encoder_layer ----------------------------------------------------------------------------

LAYER_NORM_ATOL = 1e-10


def check_layer_norm(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-encoder-layer-layer-norm: ``layer_norm(x, gamma, beta, eps=1e-5)`` over the last
    dimension, biased variance, against :func:`torch.nn.functional.layer_norm` (float64)."""

    def case(seed, shape, eps=None, scale=1.0, grads=False):
        def run():
            g = _gen(seed)
            d = shape[-1]
            x = _randn(g, *shape, scale=scale) + _randn(g, 1, scale=3.0)
            gamma, beta = _randn(g, d), _randn(g, d)
            with torch.enable_grad():
                if grads:
                    x.requires_grad_()
                    gamma.requires_grad_()
                    beta.requires_grad_()
                kw = {} if eps is None else {"eps": eps}
                got = fn(x, gamma, beta, **kw)
                want = F.layer_norm(x, (d,), gamma, beta, 1e-5 if eps is None else eps)
                problem = _compare(got, want, "output", LAYER_NORM_ATOL)
                if problem or not grads:
                    return problem
                if not got.requires_grad:
                    return "output has no gradient (was it computed outside autograd?)"
                up = _randn(g, *shape)
                got_g = torch.autograd.grad(got, (x, gamma, beta), up, allow_unused=True)
                want_g = torch.autograd.grad(want, (x, gamma, beta), up)
            for name, a, b in zip(("x", "gamma", "beta"), got_g, want_g, strict=True):
                if a is None:
                    return f"gradient with respect to {name} is missing"
                problem = _compare(a, b, f"gradient with respect to {name}", 1e-8)
                if problem:
                    return problem
            return None

        return run

    cases: list[Case] = [
        ("x (2, 5, 16), default eps", case(1, (2, 5, 16))),
        ("x (7,), a single vector", case(2, (7,))),
        ("x (3, 1, 4, 8), eps 0.01", case(3, (3, 1, 4, 8), eps=1e-2)),
        ("x (4, 6), tiny variance, default eps", case(4, (4, 6), scale=1e-3)),
        ("x (2, 3, 5), eps 0.5", case(5, (2, 3, 5), eps=0.5)),
        ("x (2, 1), d 1", case(6, (2, 1))),
        ("gradients, x (2, 5, 16)", case(7, (2, 5, 16), grads=True)),
    ]
    return _run("ex-encoder-layer-layer-norm", cases, verbose)


ENCODER_ATOL = 1e-10


def check_encoder_layer_forward(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-encoder-layer-forward: ``encoder_layer_forward(x, layer, norm_first, mask=None)``, one
    encoder layer from its parts, against :class:`companion.layers.EncoderLayer` (float64, eval)."""

    def case(seed, norm_first, batch, seq, d_model, n_heads, mask_kind=None, activation="relu"):
        def run():
            g = _gen(seed)
            torch.manual_seed(SEED + seed)  # the layer's initialisation (inside _run's fork_rng)
            layer = EncoderLayer(
                d_model, n_heads, 2 * d_model, activation=activation, norm_first=norm_first
            )
            layer = layer.double().eval()
            with torch.no_grad():
                for norm in (layer.norm1, layer.norm2):  # gamma, beta away from 1, 0
                    norm.weight.copy_(1 + 0.5 * torch.randn(d_model, generator=g))
                    norm.bias.copy_(0.5 * torch.randn(d_model, generator=g))
            x = _randn(g, batch, seq, d_model)
            mask = None
            if mask_kind == "causal":
                mask = causal_mask(seq)
            elif mask_kind == "padding":
                mask = padding_mask([seq] + [max(1, seq - 2 - b) for b in range(batch - 1)], seq)
            with torch.no_grad():
                want = layer(x, mask=mask)
                got = fn(x, layer, norm_first) if mask is None else fn(x, layer, norm_first, mask)
            return _compare(got, want, "output", ENCODER_ATOL)

        return run

    cases: list[Case] = [
        ("post-LN, no mask, batch 2, seq 7, d_model 16", case(1, False, 2, 7, 16, 4)),
        ("pre-LN, no mask, batch 2, seq 7, d_model 16", case(2, True, 2, 7, 16, 4)),
        ("post-LN, causal mask, batch 3, seq 5, d_model 24", case(3, False, 3, 5, 24, 3, "causal")),
        ("pre-LN, causal mask, batch 3, seq 5, d_model 24", case(4, True, 3, 5, 24, 3, "causal")),
        ("post-LN, padding mask, batch 3, seq 6, d_model 8", case(5, False, 3, 6, 8, 2, "padding")),
        ("pre-LN, padding mask, batch 3, seq 6, d_model 8", case(6, True, 3, 6, 8, 2, "padding")),
        ("post-LN, length-1 sequence, gelu", case(7, False, 2, 1, 12, 2, activation="gelu")),
        ("pre-LN, length-1 sequence, gelu", case(8, True, 2, 1, 12, 2, activation="gelu")),
    ]
    return _run("ex-encoder-layer-forward", cases, verbose)


# --- the registry --------------------------------------------------------------------------------

EXERCISES: dict[str, Exercise] = {
    ex.label: ex
    for ex in [
        Exercise(
            "ex-attention-implement",
            "20_attention",
            "Implement attention",
            "medium",
            ("attention",),
            check_attention,
        ),
        Exercise(
            "ex-masks-and-positions-masks",
            "21_masks_and_positions",
            "Build the two masks",
            "easy",
            ("my_causal_mask", "my_padding_mask"),
            check_masks,
        ),
        Exercise(
            "ex-masks-and-positions-sinusoidal",
            "21_masks_and_positions",
            "The sinusoidal encoding",
            "medium",
            ("my_sinusoidal_encoding",),
            check_sinusoidal_encoding,
        ),
        Exercise(
            "ex-encoder-layer-layer-norm",
            "22_encoder_layer",
            "Implement LayerNorm",
            "medium",
            ("layer_norm",),
            check_layer_norm,
        ),
        Exercise(
            "ex-encoder-layer-forward",
            "22_encoder_layer",
            "Both layouts from the parts",
            "medium",
            ("encoder_layer_forward",),
            check_encoder_layer_forward,
        ),
    ]
}

# Every other exercise of the book (pen and paper, predict-then-measure, explain): label ->
# (notebook, title, difficulty). tests/test_exercises.py checks this against the notebooks.
OTHER_EXERCISES: dict[str, tuple[str, str, str]] = {
    "ex-attention-by-hand": ("20_attention", "Attention by hand", "easy"),
    "ex-attention-temperature": ("20_attention", "Temperature: predict, then measure", "easy"),
    "ex-attention-bert": ("20_attention", "The attention parameters of BERT-base", "easy"),
    "ex-masks-and-positions-causal-by-hand": (
        "21_masks_and_positions",
        "A causal row by hand",
        "easy",
    ),
    "ex-masks-and-positions-convert": (
        "21_masks_and_positions",
        "Masks for nn.MultiheadAttention",
        "medium",
    ),
    "ex-masks-and-positions-causal-order": (
        "21_masks_and_positions",
        "Does a causal mask give away the order?",
        "medium",
    ),
    "ex-encoder-layer-ln-by-hand": ("22_encoder_layer", "LayerNorm by hand", "easy"),
    "ex-encoder-layer-depth": ("22_encoder_layer", "How the gap grows with depth", "hard"),
    "ex-encoder-layer-init": ("22_encoder_layer", "Initialisation matters", "medium"),
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
            scores.append(Score(ex.label, 0, 1, [f"checker failed: {_describe_exception(exc)}"]))
    return scores
