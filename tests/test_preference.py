"""companion.preference: the SFT loss on the response only, log pi(y | x), and the DPO loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from companion.models import GPT, GPTConfig
from companion.preference import (
    IGNORE_INDEX,
    dpo_loss,
    greedy_responses,
    response_labels,
    rpo_loss,
    sequence_logprobs,
    sft_loss,
)


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, d_model=16, n_heads=2, n_layers=1, max_len=16)).eval()


IDS = torch.tensor([[1, 2, 3, 4, 5, 0], [6, 7, 8, 9, 0, 0]])  # (2, 6): 0 is padding
MASK = torch.tensor(
    [[False, False, False, True, True, False], [False, False, True, True, False, False]]
)


def test_dpo_loss_equals_a_hand_computation():
    pc, pr = torch.tensor([-3.0, -10.0]), torch.tensor([-5.0, -4.0])
    rc, rr = torch.tensor([-4.0, -9.0]), torch.tensor([-4.0, -6.0])
    loss, cw, cl = dpo_loss(pc, pr, rc, rr, beta=0.5)
    # pair 1: 0.5 * ((-3 + 4) - (-5 + 4)) = 1;  pair 2: 0.5 * ((-10 + 9) - (-4 + 6)) = -1.5
    want = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(1.5))) / 2
    assert loss.item() == pytest.approx(want, abs=1e-6)
    torch.testing.assert_close(cw, torch.tensor([0.5, -0.5]))
    torch.testing.assert_close(cl, torch.tensor([-0.5, 1.0]))
    assert not cw.requires_grad and not cl.requires_grad


def test_dpo_loss_is_ln2_when_the_policy_is_the_reference():
    logps = -5 * torch.rand(7, generator=torch.Generator().manual_seed(0))
    other = -5 * torch.rand(7, generator=torch.Generator().manual_seed(1))
    for beta in (0.01, 0.1, 2.0):
        loss, cw, cl = dpo_loss(logps, other, logps.clone(), other.clone(), beta)
        assert loss.item() == pytest.approx(math.log(2), abs=1e-6)
        assert torch.equal(cw, torch.zeros(7)) and torch.equal(cl, torch.zeros(7))


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    pc = torch.tensor([-3.0, -2.0], requires_grad=True)
    pr = torch.tensor([-3.0, -1.0], requires_grad=True)
    loss, _, _ = dpo_loss(pc, pr, torch.tensor([-3.0, -2.5]), torch.tensor([-3.0, -1.5]), 0.1)
    loss.backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()  # descent raises pc and lowers pr
    # d L / d pc_i = -(beta / n) * sigmoid(-margin_i): larger where the pair is ranked worse
    margin = 0.1 * torch.tensor([0.0, 0.0])
    torch.testing.assert_close(pc.grad, -(0.1 / 2) * torch.sigmoid(-margin))
    torch.testing.assert_close(pr.grad, -pc.grad)


def test_dpo_loss_is_finite_for_huge_margins_and_matches_float64():
    pc, pr = torch.tensor([-1.0, -2000.0]), torch.tensor([-3000.0, -1.0])
    zero = torch.zeros(2)
    loss, _, _ = dpo_loss(pc, pr, zero, zero, 1.0)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx((0 + 1999) / 2, rel=1e-6)  # -log sigmoid(-1999) ~ 1999
    g = torch.Generator().manual_seed(3)
    xs = [torch.randn(5, generator=g, dtype=torch.float64) * 4 for _ in range(4)]
    loss64, _, _ = dpo_loss(*xs, 0.3)
    loss32, _, _ = dpo_loss(*(x.float() for x in xs), 0.3)
    m = 0.3 * ((xs[0] - xs[2]) - (xs[1] - xs[3]))
    assert loss64.item() == pytest.approx(torch.log1p(torch.exp(-m)).mean().item(), abs=1e-12)
    assert loss32.item() == pytest.approx(loss64.item(), abs=1e-5)


def test_rpo_loss_is_dpo_plus_the_per_token_nll_of_the_chosen():
    g = torch.Generator().manual_seed(5)
    pc, pr, rc, rr = (-5 * torch.rand(4, generator=g) for _ in range(4))
    lengths = torch.tensor([1, 2, 3, 6])
    dpo, cw, cl = dpo_loss(pc, pr, rc, rr, 0.5)
    for alpha in (0.0, 0.3, 1.0):
        loss, cw2, cl2 = rpo_loss(pc, pr, rc, rr, lengths, 0.5, alpha)
        want = dpo + alpha * (-(pc / lengths).mean())
        assert loss.item() == pytest.approx(want.item(), abs=1e-6)
        assert torch.equal(cw, cw2) and torch.equal(cl, cl2)


def test_rpo_gradient_raises_the_chosen_even_when_the_margin_is_saturated():
    # a pair DPO has already won (margin 50): DPO's pull on log pi(y_w) is almost 0, the NLL's is not
    pc = torch.tensor([-2.0, -2.0], requires_grad=True)
    pr = torch.tensor([-102.0, -102.0], requires_grad=True)
    zero, lengths = torch.zeros(2), torch.tensor([2, 4])
    rpo_loss(pc, pr, zero, zero, lengths, beta=0.5, alpha=1.0)[0].backward()
    dpo_part = -(0.5 / 2) * torch.sigmoid(torch.tensor(-50.0))
    torch.testing.assert_close(pc.grad, dpo_part - 1.0 / (2 * lengths.float()))
    assert (pr.grad >= 0).all() and pr.grad.max() < 1e-20


@pytest.mark.parametrize(
    ("lengths", "alpha", "message"),
    [
        (torch.tensor([1, 0]), 1.0, "chosen_lengths"),
        (torch.tensor([1, 2, 3]), 1.0, "chosen_lengths"),
        ([1, 2], 1.0, "chosen_lengths"),
        (torch.tensor([1, 2]), -0.5, "alpha"),
    ],
)
def test_rpo_loss_bad_input(lengths, alpha, message):
    with pytest.raises(ValueError, match=message):
        rpo_loss(*(torch.zeros(2),) * 4, lengths, 0.1, alpha)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((torch.zeros(2),) * 4 + (0.0,), "beta"),
        ((torch.zeros(2),) * 4 + (-1.0,), "beta"),
        ((torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.1), "shape"),
        ((torch.zeros(2, 1),) * 4 + (0.1,), "policy_chosen_logps"),
        ((torch.zeros(2, dtype=torch.long),) * 4 + (0.1,), "float"),
    ],
)
def test_dpo_loss_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        dpo_loss(*args)


def test_response_labels_are_minus_100_outside_the_response():
    labels = response_labels(IDS, MASK)
    want = torch.tensor([[-100, -100, 4, 5, -100], [-100, 8, 9, -100, -100]])
    assert torch.equal(labels, want)
    assert IGNORE_INDEX == -100


def test_masked_sft_loss_ignores_prompt_tokens():
    model = tiny_gpt()
    loss = sft_loss(model, IDS, MASK)
    logits = model(IDS[:, :-1])
    labels = response_labels(IDS, MASK)
    keep = labels != -100
    want = F.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(loss, want)
    # the padding after the response is neither input to it (causal) nor a label
    padded = IDS.clone()
    padded[1, 5] = 3
    torch.testing.assert_close(sft_loss(model, padded, MASK), loss)


def test_sft_loss_counts_prompt_tokens_when_the_mask_says_so():
    model = tiny_gpt()
    everything = IDS != 0
    everything[:, 0] = False
    assert sft_loss(model, IDS, everything).item() != pytest.approx(
        sft_loss(model, IDS, MASK).item()
    )


def test_changing_a_prompt_label_changes_nothing():
    """The same inputs with the prompt's targets changed give the same loss and gradients:
    only the response's targets count."""
    model = tiny_gpt()
    ids_b = IDS.clone()
    ids_b[0, 1] = 9  # a prompt token: it is an input too, so compare labels through a copy
    grads = []
    for labels_from in (IDS, ids_b):
        model.zero_grad()
        labels = response_labels(labels_from, MASK)
        logits = model(IDS[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        torch.testing.assert_close(loss, sft_loss(model, IDS, MASK))
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_sequence_logprobs_sums_the_response_tokens_only():
    model = tiny_gpt()
    got = sequence_logprobs(model, IDS, MASK)
    logp = torch.log_softmax(model(IDS[:, :-1]), dim=-1)
    want0 = logp[0, 2, 4] + logp[0, 3, 5]  # tokens 4 and 5 at positions 3, 4
    want1 = logp[1, 1, 8] + logp[1, 2, 9]
    torch.testing.assert_close(got, torch.stack([want0, want1]))
    assert got.shape == (2,) and (got < 0).all()


def test_sequence_logprobs_of_the_whole_row_is_the_lm_likelihood():
    model = tiny_gpt()
    ids = torch.tensor([[1, 2, 3, 4]])
    everything = torch.tensor([[False, True, True, True]])
    lm = -3 * F.cross_entropy(model(ids[:, :-1])[0], ids[0, 1:])
    torch.testing.assert_close(sequence_logprobs(model, ids, everything)[0], lm)


@pytest.mark.parametrize(
    ("ids", "mask", "message"),
    [
        (IDS.float(), MASK, "input_ids"),
        (IDS, MASK.int(), "response_mask"),
        (IDS, MASK[:, :-1], "shape of input_ids"),
        (IDS, torch.ones_like(MASK), "position 0"),
        (IDS[:, :1], MASK[:, :1], "at least 2 tokens"),
    ],
)
def test_bad_input_says_what_to_fix(ids, mask, message):
    with pytest.raises(ValueError, match=message):
        sequence_logprobs(tiny_gpt(), ids, mask)


def test_sft_loss_needs_a_response_token():
    with pytest.raises(ValueError, match="at least one response token"):
        sft_loss(tiny_gpt(), IDS, torch.zeros_like(MASK))


def test_greedy_responses_equal_one_prompt_at_a_time():
    model = tiny_gpt()
    prompts = [[1, 2], [3, 4, 5], [6, 7], [8]]
    together = greedy_responses(model, prompts, eos_id=10, max_new_tokens=5)
    for prompt, answer in zip(prompts, together, strict=True):
        ids = torch.tensor([prompt])
        for _ in range(5):
            nxt = int(model(ids)[0, -1].argmax())
            if nxt == 10:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        assert answer == ids[0, len(prompt) :].tolist()
    with pytest.raises(ValueError, match="non-empty"):
        greedy_responses(model, [], 10, 5)
