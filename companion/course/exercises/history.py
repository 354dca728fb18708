"""Checkers of the chapter "A history of neural networks" (notebooks/00_history)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, run_cases
from companion.course.registry import Chapter

CHAPTER = Chapter(0, "history")  # notebooks/00_history.ipynb


# --- the perceptron ---------------------------------------------------------------------------------


def _perceptron_run(
    x: Tensor, y: Tensor, epochs: int, lr: float
) -> tuple[Tensor, float, bool, int]:
    """The checker's own perceptron (Rosenblatt's rule, zero start, examples in order).

    ``x (n, d)`` float64, ``y (n,)`` of 0.0/1.0 -> ``(w (d,), b, converged, epochs run)``;
    converged is True as soon as one pass over the examples makes no mistake."""
    w, b = torch.zeros(x.shape[1], dtype=torch.float64), 0.0
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for xi, yi in zip(x, y, strict=True):
            y_hat = float(xi @ w + b > 0)
            if y_hat != float(yi):
                w = w + lr * (float(yi) - y_hat) * xi
                b = b + lr * (float(yi) - y_hat)
                mistakes += 1
        if mistakes == 0:
            return w, b, True, epoch
    return w, b, False, epochs


def _perceptron(x: Tensor, y: Tensor, epochs: int, lr: float) -> tuple[Tensor, float, bool]:
    """:func:`_perceptron_run` without the epoch count: ``(w (d,), b, converged)``."""
    return _perceptron_run(x, y, epochs, lr)[:3]


def _truth_table(n_inputs: int, fn: Callable[..., bool]) -> tuple[Tensor, Tensor]:
    rows = [[(i >> (n_inputs - 1 - k)) & 1 for k in range(n_inputs)] for i in range(2**n_inputs)]
    x = torch.tensor(rows, dtype=torch.float64)  # (2**n_inputs, n_inputs)
    y = torch.tensor([float(fn(*r)) for r in rows], dtype=torch.float64)
    return x, y


def _separable(g: torch.Generator, n: int, d: int) -> tuple[Tensor, Tensor, int]:
    """``n`` points in ``[-1, 1]^d`` at distance >= 0.15 from a random hyperplane, their 0/1 labels,
    and a number of epochs no correct perceptron can need (Novikoff's bound (R / gamma)^2)."""
    w = torch.randn(d, generator=g, dtype=torch.float64)
    w = w / w.norm()
    b = 0.6 * float(torch.rand(1, generator=g, dtype=torch.float64)) - 0.3
    points = []
    while len(points) < n:
        p = 2 * torch.rand(d, generator=g, dtype=torch.float64) - 1
        if abs(float(p @ w) + b) >= 0.15:
            points.append(p)
    x = torch.stack(points)  # (n, d)
    y = (x @ w + b > 0).double()
    r2 = float((x.pow(2).sum(1) + 1).max())  # |(x, 1)|^2
    gamma = float(((2 * y - 1) * (x @ w + b)).min()) / math.sqrt(1 + b * b)
    return x, y, math.ceil(r2 / gamma**2) + 2


def _not_separable(g: torch.Generator, n_per: int) -> tuple[Tensor, Tensor]:
    """Four clusters around the corners of a square, labelled like XOR: not linearly separable."""
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    x = corners.repeat_interleave(n_per, 0) + 0.15 * torch.randn(
        4 * n_per, 2, generator=g, dtype=torch.float64
    )
    x[::n_per] = corners  # the four corners themselves: XOR, hence no separating line
    y = labels.repeat_interleave(n_per)
    order = torch.randperm(4 * n_per, generator=g)
    return x[order], y[order]


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, Tensor) and value.numel() == 1 and value.dtype == torch.bool:
        return bool(value)
    if type(value).__name__ == "bool_":  # numpy.bool_
        return bool(value)
    return None


def _judge(got: object, x: Tensor, y: Tensor, want_converged: bool) -> str | None:
    """None if ``got = (w, b, converged)`` is a right answer for ``x, y``; else what is wrong."""
    if not isinstance(got, tuple | list) or len(got) != 3:
        return "did not return a tuple (w, b, converged)"
    w, b, converged = got
    if not isinstance(w, Tensor):
        return f"w is a {type(w).__name__}, not a torch.Tensor"
    if tuple(w.shape) != (x.shape[1],):
        return f"w has shape {tuple(w.shape)}, expected ({x.shape[1]},): one weight per input"
    try:
        b = float(b)
    except (TypeError, ValueError, RuntimeError):
        return f"b is a {type(b).__name__}, not a number"
    flag = _as_bool(converged)
    if flag is None:
        return f"converged is {type(converged).__name__!r}, not a bool"
    if flag != want_converged:
        return (
            "the converged flag is wrong: it must be True exactly when some pass over the "
            "examples made no mistake within the given epochs"
        )
    if flag:
        y_hat = (x @ w.detach().double().cpu() + b > 0).double()
        wrong = int((y_hat != y).sum())
        if wrong:
            return (
                f"reported converged, but w, b misclassify {wrong} of {len(y)} examples "
                "(y_hat = 1 if w.x + b > 0 else 0)"
            )
    return None


@CHAPTER.exercise(
    "ex-history-perceptron",
    title="Train a perceptron",
    difficulty="medium",
    names=("my_perceptron",),
    references=(),
)
def check_perceptron(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-history-perceptron: ``my_perceptron(X, y, epochs, lr) -> (w, b, converged)``.

    ``X (n, d)`` float64 inputs, ``y (n,)`` float64 labels 0.0 or 1.0; ``w (d,)`` a tensor, ``b``
    a number, ``converged`` a bool: True when one pass over the examples (in order, starting from
    ``w = 0, b = 0``, updating on mistakes by ``w += lr (y - y_hat) x``, ``b += lr (y - y_hat)``,
    ``y_hat = 1 if w.x + b > 0 else 0``) made no mistake within ``epochs`` passes."""

    def case(x: Tensor, y: Tensor, epochs: int, lr: float, want: bool):
        """``want``: the converged flag a right answer returns after at most ``epochs`` epochs."""

        def run():
            _, _, ref = _perceptron(x, y, epochs, lr)  # before fn sees (copies of) the data
            if ref != want:  # the checker's own data must be what it claims
                raise RuntimeError("checker error: the reference perceptron disagrees")
            got = fn(x.clone(), y.clone(), epochs, lr)
            return _judge(got, x, y, want)

        return run

    def random_edge(seed: int, n: int, d: int, lr: float, short: bool):
        """A random separable set with an epoch limit at the edge: exactly the number of epochs
        the rule needs (converged), or one fewer (not yet)."""

        def run():
            x, y, bound = _separable(case_generator(seed), n, d)
            k = _perceptron_run(x, y, bound, lr)[3]  # epochs to the first clean one (>= 1)
            if short and k == 1:  # nothing to cut: the first epoch is already clean
                return case(x, y, 1, lr, True)()
            return case(x, y, k - 1 if short else k, lr, not short)()

        return run

    def random_separable(seed: int, n: int, d: int, lr: float):
        def run():
            x, y, epochs = _separable(case_generator(seed), n, d)
            return case(x, y, epochs, lr, True)()

        return run

    def random_xor(seed: int, n_per: int):
        def run():
            x, y = _not_separable(case_generator(seed), n_per)
            return case(x, y, 50, 1.0, False)()

        return run

    x_and, y_and = _truth_table(2, lambda a, b: a and b)
    x_or, y_or = _truth_table(2, lambda a, b: a or b)
    x_nand, y_nand = _truth_table(2, lambda a, b: not (a and b))
    x_xor, y_xor = _truth_table(2, lambda a, b: a != b)
    x_not, y_not = _truth_table(1, lambda a: not a)
    x_par, y_par = _truth_table(3, lambda a, b, c: (a + b + c) % 2 == 1)
    cases: list[Case] = [
        ("AND, lr 1.0", case(x_and, y_and, 100, 1.0, True)),
        ("OR, lr 0.5", case(x_or, y_or, 100, 0.5, True)),
        ("NAND, lr 0.1", case(x_nand, y_nand, 100, 0.1, True)),
        ("NOT (one input), lr 1.0", case(x_not, y_not, 100, 1.0, True)),
        ("XOR, 1,000 epochs", case(x_xor, y_xor, 1000, 1.0, False)),
        ("3-input parity, 200 epochs", case(x_par, y_par, 200, 1.0, False)),
        ("random separable set, 20 points in 3-D", random_separable(1, 20, 3, 1.0)),
        ("random separable set, 40 points in 5-D, lr 0.2", random_separable(2, 40, 5, 0.2)),
        ("random separable set, 12 points in 2-D", random_separable(3, 12, 2, 1.0)),
        ("XOR-like clusters, 20 points, 50 epochs", random_xor(4, 5)),
        ("AND, exactly 6 epochs", case(x_and, y_and, 6, 1.0, True)),
        ("AND, 5 epochs: not yet", case(x_and, y_and, 5, 1.0, False)),
        ("OR, 3 epochs: not yet", case(x_or, y_or, 3, 1.0, False)),
        ("random separable set, exactly the epochs needed", random_edge(5, 15, 3, 1.0, False)),
        ("random separable set, one epoch short", random_edge(6, 15, 3, 1.0, True)),
    ]
    return run_cases("ex-history-perceptron", cases, verbose)


# --- the timeline -----------------------------------------------------------------------------------

# (year, event) as in the chapter's TIMELINE table (within a year, by date of first appearance);
# a case never holds two events of the same year.
EVENTS: tuple[tuple[int, str], ...] = (
    (1943, "McCulloch-Pitts neuron"),
    (1949, "Hebb's learning postulate"),
    (1958, "Rosenblatt's perceptron"),
    (1969, "Minsky-Papert's Perceptrons"),
    (1970, "reverse-mode differentiation"),
    (1974, "backpropagation for networks"),
    (1986, "learning representations by backpropagation"),
    (1989, "convolutional network for digits"),
    (1997, "LSTM"),
    (2003, "neural probabilistic language model"),
    (2006, "deep belief nets"),
    (2012, "AlexNet"),
    (2013, "word2vec"),
    (2014, "attention for translation"),
    (2014, "sequence to sequence learning"),
    (2015, "ResNet"),
    (2017, "the Transformer"),
    (2018, "GPT"),
    (2018, "BERT"),
    (2019, "GPT-2"),
    (2019, "T5"),
    (2020, "scaling laws"),
    (2020, "GPT-3"),
    (2022, "InstructGPT"),
    (2022, "Chinchilla"),
    (2022, "ChatGPT"),
    (2023, "LLaMA"),
    (2023, "GPT-4"),
    (2024, "Llama 3"),
    (2025, "DeepSeek-R1"),
)


def _pick(g: torch.Generator, k: int) -> list[str]:
    """``k`` events of ``k`` different years, drawn and shuffled with ``g``."""
    years = sorted({year for year, _ in EVENTS})
    chosen = [years[int(i)] for i in torch.randperm(len(years), generator=g)[:k]]
    events = []
    for year in chosen:
        same = [e for y, e in EVENTS if y == year]
        events.append(same[int(torch.randint(len(same), (1,), generator=g))])
    return events


@CHAPTER.exercise(
    "ex-history-timeline",
    title="Put the events in order",
    difficulty="easy",
    names=("my_timeline_order",),
    references=(),
)
def check_timeline_order(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-history-timeline: ``my_timeline_order(events: list[str]) -> list[str]``: the same event
    names (from the chapter's TIMELINE, at most one per year) from the earliest to the latest."""
    year = {e: y for y, e in EVENTS}

    def case(events: list[str]):
        def run():
            want = sorted(events, key=year.__getitem__)  # before fn sees (a copy of) the list
            got = fn(list(events))
            if not isinstance(got, list | tuple):
                return f"returned a {type(got).__name__}, not a list"
            if sorted(map(str, got)) != sorted(want) or len(got) != len(want):
                return (
                    f"returned {len(got)} names, which are not the {len(want)} event names given "
                    "(return the same strings, reordered)"
                )
            misplaced = sum(a != b for a, b in zip(got, want, strict=True))
            if misplaced:
                return f"{misplaced} of {len(want)} events are in the wrong place"
            return None

        return run

    def random(seed: int, k: int):
        return lambda: case(_pick(case_generator(seed), k))()

    cases: list[Case] = [
        ("two events", case(["the Transformer", "Rosenblatt's perceptron"])),
        (
            "1958 to 1974",
            case(
                [
                    "backpropagation for networks",
                    "Minsky-Papert's Perceptrons",
                    "reverse-mode differentiation",
                    "Rosenblatt's perceptron",
                ]
            ),
        ),
        ("5 random events", random(1, 5)),
        ("8 random events", random(2, 8)),
        ("12 random events", random(3, 12)),
        ("one event of every year", random(4, len({y for y, _ in EVENTS}))),
    ]
    return run_cases("ex-history-timeline", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-history-by-hand", title="A perceptron by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-history-remove-mask", title="A GPT without its causal mask", difficulty="medium"
)
