"""The checker of chapter 72 (companion.course.exercises.probes): the notebook's solution and a
right answer written differently get full marks; plausible mistakes are rejected, on the public
cases and on the grader's hidden ones. The shared contract is tests/test_course.py."""

from __future__ import annotations

import pytest
import torch

from companion.course.core import hidden_cases
from companion.course.exercises.probes import check_selectivity
from companion.probes import fit_probe, probe_r2, r2_score


def my_selectivity(X, types, table, train, permutations):
    """The notebook's solution."""
    task = probe_r2(X, table[types], train)
    controls = [probe_r2(X, table[perm[types]], train) for perm in permutations]
    return task - sum(controls) / len(controls)


def tensor_selectivity(X, types, table, train, permutations):
    """Right, written another way: every control's targets at once, the table permuted first."""
    controls = torch.tensor([probe_r2(X, table[perm][types], train) for perm in permutations])
    return torch.tensor(probe_r2(X, table[types], train)) - controls.mean()


def make_wrong(shuffle_examples=False, in_sample=False, reduce="mean", inverse=False, first=False):
    def selectivity(X, types, table, train, permutations):
        def r2(Y):
            if in_sample:  # fitted and scored on the same examples
                return r2_score(Y, fit_probe(X, Y)(X))
            return probe_r2(X, Y, train)

        task = r2(table[types])
        controls = []
        for i, perm in enumerate(permutations[:1] if first else permutations):
            if shuffle_examples:  # random targets per example, not per type
                g = torch.Generator().manual_seed(i)
                Y = table[types][torch.randperm(len(types), generator=g)]
            elif inverse:
                Y = table[perm.argsort()[types]]
            else:
                Y = table[perm[types]]
            controls.append(r2(Y))
        control = {"mean": sum(controls) / len(controls), "max": max(controls)}[reduce]
        return task - control

    return selectivity


WRONG = {
    "the examples shuffled, not the types": make_wrong(shuffle_examples=True),
    "scored on the probe's own training examples": make_wrong(in_sample=True),
    "the best control instead of the mean": make_wrong(reduce="max"),
    "only the first control task": make_wrong(first=True),
    "the inverse permutations (not the definition given)": make_wrong(inverse=True),
}


@pytest.mark.parametrize("fn", [my_selectivity, tensor_selectivity, make_wrong()])
@pytest.mark.parametrize("seed", [None, 7])
def test_right_selectivities_pass(fn, seed):
    with hidden_cases(seed):
        score = check_selectivity(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG)
@pytest.mark.parametrize("seed", [None, 7])
def test_wrong_selectivities_fail(name, seed):
    with hidden_cases(seed):
        score = check_selectivity(WRONG[name], verbose=False)
    assert score.passed < score.total, name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("the examples shuffled, not the types", "permutes the types"),
        ("the best control instead of the mean", "the best control task"),
        ("only the first control task", "the first control task only"),
        ("scored on the probe's own training examples", "held-out"),
    ],
)
def test_a_near_miss_is_named(name, hint):
    score = check_selectivity(WRONG[name], verbose=False)
    assert any(hint in m for m in score.messages), score.messages


def test_the_cases_cover_both_ends():
    """The public cases include a selective representation and a lookup table (selectivity ~0),
    so that an answer right on one kind only is caught."""
    values = []
    check_selectivity(
        lambda *args: values.append(my_selectivity(*args)) or values[-1], verbose=False
    )
    assert max(values) > 0.5 and min(abs(v) for v in values) < 0.05


REFERENCES = {"ex-probes-selectivity": (my_selectivity,)}
OTHER_RIGHT_ANSWERS = [("ex-probes-selectivity", (tensor_selectivity,))]
