"""What every checker shares: the :class:`Score` it returns, the :class:`Exercise` record, and
the helpers that run hidden cases and compare a learner's tensor with the reference without
revealing the reference's values."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = [
    "SEED",
    "Case",
    "Exercise",
    "Score",
    "case_generator",
    "compare",
    "case_seed",
    "describe_exception",
    "hidden_cases",
    "hidden_generator",
    "randn",
    "run_cases",
]

SEED = 20240  # every checker draws its public cases from this seed (plus the case number)
_salt: int | None = None  # the instructor's seed while the grader runs a checker (hidden_cases)


@dataclass(repr=False)
class Score:
    """The result of one checker: how many hidden cases passed, with one message per case.

    ``str(score)`` is the report the checker prints; ``repr`` is one line. A notebook cell ending
    in ``check_...(fn)`` shows only the printed report: the returned score displays as nothing
    (``_ipython_display_``), since it would repeat it; ``print(score)`` shows it again."""

    exercise: str
    passed: int
    total: int
    messages: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def __repr__(self) -> str:
        return f"Score({self.exercise!r}, passed={self.passed}, total={self.total})"

    def _ipython_display_(self) -> None:
        """Display nothing: the checker that returned this score has printed its report."""

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {self.passed}/{self.total} cases passed"]
        lines += [f"  {m}" for m in self.messages]
        return "\n".join(lines)


@dataclass(frozen=True)
class Exercise:
    """A code exercise with a checker: its label, notebook (stem), title, difficulty, the
    names of the learner's functions that the checker takes, in order, and the ``references``:
    companion's own implementations of the answer (dotted paths), which the grader flags when a
    learner's function calls them."""

    label: str
    notebook: str
    title: str
    difficulty: str
    names: tuple[str, ...]
    checker: Callable[..., Score]
    references: tuple[str, ...] = ()


# A case: a description ("causal mask, batch 2") and a thunk returning None (passed) or a problem.
Case = tuple[str, Callable[[], "str | None"]]


def describe_exception(exc: BaseException) -> str:
    """``raised TypeError: <first line of the message>``, at most 200 characters of message."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"raised {type(exc).__name__}: {first}" if first else f"raised {type(exc).__name__}"


def run_cases(label: str, cases: Sequence[Case], verbose: bool) -> Score:
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
                problem = describe_exception(exc)
            if problem is None:
                passed += 1
                messages.append(f"case {i} ({what}): passed")
            else:
                messages.append(f"case {i} ({what}): {problem}")
    score = Score(label, passed, len(cases), messages)
    if verbose:
        print(score)
    return score


def compare(got: object, want: Tensor, what: str, atol: float, dtype: bool = False) -> str | None:
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


@contextlib.contextmanager
def hidden_cases(seed: int | None):
    """Within this block, :func:`case_seed` (and so every checker's random cases) derives from
    the instructor's ``seed``: cases no notebook has seen, so outputs hard-coded from the public
    cases fail. ``None`` keeps the public cases."""
    global _salt
    before, _salt = _salt, seed
    try:
        yield
    finally:
        _salt = before


def case_seed(case: int) -> int:
    """The seed of case number ``case``: ``SEED + case`` for the public cases the notebooks show,
    or a hash of the instructor's seed and ``case`` inside :func:`hidden_cases`."""
    if _salt is None:
        return SEED + case
    digest = hashlib.sha256(f"{_salt}:{case}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # below 2**63, as torch's seeds must be


def hidden_generator() -> torch.Generator | None:
    """Inside :func:`hidden_cases` with a seed, a generator for cases that only the grader adds
    (to a checker whose public cases are all fixed); otherwise None."""
    return None if _salt is None else case_generator(10_000)


def case_generator(case: int) -> torch.Generator:
    """The CPU generator of case number ``case``, seeded with :func:`case_seed`."""
    return torch.Generator().manual_seed(case_seed(case))


def randn(g: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    """``scale * N(0, 1)`` float64 samples of ``shape``, drawn from ``g``."""
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)
