"""The checker of chapter 35 (companion.course.exercises.scaling_out): the notebook's solution
and a right answer written differently get full marks; plausible mistakes are rejected and
named, on the public cases and on the grader's hidden ones. The shared contract is
tests/test_course.py."""

from __future__ import annotations

import pytest
import torch

from companion.course.core import hidden_cases
from companion.course.exercises.scaling_out import check_zero_bytes


def my_zero_bytes(n_params, n_gpus, stage):
    """The notebook's solution."""
    params, grads, optimizer = 2 * n_params, 2 * n_params, 12 * n_params
    shards = [(), ("optimizer",), ("optimizer", "grads"), ("optimizer", "grads", "params")][stage]
    parts = {"params": params, "grads": grads, "optimizer": optimizer}
    return sum(v / n_gpus if k in shards else v for k, v in parts.items())


def tensor_zero_bytes(n_params, n_gpus, stage):
    """Right, written another way: bytes per parameter as a tensor, the sharded ones divided."""
    per_param = torch.tensor([2.0, 2.0, 12.0], dtype=torch.float64)  # params, grads, optimizer
    sharded = torch.tensor([stage >= 3, stage >= 2, stage >= 1])
    return (n_params * torch.where(sharded, per_param / n_gpus, per_param)).sum()


def make_wrong(k=12, divide_all=False, shift=0):
    def zero_bytes(n_params, n_gpus, stage):
        if divide_all:
            return 16 * n_params / n_gpus
        s = min(max(stage + shift, 0), 3)
        return my_zero_bytes(n_params, n_gpus, s) + (k - 12) * n_params / (n_gpus if s else 1)

    return zero_bytes


WRONG = {
    "K = 8 (no master copy)": make_wrong(k=8),
    "everything sharded at every stage": make_wrong(divide_all=True),
    "one stage too far": make_wrong(shift=1),
    "one stage short": make_wrong(shift=-1),
    "an int instead of bytes": lambda n, g, s: "many",
}


@pytest.mark.parametrize("fn", [my_zero_bytes, tensor_zero_bytes])
@pytest.mark.parametrize("seed", [None, 7])
def test_right_answers_pass(fn, seed):
    with hidden_cases(seed):
        score = check_zero_bytes(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG)
@pytest.mark.parametrize("seed", [None, 7])
def test_wrong_answers_fail(name, seed):
    with hidden_cases(seed):
        score = check_zero_bytes(WRONG[name], verbose=False)
    assert score.passed < score.total, name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("K = 8 (no master copy)", "master copy"),
        ("everything sharded at every stage", "only stage 3 shards all of it"),
        ("one stage too far", "the next stage's sharding"),
        ("one stage short", "the previous stage's sharding"),
        ("an int instead of bytes", "returned a str"),
    ],
)
def test_a_mistake_is_named(name, hint):
    score = check_zero_bytes(WRONG[name], verbose=False)
    assert any(hint in m for m in score.messages), score.messages


def test_hidden_cases_differ_from_the_public_ones():
    seen = {}

    def spy(tag):
        def fn(n, g, s):
            seen.setdefault(tag, []).append((n, g, s))
            return my_zero_bytes(n, g, s)

        return fn

    check_zero_bytes(spy("public"), verbose=False)
    with hidden_cases(7):
        check_zero_bytes(spy("hidden"), verbose=False)
    assert seen["public"][:5] == seen["hidden"][:5]  # the named cases stay
    assert seen["public"][5:] != seen["hidden"][5:]  # the random ones change with the seed


REFERENCES = {"ex-scaling-out-zero": (my_zero_bytes,)}
OTHER_RIGHT_ANSWERS = [("ex-scaling-out-zero", (tensor_zero_bytes,))]
