"""companion.induction: the repeated-token data, the attention-only model, the head scores, the
ablation and the in-context learning score (chapter 52)."""

from __future__ import annotations

import math

import pytest
import torch

from companion.induction import (
    AttentionOnlyConfig,
    AttentionOnlyTransformer,
    RepeatedTokens,
    ablate_heads,
    in_context_learning_score,
    per_token_loss,
    predictable,
    prefix_matching_score,
    previous_token_score,
    repeated_loss,
    repeated_tokens,
    train_and_watch,
)
from companion.train import TrainConfig, train


def _tokens(seed=0, batch=3, seq=30, vocab=20, periods=(5, 12)):
    return repeated_tokens(batch, seq, vocab, periods, torch.Generator().manual_seed(seed))


def _induction_pattern(tokens: torch.Tensor, n_heads: int = 1) -> torch.Tensor:
    """A hand-built induction head: from each token to the token after its last earlier
    occurrence (to itself when there is none); (batch, n_heads, seq, seq)."""
    batch, seq = tokens.shape
    pattern = torch.zeros(batch, n_heads, seq, seq)
    for b in range(batch):
        for t in range(seq):
            earlier = [j for j in range(t) if tokens[b, j] == tokens[b, t]]
            pattern[b, :, t, earlier[-1] + 1 if earlier else t] = 1.0
    return pattern


def _uniform_pattern(batch: int, seq: int) -> torch.Tensor:
    causal = torch.ones(seq, seq).tril()
    return (causal / causal.sum(-1, keepdim=True)).expand(batch, 1, seq, seq)


# --- data ----------------------------------------------------------------------------------------


def test_tokens_repeat_with_their_period():
    tokens, k = _tokens()
    assert tokens.shape == (3, 30) and k.shape == (3,) and tokens.dtype == torch.int64
    assert bool(((5 <= k) & (k < 12)).all())
    for b in range(3):
        kb = int(k[b])
        assert torch.equal(tokens[b, kb:], tokens[b, :-kb])
    assert int(tokens.max()) < 20


def test_tokens_are_seeded():
    assert torch.equal(_tokens(1)[0], _tokens(1)[0])
    assert not torch.equal(_tokens(1)[0], _tokens(2)[0])


def test_a_fixed_period():
    _, k = _tokens(periods=(9, 10))
    assert k.tolist() == [9, 9, 9]


def test_periods_are_checked():
    with pytest.raises(ValueError, match="periods"):
        RepeatedTokens(4, 20, 10, (8, 15))  # a period of 14 never repeats twice in 20 tokens
    with pytest.raises(ValueError, match="periods"):
        RepeatedTokens(4, 80, 10, (9, 9))


def test_predictable_targets_start_one_after_the_period():
    mask = predictable(torch.tensor([3, 5]), 8)  # targets j = 1..7
    assert mask.tolist() == [
        [False, False, False, True, True, True, True],
        [False, False, False, False, False, True, True],
    ]


# --- model ---------------------------------------------------------------------------------------


def test_model_shapes_and_patterns():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=20, max_len=30, d_model=16))
    tokens, _ = _tokens()
    logits, patterns = model(tokens, return_patterns=True)
    assert logits.shape == (3, 30, 20)
    assert len(patterns) == 2 and patterns[0].shape == (3, 4, 30, 30)
    assert torch.allclose(patterns[1].sum(-1), torch.ones(3, 4, 30), atol=1e-5)
    assert float(patterns[0].detach().triu(1).abs().max()) == 0.0  # causal
    assert torch.allclose(model(tokens), logits, atol=1e-5)  # the fast path agrees


def test_model_is_causal():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=20, max_len=30, d_model=16))
    tokens, _ = _tokens()
    changed = tokens.clone()
    changed[:, 20:] = (changed[:, 20:] + 1) % 20
    assert torch.allclose(model(tokens)[:, :20], model(changed)[:, :20], atol=1e-5)


def test_model_rejects_a_long_sequence():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=20, max_len=10, d_model=16))
    with pytest.raises(ValueError, match="max_len=10"):
        model(torch.zeros(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model"):
        AttentionOnlyConfig(d_model=10, n_heads=4)


# --- losses --------------------------------------------------------------------------------------


def test_per_token_loss_matches_cross_entropy():
    torch.manual_seed(0)
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=20, max_len=30, d_model=16))
    tokens, k = _tokens()
    loss = per_token_loss(model, tokens)
    logits = model(tokens[:, :-1])
    want = -logits.log_softmax(-1)[1, 7, tokens[1, 8]]
    assert loss.shape == (3, 29) and torch.isclose(loss[1, 7], want, atol=1e-5)
    assert torch.isclose(repeated_loss(model, (tokens, k)), loss[predictable(k, 30)].mean())


def test_in_context_learning_score():
    loss = torch.tensor([[4.0, 3.0, 1.0], [4.0, 2.0, 0.0]])
    assert in_context_learning_score(loss, early=0, late=2) == pytest.approx(-3.5)
    with pytest.raises(ValueError, match="late"):
        in_context_learning_score(loss, early=2, late=1)


# --- scores --------------------------------------------------------------------------------------


def test_a_hand_built_induction_head_scores_one():
    tokens, _ = _tokens()
    pattern = _induction_pattern(tokens, n_heads=2)
    assert prefix_matching_score(pattern, tokens).tolist() == pytest.approx([1.0, 1.0])
    assert float(previous_token_score(pattern).max()) < 0.5


def test_uniform_attention_scores_about_one_over_the_context():
    seq = 50
    tokens, _ = repeated_tokens(4, seq, 10_000, (20, 21), torch.Generator().manual_seed(0))
    score = prefix_matching_score(_uniform_pattern(4, seq), tokens).item()
    # query t >= 20 has t // 20 earlier occurrences, each key weighted 1 / (t + 1)
    want = sum((t // 20) / (t + 1) for t in range(20, seq)) / (seq - 20)
    assert score == pytest.approx(want, rel=1e-3)
    assert previous_token_score(_uniform_pattern(4, seq)).item() == pytest.approx(
        sum(1 / (t + 1) for t in range(1, seq)) / (seq - 1)
    )


def test_a_previous_token_head_scores_one():
    seq = 12
    pattern = torch.eye(seq).roll(-1, dims=1).tril()  # row t: key t - 1
    pattern[0, 0] = 1.0
    pattern = pattern.expand(2, 1, seq, seq)
    assert previous_token_score(pattern).item() == pytest.approx(1.0)
    tokens, _ = _tokens(batch=2, seq=seq, periods=(3, 6))
    assert prefix_matching_score(pattern, tokens).item() < 1.0


def test_attending_to_the_earlier_token_itself_scores_zero():
    tokens = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3]])  # no token repeats within a period
    pattern = torch.zeros(1, 1, 8, 8)
    for t in range(8):
        pattern[0, 0, t, t - 4 if t >= 4 else t] = 1.0  # the earlier copy, not its successor
    assert prefix_matching_score(pattern, tokens).item() == 0.0


def test_scores_reject_a_pattern_without_batch():
    with pytest.raises(ValueError, match=r"pattern\[None\]"):
        previous_token_score(torch.ones(4, 5, 5))
    with pytest.raises(ValueError, match="tokens"):
        prefix_matching_score(torch.ones(2, 1, 5, 5), torch.zeros(2, 6, dtype=torch.long))


# --- ablation and training -----------------------------------------------------------------------


def test_ablating_a_head_zeroes_its_contribution():
    torch.manual_seed(0)
    config = AttentionOnlyConfig(vocab_size=20, max_len=30, d_model=16, n_layers=1, n_heads=2)
    model = AttentionOnlyTransformer(config)
    tokens, _ = _tokens()
    before = model(tokens)
    with ablate_heads(model, [(0, 0), (0, 1)]):
        silent = model(tokens)
    embed = model.embed(tokens) + model.pos.weight[:30]
    assert torch.allclose(silent, model.unembed(embed), atol=1e-5)  # no head adds anything
    with ablate_heads(model, [(0, 1)]):
        one = model(tokens)
    assert not torch.allclose(one, before) and not torch.allclose(one, silent)
    assert torch.equal(model(tokens), before)  # the hooks are gone after the block
    with pytest.raises(ValueError, match="heads"):
        with ablate_heads(model, [(1, 0)]):
            pass


def test_mean_ablation_replaces_a_head_by_its_batch_mean():
    torch.manual_seed(0)
    config = AttentionOnlyConfig(vocab_size=20, max_len=30, d_model=16, n_layers=1, n_heads=2)
    model = AttentionOnlyTransformer(config)
    tokens, _ = _tokens()
    with ablate_heads(model, [(0, 1)], mode="mean"):
        alone = model(tokens[:1])  # the mean over a batch of one is the sequence itself
        mixed = model(tokens)
    assert torch.allclose(alone, model(tokens[:1]), atol=1e-6)
    with ablate_heads(model, [(0, 1)]):
        zeroed = model(tokens)
    assert not torch.allclose(mixed, model(tokens)) and not torch.allclose(mixed, zeroed)
    with pytest.raises(ValueError, match="mode"):
        with ablate_heads(model, [(0, 1)], mode="half"):
            pass


def test_ablate_heads_names_the_common_mistakes():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=10, max_len=20, d_model=8))
    with pytest.raises(TypeError, match=r"pass \[\(0, 1\)\]"):
        with ablate_heads(model, (0, 1)):
            pass
    with pytest.raises(TypeError, match="ints"):
        with ablate_heads(model, [(0, 1.0)]):
            pass


def test_bad_inputs_are_named():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=10, max_len=20, d_model=8))
    with pytest.raises(TypeError, match="tokens"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="tokens"):  # no token occurs twice: nothing to match
        prefix_matching_score(_uniform_pattern(1, 6), torch.arange(6)[None])
    with pytest.raises(ValueError, match="previous token"):
        previous_token_score(torch.ones(1, 1, 1, 1))
    with pytest.raises(ValueError, match="loss"):
        in_context_learning_score(torch.zeros(10), 1, 5)
    config = TrainConfig(min_lr_ratio=1.0, warmup_steps=1, checkpoint_dir="somewhere")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train_and_watch(model, RepeatedTokens(4, 20, 10, (3, 8)), config, 5, dict)


def test_train_and_watch_equals_one_uninterrupted_run():
    def run(watched: bool):
        torch.manual_seed(0)
        model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=10, max_len=20, d_model=8))
        batches = RepeatedTokens(4, 20, 10, (3, 8))
        config = TrainConfig(max_steps=6, lr=1e-2, warmup_steps=1, min_lr_ratio=1.0, progress=False)
        if watched:
            history, seen = train_and_watch(model, batches, config, 4, lambda m: {"x": 1.0})
            assert [s["step"] for s in seen] == [4, 6]
        else:
            history = train(model, repeated_loss, batches, config)
        return history.train_loss

    watched = run(True)
    assert watched == pytest.approx(run(False), abs=1e-6)
    assert not math.isnan(watched[-1])


def test_train_and_watch_needs_a_constant_rate():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(vocab_size=10, max_len=20, d_model=8))
    with pytest.raises(ValueError, match="min_lr_ratio"):
        train_and_watch(model, RepeatedTokens(4, 20, 10, (3, 8)), TrainConfig(), 50, dict)


def test_the_gpu_profile_config_constructs_and_trains():
    """Chapter 52's gpu sizes (d_model 256, 8 heads, batch 128, V 50, T 80, periods 8..39) for two
    steps on the CPU: the model builds, the data fits it, and train_and_watch runs."""
    torch.manual_seed(0)
    model = AttentionOnlyTransformer(
        AttentionOnlyConfig(vocab_size=50, max_len=80, d_model=256, n_layers=2, n_heads=8)
    )
    batches = RepeatedTokens(128, 80, 50, (8, 40))
    config = TrainConfig(max_steps=2, lr=1e-3, warmup_steps=1, min_lr_ratio=1.0, progress=False)
    history, seen = train_and_watch(model, batches, config, 2, lambda m: {"ok": 1.0})
    assert len(history.train_loss) == 2 and seen[-1]["step"] == 2
    assert history.train_loss[0] == pytest.approx(math.log(50), abs=1.0)
