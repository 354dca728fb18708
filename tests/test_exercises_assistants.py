"""The checker of chapter 43's code exercise (the DPO loss): the notebook's solution and other
right answers get full marks, plausible wrong ones are rejected."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from companion.course.exercises.assistants import check_dpo_loss


def my_dpo_loss(
    policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
):
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps)  # (batch,)
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps)  # (batch,)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards.detach(), rejected_rewards.detach()


def dpo_softplus(pc, pr, rc, rr, beta):  # right: -log sigmoid(m) = softplus(-m)
    logits = (pc - pr) - (rc - rr)  # the same margin, grouped by policy and reference
    return F.softplus(-beta * logits).mean(), beta * (pc - rc), beta * (pr - rr)


def dpo_no_beta(pc, pr, rc, rr, beta):
    cw, cl = pc - rc, pr - rr
    return -F.logsigmoid(cw - cl).mean(), beta * cw, beta * cl


def dpo_swapped(pc, pr, rc, rr, beta):
    cw, cl = beta * (pc - rc), beta * (pr - rr)
    return -F.logsigmoid(cl - cw).mean(), cw, cl


def dpo_naive_log_sigmoid(pc, pr, rc, rr, beta):  # log(sigmoid(m)) underflows for large -m
    cw, cl = beta * (pc - rc), beta * (pr - rr)
    return -torch.log(torch.sigmoid(cw - cl)).mean(), cw, cl


def dpo_sum(pc, pr, rc, rr, beta):
    cw, cl = beta * (pc - rc), beta * (pr - rr)
    return -F.logsigmoid(cw - cl).sum(), cw, cl


def dpo_no_reference(pc, pr, rc, rr, beta):
    cw, cl = beta * pc, beta * pr
    return -F.logsigmoid(cw - cl).mean(), cw, cl


def dpo_rewards_without_beta(pc, pr, rc, rr, beta):
    loss, _, _ = my_dpo_loss(pc, pr, rc, rr, beta)
    return loss, pc - rc, pr - rr


def dpo_loss_only(pc, pr, rc, rr, beta):
    return my_dpo_loss(pc, pr, rc, rr, beta)[0]


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (dpo_no_beta, "loss differs"),
        (dpo_swapped, "loss differs"),
        (dpo_naive_log_sigmoid, "loss differs"),
        (dpo_sum, "loss differs"),
        (dpo_no_reference, "differs"),
        (dpo_rewards_without_beta, "chosen_rewards differs"),
        (dpo_loss_only, "must return a tuple"),
    ],
)
def test_wrong_dpo_losses_are_rejected(fn, message):
    score = check_dpo_loss(fn, verbose=False)
    assert score.passed < score.total
    assert any(message in m for m in score.messages), score.messages


def test_the_naive_log_sigmoid_fails_only_where_it_overflows():
    score = check_dpo_loss(dpo_naive_log_sigmoid, verbose=False)
    failed = [m for m in score.messages if not m.endswith("passed")]
    assert len(failed) == 1 and "numerical stability" in failed[0]


REFERENCES = {"ex-assistants-dpo-loss": (my_dpo_loss,)}
OTHER_RIGHT_ANSWERS = [("ex-assistants-dpo-loss", (dpo_softplus,))]
