"""Exercises of the chapter "Training beyond one GPU" (notebooks/35_scaling_out)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from companion.course.core import Case, Score, case_generator, run_cases
from companion.course.registry import Chapter
from companion.memory import zero_bytes_per_gpu

CHAPTER = Chapter(35, "scaling_out")  # notebooks/35_scaling_out.ipynb

ATOL = 0.5  # bytes: the formula is a few products and one division, exact to far below a byte


def _diagnose(fn: Callable, n_params: float, n_gpus: int, stage: int) -> str | None:
    want = zero_bytes_per_gpu(n_params, n_gpus, stage)
    got = fn(n_params, n_gpus, stage)
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int | float):
        return f"returned a {type(got).__name__}, expected a number of bytes"
    if abs(got - want) <= ATOL:
        return None
    off = f"returned {got:.4g} bytes, off by {abs(got - want) / want:.2g} of the right value"
    psi = n_params
    near_misses = [  # (the value a known mistake gives, the mistake)
        (zero_bytes_per_gpu(psi, n_gpus, stage, k=8), "K = 8: the fp32 master copy is part of "
         "the optimizer state too (4 bytes), beside m and v"),
        (16 * psi / n_gpus, "everything divided by the GPUs: only stage 3 shards all of it"),
        (16 * psi, "nothing divided by the GPUs: stage 0 only"),
        (zero_bytes_per_gpu(psi, n_gpus, min(stage + 1, 3)), "the next stage's sharding"),
        (zero_bytes_per_gpu(psi, n_gpus, max(stage - 1, 0)), "the previous stage's sharding"),
    ]  # fmt: skip
    for value, mistake in near_misses:
        if abs(value - want) > ATOL and abs(got - value) <= ATOL:
            return f"{off}; it matches {mistake}"
    return f"{off}; write the three parts (2 Psi, 2 Psi, 12 Psi) and divide those the stage shards"


@CHAPTER.exercise(
    "ex-scaling-out-zero",
    title="Bytes per GPU under ZeRO",
    difficulty="easy",
    names=("my_zero_bytes",),
    references=("companion.memory.zero_bytes_per_gpu",),
)
def check_zero_bytes(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-scaling-out-zero: ``zero_bytes_per_gpu(n_params, n_gpus, stage)`` -> bytes of model
    state per GPU with mixed-precision AdamW (2 + 2 + 12 bytes per parameter) under ZeRO stage
    0 (nothing sharded), 1 (optimizer state), 2 (and gradients) or 3 (and parameters)."""

    def case(n_params: float, n_gpus: int, stage: int):
        return lambda: _diagnose(fn, n_params, n_gpus, stage)

    cases: list[Case] = [
        ("the paper's example: 7.5B parameters, 64 GPUs, stage 1", case(7.5e9, 64, 1)),
        ("stage 0: plain data parallelism", case(7.5e9, 64, 0)),
        ("stage 2 on 8 GPUs", case(7e9, 8, 2)),
        ("stage 3 on 1024 GPUs", case(175e9, 1024, 3)),
        ("one GPU: every stage is stage 0", case(1.3e9, 1, 3)),
    ]
    g = case_generator(1)
    for k in range(3):
        n_params = float(torch.randint(1, 200, (1,), generator=g)) * 1e9
        n_gpus = 2 ** int(torch.randint(1, 11, (1,), generator=g))
        stage = int(torch.randint(0, 4, (1,), generator=g))
        cases.append(
            (f"random case {k + 1}: {n_params:.0e} parameters, {n_gpus} GPUs, stage {stage}",
             case(n_params, n_gpus, stage))
        )  # fmt: skip
    return run_cases("ex-scaling-out-zero", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure.
CHAPTER.other_exercise("ex-scaling-out-by-hand", title="Memory by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-scaling-out-predict", title="Predict, then measure: accumulate instead", difficulty="medium"
)
