"""Exercises of the chapter "What probes can and cannot show" (notebooks/72_probes)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.probes import Selectivity, selectivity

CHAPTER = Chapter(72, "probes")  # notebooks/72_probes.ipynb

ATOL = 1e-6  # R² differences in float64, from the same probe_r2


def _data(g: torch.Generator, kind: str, n_types: int, d: int, n_freq: int, n_controls: int):
    """One case: hidden states ``X (n, d)`` of ``kind``, the ``types (n,)`` (each type 8-16 times,
    shuffled), a ``table (n_types, 2 n_freq)`` of cos/sin of random frequencies, a random half
    ``train (n,)`` and ``n_controls`` permutations of the types.

    kinds: ``"structured"`` (the table's rows, mixed linearly into d dimensions, plus noise: a
    selective probe), ``"lookup"`` (a random vector per type: any targets per type are linear),
    ``"noise"`` (nothing about the type), ``"mixed"`` (structured plus a weaker lookup)."""
    reps = int(torch.randint(8, 17, (1,), generator=g))
    types = torch.arange(n_types).repeat(reps)[torch.randperm(n_types * reps, generator=g)]
    freqs = torch.randperm((n_types - 1) // 2, generator=g)[:n_freq] + 1
    angle = 2 * math.pi * freqs[None, :].double() * torch.arange(n_types)[:, None] / n_types
    table = torch.cat([angle.cos(), angle.sin()], dim=1)  # (n_types, 2 n_freq)
    n = len(types)
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    mix = torch.randn(2 * n_freq, d, generator=g, dtype=torch.float64)
    lookup = torch.randn(n_types, d, generator=g, dtype=torch.float64)[types]
    X = {
        "structured": table[types] @ mix + 0.3 * noise,
        "lookup": lookup + 0.1 * noise,
        "noise": noise,
        "mixed": table[types] @ mix + 0.5 * lookup + 0.3 * noise,
    }[kind]
    train = torch.zeros(n, dtype=torch.bool)
    train[torch.randperm(n, generator=g)[: n // 2]] = True
    perms = [torch.randperm(n_types, generator=g) for _ in range(n_controls)]
    return X, types, table, train, perms


def _diagnose(got: object, want: Selectivity) -> str | None:
    if isinstance(got, Tensor):
        if got.numel() != 1:
            return f"returned a tensor of shape {tuple(got.shape)}, expected one number"
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int | float):
        return f"returned a {type(got).__name__}, expected a float (task R² minus control R²)"
    if not math.isfinite(got):
        return f"returned {got}, expected a finite difference of R² values"
    if abs(got - want.value) <= ATOL:
        return None
    off = f"returned {got:.6f}, which is off by {abs(got - want.value):.1e}"
    near_misses = [  # (the value a known mistake gives, how close, the mistake)
        (want.task - float(want.controls.max()), ATOL, "the best control task, not their mean"),
        (want.task - float(want.controls[0]), ATOL, "the first control task only"),
        (want.task, 0.05, "the task's R² alone, as if the controls scored about 0: do you shuffle "
         "the examples' targets? A control task permutes the types"),
    ]  # fmt: skip
    for value, tol, mistake in near_misses:
        if abs(got - value) <= tol:
            return f"{off}; it matches {mistake}"
    return (
        f"{off}; check that every R² is scored on the held-out examples (probe_r2 with train) "
        "and that control c gives type t the targets of type permutations[c][t]"
    )


@CHAPTER.exercise(
    "ex-probes-selectivity",
    title="Compute probe selectivity",
    difficulty="medium",
    names=("my_selectivity",),
    references=("companion.probes.selectivity",),
)
def check_selectivity(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-probes-selectivity: ``selectivity(X, types, table, train, permutations)`` -> a float:
    the held-out R² of a probe for the task's targets ``table[types]`` minus the mean held-out R²
    over the control tasks, where control ``c`` gives an example of type ``t`` the targets of type
    ``permutations[c][t]``; every R² from ``companion.probes.probe_r2(X, Y, train)``."""

    def case(data):
        X, types, table, train, perms = data
        want = selectivity(X, types, table, train, perms)  # before the learner sees them

        def run():
            got = fn(
                X.clone(), types.clone(), table.clone(), train.clone(), [p.clone() for p in perms]
            )
            return _diagnose(got, want)

        return run

    specs = [
        ("a structured representation, 29 types, 5 controls", 1, "structured", 29, 6, 1, 5),
        ("a lookup table: every type its own random vector", 2, "lookup", 23, 32, 2, 5),
        ("hidden states unrelated to the type", 3, "noise", 31, 8, 1, 4),
        ("structure plus a lookup, 3 controls", 4, "mixed", 37, 16, 3, 3),
        ("one control task only", 5, "mixed", 19, 12, 2, 1),
        ("a wide lookup, many controls", 6, "lookup", 13, 20, 1, 12),
    ]  # fmt: skip
    cases: list[Case] = [
        (what, case(_data(case_generator(i), kind, n_types, d, n_freq, n_controls)))
        for what, i, kind, n_types, d, n_freq, n_controls in specs
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        for k, kind in enumerate(("structured", "mixed", "lookup")):
            n_types = [17, 29, 41][int(torch.randint(3, (1,), generator=g))]
            data = _data(g, kind, n_types, int(torch.randint(6, 24, (1,), generator=g)), 2, 4)
            cases.append((f"hidden case {k + 1}: {kind}, {n_types} types", case(data)))
    return run_cases("ex-probes-selectivity", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise(
    "ex-probes-by-hand", title="Ablation and control tasks by hand", difficulty="easy"
)
CHAPTER.other_exercise(
    "ex-probes-predict", title="Predict, then measure: probes on the plateau", difficulty="medium"
)
