"""Exercises of the chapter "Does the model know what it knows?" (notebooks/71_self_knowledge)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from companion.calibration import fit_temperature
from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.metrics import expected_calibration_error

CHAPTER = Chapter(71, "self_knowledge")  # notebooks/71_self_knowledge.ipynb

# The worked example of the by-hand exercise: ten confidences, whether each answer was right, M = 5.
# Two confidences sit on bin edges (0.6 and 0.8), and the bins are (lo, hi]: they count in the
# lower bin.
BY_HAND_CONFIDENCE = (0.95, 0.9, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.45)
BY_HAND_CORRECT = (1, 1, 0, 1, 1, 0, 1, 1, 0, 0)


def by_hand_case() -> tuple[Tensor, Tensor]:
    """The by-hand example as three-class ``probs (10, 3)`` and ``labels (10,)``: each row puts
    its confidence on class 0 and splits the rest evenly; a right answer has label 0, a wrong one 1."""
    c = torch.tensor(BY_HAND_CONFIDENCE, dtype=torch.float64)
    probs = torch.stack([c, (1 - c) / 2, (1 - c) / 2], dim=1)  # (10, 3)
    labels = 1 - torch.tensor(BY_HAND_CORRECT)  # right -> class 0, wrong -> class 1
    return probs, labels


def _random_probs(g: torch.Generator, n: int, k: int, scale: float) -> tuple[Tensor, Tensor]:
    """``probs (n, k)`` = softmax of ``scale * N(0, 1)`` logits, and labels drawn from them
    (so the probabilities are calibrated only when ``scale`` is 1)."""
    z = torch.randn(n, k, generator=g, dtype=torch.float64)  # (n, k)
    labels = torch.multinomial(z.softmax(-1), 1, generator=g)[:, 0]  # (n,)
    return (scale * z).softmax(-1), labels


def _as_float(value: object, what: str) -> tuple[float | None, str | None]:
    """``value`` as a float (a Python number, or a tensor or array of one element)."""
    try:
        if isinstance(value, bool | str | bytes):
            raise TypeError
        number = float(value.item() if hasattr(value, "item") else value)  # type: ignore[union-attr]
    except (TypeError, ValueError, RuntimeError):
        return None, f"{what} is a {type(value).__name__}, not a number"
    if not math.isfinite(number):
        return None, f"{what} is {number}, not a finite number"
    return number, None


@CHAPTER.exercise(
    "ex-self-knowledge-ece",
    title="Write the expected calibration error",
    difficulty="medium",
    names=("my_expected_calibration_error",),
    references=(
        "companion.metrics.expected_calibration_error",
        "companion.metrics.reliability_bins",
    ),
)
def check_expected_calibration_error(fn: Callable[..., float], *, verbose: bool = True) -> Score:
    """ex-self-knowledge-ece: ``expected_calibration_error(probs, labels, n_bins=15) -> float``
    with ``probs (n, n_classes)`` float64 and ``labels (n,)`` int64 tensors: equal-width bins
    ``(lo, hi]`` of the largest probability, ``sum_m |B_m|/n |acc(B_m) - conf(B_m)|``."""

    def case(probs: Tensor, labels: Tensor, n_bins: int | None):
        def run():
            args = (probs.clone(), labels.clone())
            got = fn(*args) if n_bins is None else fn(*args, n_bins=n_bins)
            value, problem = _as_float(got, "the returned ECE")
            if problem:
                return problem
            want = expected_calibration_error(probs, labels, 15 if n_bins is None else n_bins)
            if not abs(value - want) <= 1e-9:
                return (
                    "wrong ECE (it differs from the formula's by more than 1e-9): compute in "
                    "float64, with bins (lo, hi], so that a confidence exactly on an edge k/M "
                    "counts in the bin that ends there"
                )
            return None

        return run

    def drawn(i: int, n: int, k: int, scale: float) -> tuple[Tensor, Tensor]:
        return _random_probs(case_generator(i), n, k, scale)

    one_hot = torch.eye(3, dtype=torch.float64)[torch.tensor([0, 1, 2, 0, 1, 2])]  # confidence 1
    # confidences k/15 on the edges (answers right) and (k - 1/2)/15 between them (answers wrong):
    # bins (lo, hi] pair each edge with the midpoint below it, bins [lo, hi) with the one above
    k = torch.arange(6, 16, dtype=torch.float64)  # (10,)
    c = torch.cat([k / 15, (k - 0.5) / 15])  # (20,)
    on_edges = torch.stack([c, (1 - c) / 2, (1 - c) / 2], dim=1)  # (20, 3): class 0 is the answer
    right_then_wrong = torch.tensor([0] * 10 + [1] * 10)
    cases: list[Case] = [
        ("the by-hand example, n_bins=5", case(*by_hand_case(), 5)),
        ("1,000 over-confident rows, 3 classes, the default n_bins", case(*drawn(2, 1000, 3, 3.0), None)),
        ("1,000 under-confident rows, 10 classes, n_bins=10", case(*drawn(3, 1000, 10, 0.3), 10)),
        ("7 rows, most bins empty", case(*drawn(4, 7, 4, 2.0), 15)),
        ("confidence exactly 1, half of the answers wrong", case(one_hot, torch.tensor([0, 1, 2, 1, 2, 0]), 15)),
        ("confidences exactly on the edges k/15, the default n_bins", case(on_edges, right_then_wrong, None)),
    ]  # fmt: skip
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        cases.append(("500 hidden rows, 5 classes", case(*_random_probs(g, 500, 5, 2.0), 15)))
    return run_cases("ex-self-knowledge-ece", cases, verbose)


def _nll(logits: Tensor, labels: Tensor, t: float) -> float:
    return float(F.cross_entropy(logits / t, labels))


@CHAPTER.exercise(
    "ex-self-knowledge-temperature",
    title="Fit the temperature",
    difficulty="medium",
    names=("my_fit_temperature",),
    references=("companion.calibration.fit_temperature",),
)
def check_fit_temperature(fn: Callable[[Tensor, Tensor], float], *, verbose: bool = True) -> Score:
    """ex-self-knowledge-temperature: ``fit_temperature(logits, labels) -> T``, the T > 0 that
    minimizes the mean negative log-likelihood of ``labels (n,)`` under ``softmax(logits / T)``,
    for ``logits (n, n_classes)`` float64. Passes when T is within 1% of the minimizer."""

    def case(logits: Tensor, labels: Tensor):
        def run():
            t, problem = _as_float(fn(logits.clone(), labels.clone()), "the returned temperature")
            if problem:
                return problem
            if t <= 0:
                return f"T = {t:.4g} is not positive"
            best = fit_temperature(logits, labels)
            if abs(math.log(t / best)) > 0.01:
                worse = _nll(logits, labels, t) - _nll(logits, labels, best)
                return f"T = {t:.4f} is not the NLL minimizer (its NLL is {worse:.2e} nats higher)"
            return None

        return run

    def drawn(g: torch.Generator, n: int, k: int, scale: float) -> tuple[Tensor, Tensor]:
        """Labels drawn from softmax(z); the logits handed over are scale * z, so T* is near scale."""
        z = 2 * torch.randn(n, k, generator=g, dtype=torch.float64)  # (n, k)
        labels = torch.multinomial(z.softmax(-1), 1, generator=g)[:, 0]
        return scale * z, labels

    cases: list[Case] = [
        ("over-confident: logits 3 times too large", case(*drawn(case_generator(1), 2000, 3, 3.0))),
        ("under-confident: logits half as large as calibrated", case(*drawn(case_generator(2), 2000, 3, 0.5))),
        ("calibrated already", case(*drawn(case_generator(3), 2000, 5, 1.0))),
        ("10 classes, logits 1.7 times too large", case(*drawn(case_generator(4), 1000, 10, 1.7))),
    ]  # fmt: skip
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        scale = float(0.4 + 3 * torch.rand((), generator=g, dtype=torch.float64))
        cases.append(("hidden logits and labels", case(*drawn(g, 1500, 4, scale))))
    return run_cases("ex-self-knowledge-temperature", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise("ex-self-knowledge-by-hand", title="Calibration by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-self-knowledge-predict",
    title="Predict, then measure: stop training early",
    difficulty="medium",
)
