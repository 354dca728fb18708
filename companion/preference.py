"""From a language model to an assistant: the losses of supervised fine-tuning and of DPO.

* :func:`response_labels` and :func:`sft_loss` — supervised fine-tuning (instruction tuning) of a
  causal language model on prompt/response sequences, the loss counted on the response only;
* :func:`sequence_logprobs` — ``log pi(y | x)``: the summed log-probability of a response given
  its prompt;
* :func:`dpo_loss` — direct preference optimization (Rafailov et al. 2023), from its formula;
* :func:`rpo_loss` — DPO plus the SFT loss (per-token NLL) on the chosen responses (Pang et al.
  2024), which keeps the chosen responses likely while the margin grows;
* :func:`greedy_responses` — what a model answers to prompts of different lengths.

Every function takes token ids ``(batch, seq)`` that hold prompt and response together (and any
right padding), with a boolean ``response_mask (batch, seq)`` that is True at the response's
tokens: the tokens the model is trained (or scored) on. Position 0 is never a response token
(something must come before it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from companion import validators as check
from companion.generate import generate
from companion.objectives import IGNORE_INDEX  # -100: a label that counts for nothing

__all__ = [
    "IGNORE_INDEX",
    "dpo_loss",
    "greedy_responses",
    "response_labels",
    "rpo_loss",
    "sequence_logprobs",
    "sft_loss",
]


def _check_pair(ids: Tensor, response_mask: Tensor) -> None:
    if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        got = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
        check.fail("input_ids", got, "an int64 tensor of shape (batch, seq)")
    if not isinstance(response_mask, Tensor) or response_mask.dtype != torch.bool:
        got = response_mask.dtype if isinstance(response_mask, Tensor) else type(response_mask)
        check.fail(
            "response_mask", got, "a bool tensor", "True at the response tokens, e.g. ids >= start"
        )
    if response_mask.shape != ids.shape:
        check.fail(
            "response_mask",
            tuple(response_mask.shape),
            f"the shape of input_ids, {tuple(ids.shape)}",
        )
    if ids.shape[1] < 2:
        check.fail(
            "input_ids", tuple(ids.shape), "at least 2 tokens per row (a prompt token first)"
        )
    if response_mask[:, 0].any():
        check.fail(
            "response_mask",
            "True at position 0",
            "False at position 0",
            "the first token has nothing before it to predict it from; start with the prompt",
        )


def response_labels(input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """The next-token labels of a prompt/response batch, ``IGNORE_INDEX`` (-100) outside the response.

    ``input_ids``, ``response_mask``: ``(batch, seq)``. Returns ``(batch, seq - 1)``: label ``t`` is
    the target of the model's output at position ``t``, i.e. ``input_ids[:, t + 1]`` where that
    token is part of the response, and -100 where it is part of the prompt or padding.
    """
    _check_pair(input_ids, response_mask)
    labels = input_ids[:, 1:].clone()  # (batch, seq - 1): the token after each position
    return labels.masked_fill(~response_mask[:, 1:], IGNORE_INDEX)


def sft_loss(model: nn.Module, input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """The supervised fine-tuning loss: next-token cross-entropy averaged over the response tokens.

        L = -(1 / |R|) sum_{(b, t) in R} log p_theta(x[b, t] | x[b, <t]),
        R = the positions where ``response_mask`` is True

    ``model(ids (batch, seq - 1))`` -> logits ``(batch, seq - 1, vocab)`` (a causal LM such as
    :class:`companion.models.GPT`); ``input_ids``, ``response_mask``: ``(batch, seq)``. Prompt and
    padding tokens have label -100, so they neither add to the loss nor to its denominator. To
    train on every token (the prompt too), pass ``response_mask = ids != pad`` with position 0
    False.
    """
    labels = response_labels(input_ids, response_mask)  # (batch, seq - 1)
    if not (labels != IGNORE_INDEX).any():
        check.fail("response_mask", "no True after position 0", "at least one response token")
    logits = model(input_ids[:, :-1])  # (batch, seq - 1, vocab)
    return F.cross_entropy(
        rearrange(logits, "b t v -> (b t) v"),
        rearrange(labels, "b t -> (b t)"),
        ignore_index=IGNORE_INDEX,
    )


def sequence_logprobs(model: nn.Module, input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """``log pi(y | x)`` for each row: the sum of the response tokens' log-probabilities.

        log pi(y | x) = sum_{t in R} log softmax(z[t - 1])[x[t]],  R = the response positions

    ``input_ids``, ``response_mask``: ``(batch, seq)``; returns ``(batch,)`` float. Gradients flow
    (call it under ``torch.no_grad()`` for a frozen reference model).
    """
    _check_pair(input_ids, response_mask)
    logits = model(input_ids[:, :-1])  # (batch, seq - 1, vocab): predicts tokens 1 .. seq - 1
    logp = F.log_softmax(logits.float(), dim=-1)
    token_logp = logp.gather(-1, input_ids[:, 1:, None])[..., 0]  # (batch, seq - 1)
    return (token_logp * response_mask[:, 1:]).sum(dim=-1)  # (batch,)


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """The DPO loss (Rafailov et al. 2023, eq. 7), averaged over a batch of preference pairs.

        r_w = beta (log pi_theta(y_w | x) - log pi_ref(y_w | x))     the chosen response's reward
        r_l = beta (log pi_theta(y_l | x) - log pi_ref(y_l | x))     the rejected one's
        L   = -mean log sigmoid(r_w - r_l)

    ``-log sigmoid(m)`` is computed as ``-F.logsigmoid(m)``, which stays finite for any margin
    ``m`` (``log(sigmoid(m))`` is ``log 0 = -inf`` below about -104 in float32).

    Args:
        policy_chosen_logps, policy_rejected_logps: ``(batch,)`` log pi_theta of the chosen
            (preferred, y_w) and rejected (y_l) responses, from :func:`sequence_logprobs`.
        ref_chosen_logps, ref_rejected_logps: ``(batch,)`` the same under the frozen reference
            model pi_ref (usually the SFT model).
        beta: > 0, the strength of the implicit KL penalty: small beta lets the policy move far.

    Returns:
        ``(loss, chosen_rewards, rejected_rewards)``: the scalar loss and the implicit rewards
        ``r_w``, ``r_l`` of shape ``(batch,)``, detached (for logging: the reward margin
        ``r_w - r_l`` and the reward accuracy, the share of pairs with ``r_w > r_l``).
    """
    check.number("beta", beta, 0, low_open=True, hint="e.g. 0.1")
    logps = (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    names = (
        "policy_chosen_logps",
        "policy_rejected_logps",
        "ref_chosen_logps",
        "ref_rejected_logps",
    )
    for name, t in zip(names, logps, strict=True):
        if not isinstance(t, Tensor) or t.dim() != 1 or not t.is_floating_point():
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            check.fail(name, got, "a 1-D float tensor of shape (batch,)", "one log-prob per pair")
        if t.shape != policy_chosen_logps.shape:
            check.fail(
                name, tuple(t.shape), f"the shape of the other log-probs, {tuple(logps[0].shape)}"
            )
    chosen_logratios = policy_chosen_logps - ref_chosen_logps  # (batch,)
    rejected_logratios = policy_rejected_logps - ref_rejected_logps  # (batch,)
    margin = beta * (chosen_logratios - rejected_logratios)  # (batch,)
    loss = -F.logsigmoid(margin).mean()
    return loss, (beta * chosen_logratios).detach(), (beta * rejected_logratios).detach()


def rpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    chosen_lengths: Tensor,
    beta: float,
    alpha: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """DPO plus the negative log-likelihood of the chosen responses, per token (Pang et al. 2024).

        L = L_DPO - alpha * mean(log pi_theta(y_w | x) / |y_w|)

    DPO's loss only asks that the chosen response gain on the rejected one, so it can lower both;
    the NLL term (the SFT loss of the chosen responses) keeps them likely. It needs no extra
    forward pass: ``log pi_theta(y_w | x)`` is already computed for DPO.

    Args:
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta:
            as in :func:`dpo_loss`, each log-prob ``(batch,)``.
        chosen_lengths: ``(batch,)`` the number of response tokens of each chosen response (the
            True entries of its response mask), all >= 1.
        alpha: >= 0, the weight of the NLL term; 0 gives :func:`dpo_loss`.

    Returns:
        ``(loss, chosen_rewards, rejected_rewards)``, the rewards as in :func:`dpo_loss`.
    """
    check.number("alpha", alpha, 0, hint="e.g. 1.0; 0 is plain DPO")
    loss, chosen_rewards, rejected_rewards = dpo_loss(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    if not isinstance(chosen_lengths, Tensor) or chosen_lengths.shape != policy_chosen_logps.shape:
        got = tuple(chosen_lengths.shape) if isinstance(chosen_lengths, Tensor) else chosen_lengths
        check.fail(
            "chosen_lengths",
            got,
            f"a tensor of shape {tuple(policy_chosen_logps.shape)}",
            "the response tokens of each chosen response, e.g. response_mask.sum(dim=1)",
        )
    if (chosen_lengths < 1).any():
        check.fail("chosen_lengths", chosen_lengths.tolist(), "every length >= 1")
    nll = -(policy_chosen_logps / chosen_lengths.to(policy_chosen_logps.dtype)).mean()
    return loss + alpha * nll, chosen_rewards, rejected_rewards


@torch.no_grad()
def greedy_responses(
    model: nn.Module, prompts: list[list[int]], eos_id: int, max_new_tokens: int
) -> list[list[int]]:
    """The greedy continuation of each prompt (a list of token ids), up to ``eos_id`` (left out) or
    ``max_new_tokens`` tokens.

    Prompts of the same length are decoded together (no padding is needed then), with
    :func:`companion.generate.generate` at temperature 0; the answers come back in the order of
    ``prompts``. ``model``: a :class:`companion.models.GPT` whose ``max_len`` holds the longest
    prompt plus ``max_new_tokens``.
    """
    check.positive_int("max_new_tokens", max_new_tokens)
    if not prompts or not all(prompts):
        raise ValueError("prompts must be a non-empty list of non-empty lists of token ids")
    device = next(model.parameters()).device
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    out: list[list[int]] = [[] for _ in prompts]
    for length, rows in sorted(by_length.items()):
        ids = torch.tensor([prompts[i] for i in rows], device=device)  # (group, length)
        ids = generate(model, ids, max_new_tokens, temperature=0.0, eos_id=eos_id)
        for i, row in zip(rows, ids[:, length:].tolist(), strict=True):  # the new tokens
            out[i] = row[: row.index(eos_id)] if eos_id in row else row
    return out
