"""Checkers of notebooks/33_bert_pretraining: the reference solutions (and companion's own
functions) get full marks, plausible wrong implementations are rejected with a message that says
how, and no message gives away an expected value."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from companion.course.exercises.bert_pretraining import check_mask_tokens, check_mlm_loss
from companion.objectives import mask_tokens, masked_lm_loss

# --- the 80/10/10 corruption: the notebook's solution and plausible mistakes ----------------------


def my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < select_prob) & ~special
    action = torch.rand(ids.shape, generator=generator)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    corrupted = ids.clone()
    corrupted[selected & (action < 0.8)] = mask_id
    swap = selected & (action >= 0.8) & (action < 0.9)
    corrupted[swap] = random_ids[swap]
    labels = torch.where(selected, ids, -100)
    return corrupted, labels


def always_mask(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < select_prob) & ~special
    return torch.where(selected, mask_id, ids), torch.where(selected, ids, -100)


def labels_everywhere(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    corrupted, _ = my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids, select_prob)
    return corrupted, ids.clone()


def selects_specials(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    return my_mask_tokens(ids, generator, mask_id, vocab_size, (), select_prob)


def random_from_whole_vocab(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < select_prob) & ~special
    action = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    corrupted = torch.where(selected & (action < 0.8), mask_id, ids)
    swap = selected & (action >= 0.8) & (action < 0.9)
    return torch.where(swap, random_ids, corrupted), torch.where(selected, ids, -100)


def global_rng(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    return my_mask_tokens(ids, None, mask_id, vocab_size, special_ids, select_prob)


def in_place(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    corrupted, labels = my_mask_tokens(
        ids, generator, mask_id, vocab_size, special_ids, select_prob
    )
    ids.copy_(corrupted)
    return ids, labels


def ignores_select_prob(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    return my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids)


def companion_mask_tokens(ids, generator, mask_id, vocab_size, special_ids, select_prob=0.15):
    return mask_tokens(
        ids,
        generator,
        mask_id=mask_id,
        vocab_size=vocab_size,
        special_ids=special_ids,
        select_prob=select_prob,
    )


# --- the MLM loss -----------------------------------------------------------------------------------


def my_mlm_loss(logits, labels):
    selected = labels != -100  # (batch, seq)
    log_p = torch.log_softmax(logits[selected], dim=-1)  # (|M|, vocab)
    return -log_p.gather(-1, labels[selected][:, None]).mean()


def loss_sum(logits, labels):
    return my_mlm_loss(logits, labels) * (labels != -100).sum()


def loss_mean_of_sequence_means(logits, labels):
    per_row = [my_mlm_loss(z[None], y[None]) for z, y in zip(logits, labels, strict=True)]
    return torch.stack(
        [r for r, y in zip(per_row, labels, strict=True) if (y != -100).any()]
    ).mean()


def loss_over_all_positions(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.clamp(min=0).flatten())


def loss_naive_softmax(logits, labels):
    selected = labels != -100
    p = torch.exp(logits[selected]) / torch.exp(logits[selected]).sum(-1, keepdim=True)
    return -torch.log(p.gather(-1, labels[selected][:, None])).mean()


def loss_detached(logits, labels):
    return my_mlm_loss(logits.detach(), labels)


# --- full marks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checker", "fn", "message"),
    [
        (check_mask_tokens, always_mask, "set to [MASK] is 1.000, outside the band 0.800"),
        (check_mask_tokens, always_mask, "replaced by a different token is 0.000"),
        (check_mask_tokens, labels_everywhere, "share of ordinary tokens selected is 1.000"),
        (check_mask_tokens, labels_everywhere, "special or padding tokens were selected"),
        (check_mask_tokens, selects_specials, "special or padding tokens were selected"),
        (check_mask_tokens, random_from_whole_vocab, "a random replacement is a special token"),
        (check_mask_tokens, global_rng, "two calls with generators seeded alike differ"),
        (check_mask_tokens, in_place, "ids was modified in place"),
        (check_mask_tokens, ignores_select_prob, "selected is 0.149, outside the band 0.300"),
        (check_mask_tokens, lambda *a, **k: (1, 2), "corrupted is a int"),
        (check_mlm_loss, loss_sum, "loss differs (max error"),
        (check_mlm_loss, loss_mean_of_sequence_means, "loss differs (max error"),
        (check_mlm_loss, loss_over_all_positions, "loss differs (max error"),
        (check_mlm_loss, loss_naive_softmax, "contains NaN"),
        (check_mlm_loss, loss_detached, "the loss has no gradient"),
    ],
)
def test_wrong_implementation_is_rejected(checker, fn, message):
    score = checker(fn, verbose=False)
    assert score.score < 1, str(score)
    assert any(message in m for m in score.messages), str(score)


def test_per_sequence_mean_fails_only_where_counts_differ():
    score = check_mlm_loss(loss_mean_of_sequence_means, verbose=False)
    passed = {m.split(" (")[1].split(")")[0] for m in score.messages if m.endswith("passed")}
    assert "one selected position per sequence" in passed and "every position selected" in passed
    assert "different numbers of selected positions per sequence" not in passed


def test_messages_never_show_expected_values():
    for checker, fn in ((check_mlm_loss, loss_sum), (check_mask_tokens, always_mask)):
        text = str(checker(fn, verbose=False))
        assert "tensor(" not in text and "[" not in text.replace("[MASK]", "")
    text = str(check_mlm_loss(loss_sum, verbose=False))
    assert re.search(r"max error \d\.\de[-+]\d\d > 1e-10", text)


# --- for tests/test_course.py: the notebook's solutions, in the checker's argument order, and
# other right answers

REFERENCES = {
    "ex-bert-mask-tokens": (my_mask_tokens,),
    "ex-bert-mlm-loss": (my_mlm_loss,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-bert-mask-tokens", (companion_mask_tokens,)),
    ("ex-bert-mlm-loss", (masked_lm_loss,)),
]
