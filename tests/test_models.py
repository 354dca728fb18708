"""Models: shapes, parameter counts, causality, padding invariance, tying, and bad input."""

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from companion import layers
from companion.attention import MultiHeadAttention
from companion.masks import causal_mask, padding_mask
from companion.models import (
    BERT,
    GPT,
    BERTConfig,
    Encoder,
    EncoderDecoder,
    EncoderDecoderConfig,
    GPTConfig,
    SequenceClassifier,
    TransformerConfig,
)
from companion.train import lm_loss

SMALL = dict(d_model=32, n_heads=4, n_layers=2, max_len=16)


def gpt_param_formula(c: GPTConfig) -> int:
    """V d + T d (embeddings) + L [4(d^2 + d) + 2 d d_ff + d_ff + d + 4 d] + 2 d (final LN)."""
    d, f = c.d_model, c.d_ff
    per_layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
    return c.vocab_size * d + c.max_len * d + c.n_layers * per_layer + 2 * d


def test_gpt_shapes_and_parameter_count():
    config = GPTConfig(vocab_size=50, **SMALL)
    model = GPT(config)
    logits = model(torch.randint(0, 50, (3, 10)))
    assert logits.shape == (3, 10, 50)
    assert model.num_parameters() == gpt_param_formula(config)
    assert model.lm_head.weight is model.body.embed.token.weight
    untied = GPT(GPTConfig(vocab_size=50, tie_weights=False, **SMALL))
    assert untied.num_parameters() == gpt_param_formula(config) + 50 * 32


@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal", "rotary", "alibi", "none"])
@given(cut=st.integers(0, 9), seed=st.integers(0, 1000))
def test_gpt_does_not_look_ahead(pos_encoding, cut, seed):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=20, pos_encoding=pos_encoding, **SMALL)).double()
    ids = torch.randint(0, 20, (2, 10))
    changed = ids.clone()
    changed[:, cut + 1 :] = (changed[:, cut + 1 :] + 1) % 20
    torch.testing.assert_close(model(ids)[:, : cut + 1], model(changed)[:, : cut + 1])


def test_positions_break_permutation_symmetry():
    """Without positions a GPT's first-layer input is order-blind; with them it is not."""
    torch.manual_seed(0)
    ids = torch.tensor([[1, 2, 3, 4]])
    swapped = torch.tensor([[2, 1, 3, 4]])
    blind = Encoder(TransformerConfig(vocab_size=10, pos_encoding="none", **SMALL))
    torch.testing.assert_close(blind(swapped)[:, [1, 0, 2, 3]], blind(ids))
    aware = Encoder(TransformerConfig(vocab_size=10, pos_encoding="learned", **SMALL))
    torch.nn.init.normal_(aware.embed.position.weight.weight)
    assert not torch.allclose(aware(swapped)[:, [1, 0, 2, 3]], aware(ids), atol=1e-4)


def test_encoder_decoder_shapes_causality_and_padding():
    torch.manual_seed(0)
    config = EncoderDecoderConfig(vocab_size=30, tgt_vocab_size=20, n_decoder_layers=3, **SMALL)
    model = EncoderDecoder(config).double().eval()
    assert len(model.encoder.layers) == 2 and len(model.decoder.layers) == 3
    src, tgt = torch.randint(1, 30, (2, 9)), torch.randint(0, 20, (2, 6))
    keep = padding_mask([9, 5], 9)
    logits = model(src, tgt, keep)
    assert logits.shape == (2, 6, 20)
    torch.testing.assert_close(model.decode(tgt, model.encode(src, keep), keep), logits)
    # padding content is invisible
    noisy = src.clone()
    noisy[1, 5:] = 0
    torch.testing.assert_close(model(noisy, tgt, keep), logits)
    # the decoder does not look ahead
    later = tgt.clone()
    later[:, 3:] = (later[:, 3:] + 1) % 20
    torch.testing.assert_close(model(src, later, keep)[:, :3], logits[:, :3])
    assert model.lm_head.weight is model.decoder.embed.token.weight


def test_decoder_cache_matches_full_decoding():
    torch.manual_seed(0)
    model = EncoderDecoder(EncoderDecoderConfig(vocab_size=12, **SMALL)).double().eval()
    src, tgt = torch.randint(0, 12, (2, 7)), torch.randint(0, 12, (2, 5))
    memory = model.encode(src)
    cache = model.decoder.new_cache()
    steps = [model.decode(tgt[:, t : t + 1], memory, cache=cache) for t in range(5)]
    torch.testing.assert_close(torch.cat(steps, 1), model.decode(tgt, memory))


def test_decoder_weights_include_cross_attention():
    model = EncoderDecoder(EncoderDecoderConfig(vocab_size=12, **SMALL))
    src, tgt = torch.randint(0, 12, (1, 7)), torch.randint(0, 12, (1, 4))
    logits, weights = model.decode(tgt, model.encode(src), need_weights=True)
    assert len(weights) == 2
    w_self, w_cross = weights[0]
    assert w_self.shape == (1, 4, 4, 4) and w_cross.shape == (1, 4, 4, 7)


def test_bert_heads_and_padding_invariance():
    torch.manual_seed(0)
    config = BERTConfig(vocab_size=40, **SMALL)
    model = BERT(config).double().eval()
    ids = torch.randint(0, 40, (2, 8))
    segments = torch.tensor([[0] * 4 + [1] * 4] * 2)
    keep = padding_mask([8, 6], 8)
    out = model(ids, mask=keep, token_type_ids=segments, need_weights=True)
    assert out.mlm_logits.shape == (2, 8, 40) and out.nsp_logits.shape == (2, 2)
    assert len(out.weights) == 2 and out.weights[0].shape == (2, 4, 8, 8)
    assert model.mlm_decoder.weight is model.encoder.embed.token.weight
    changed = ids.clone()
    changed[1, 6:] = 0
    torch.testing.assert_close(
        model(changed, mask=keep, token_type_ids=segments).mlm_logits[1, :6], out.mlm_logits[1, :6]
    )
    # segment embeddings matter
    unsegmented = model(ids, mask=keep, token_type_ids=torch.zeros_like(ids))
    assert not torch.allclose(unsegmented.mlm_logits, out.mlm_logits)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_sequence_classifier(pooling):
    torch.manual_seed(0)
    encoder = Encoder(TransformerConfig(vocab_size=10, **SMALL))
    clf = SequenceClassifier(encoder, n_classes=3, pooling=pooling).double().eval()
    ids = torch.randint(0, 10, (2, 6))
    keep = padding_mask([6, 3], 6)
    logits = clf(ids, mask=keep)
    assert logits.shape == (2, 3)
    changed = ids.clone()
    changed[1, 3:] = 9
    torch.testing.assert_close(clf(changed, mask=keep), logits)


def test_dropout_makes_training_stochastic_and_eval_deterministic():
    model = GPT(GPTConfig(vocab_size=20, dropout=0.2, **SMALL))
    ids = torch.randint(0, 20, (2, 8))
    assert not torch.allclose(model(ids), model(ids))
    model.eval()
    torch.testing.assert_close(model(ids), model(ids))


# --- bad input ---------------------------------------------------------------------------------


def test_config_d_model_not_divisible():
    with pytest.raises(ValueError, match=r"d_model=100 is not divisible by n_heads=3"):
        GPTConfig(d_model=100, n_heads=3)


@pytest.mark.parametrize(
    "field,value,error,message",
    [
        ("pos_encoding", "relative", ValueError, "pos_encoding='relative' must be one of"),
        ("activation", "tanh", ValueError, "activation='tanh' must be one of"),
        ("dropout", 1.0, ValueError, r"dropout=1.0 must be a number in \[0, 1\)"),
        ("dropout", "0.1", TypeError, r"dropout='0.1' must be a number in \[0, 1\)"),
        ("n_layers", 0, ValueError, "n_layers=0 must be a positive int"),
        ("n_layers", True, TypeError, "n_layers=True must be a positive int .a bool"),
        ("n_heads", True, TypeError, "n_heads=True must be a positive int"),
        ("d_ff", 0, ValueError, "d_ff=0 must be a positive int"),
        ("layer_norm_eps", 0.0, ValueError, "layer_norm_eps=0.0 must be a number > 0"),
        ("layer_norm_eps", -1e-5, ValueError, "layer_norm_eps=-1e-05 must be a number > 0"),
        ("norm_first", "no", TypeError, "norm_first='no' must be True or False"),
        ("final_norm", 1, TypeError, "final_norm=1 must be True or False"),
        ("type_vocab_size", -1, ValueError, "type_vocab_size=-1 must be an int >= 0"),
        ("tie_weights", None, TypeError, "tie_weights=None must be True or False"),
    ],
)
def test_config_errors(field, value, error, message):
    """Each bad value is refused where it is passed, naming it (the holes found by trying bad
    input: True for n_layers, d_ff=0, eps <= 0 giving NaN logits, "no" giving pre-LN, ...)."""
    with pytest.raises(error, match=message):
        GPTConfig(**{field: value})


def test_sequence_longer_than_context():
    model = GPT(GPTConfig(vocab_size=20, **SMALL))
    with pytest.raises(ValueError, match=r"length 17 .*max_len=16; truncate"):
        model(torch.zeros(1, 17, dtype=torch.long))
    rotary = GPT(GPTConfig(vocab_size=20, pos_encoding="rotary", **SMALL))
    with pytest.raises(ValueError, match="max_len=16"):
        rotary(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("bad", [20, -1])
def test_token_ids_outside_vocabulary(bad):
    model = GPT(GPTConfig(vocab_size=20, **SMALL))
    ids = torch.tensor([[1, 2, bad]])
    with pytest.raises(ValueError, match=rf"token id {bad}, outside the vocabulary \[0, 20\)"):
        model(ids)


def test_token_ids_of_wrong_type_or_rank():
    model = GPT(GPTConfig(vocab_size=20, **SMALL))
    with pytest.raises(TypeError, match="integer tensor"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\(batch, seq\).*ids\[None\]"):
        model(torch.zeros(3, dtype=torch.long))


def test_encoder_decoder_scales_token_embeddings_by_sqrt_d_model():
    """Vaswani et al. §3.4: embeddings times sqrt(d_model), added to the sinusoids."""
    model = EncoderDecoder(EncoderDecoderConfig(vocab_size=12, **SMALL))
    ids = torch.tensor([[3, 4, 5]])
    expected = model.encoder.embed.token(ids) * 32**0.5 + model.encoder.embed.position.pe[:3]
    torch.testing.assert_close(model.encoder.embed(ids), expected)
    gpt = GPT(GPTConfig(vocab_size=12, **SMALL))
    assert gpt.body.embed.scale == 1.0


@pytest.mark.parametrize("n_layers", [1, 6])
def test_gpt_scales_residual_projections_like_gpt2_and_bert_does_not(n_layers):
    """GPT-2 §2.3: the projections into the residual stream start at std 0.02 / sqrt(2 L); every
    other weight (and every BERT weight) at std 0.02."""
    torch.manual_seed(0)
    config = dict(vocab_size=50, d_model=256, n_heads=4, n_layers=n_layers, max_len=16)
    gpt, bert = GPT(GPTConfig(**config)), BERT(BERTConfig(**config))
    residual = ("self_attn.out_proj.weight", "ffn.linear2.weight")
    for name, p in gpt.named_parameters():
        if p.ndim == 2 and "position" not in name:
            want = 0.02 / (2 * n_layers) ** 0.5 if name.endswith(residual) else 0.02
            assert abs(p.std().item() / want - 1) < 0.05, name
    stds = [p.std().item() for n, p in bert.named_parameters() if n.endswith(residual)]
    assert len(stds) == 2 * n_layers and all(abs(s / 0.02 - 1) < 0.05 for s in stds)


@pytest.mark.parametrize("tie_weights", [True, False])
@pytest.mark.parametrize("n_layers,d_model,max_len,vocab", [(4, 128, 64, 65), (2, 64, 128, 500)])
def test_flops_per_token_matches_torch_flop_counter(tie_weights, n_layers, d_model, max_len, vocab):
    """6N + 12LdT against the matrix-product FLOPs torch counts in one training step. The explicit
    attention path is used because the counter does not see inside the fused CPU kernel; the
    formula's N also holds biases and LayerNorm gains, which multiply nothing (under 2%)."""
    config = GPTConfig(
        vocab_size=vocab,
        d_model=d_model,
        n_heads=4,
        n_layers=n_layers,
        max_len=max_len,
        tie_weights=tie_weights,
    )
    model = GPT(dataclasses.replace(config, use_sdpa=False))
    x, y = torch.randint(vocab, (2, 2, max_len)).unbind(0)
    with FlopCounterMode(display=False) as counter:
        lm_loss(model, (x, y)).backward()
    measured = counter.get_total_flops() / x.numel()
    assert measured <= model.flops_per_token() <= 1.02 * measured
    assert (
        model.flops_per_token(2 * max_len) - model.flops_per_token()
        == 12 * n_layers * d_model * max_len
    )


# --- masks shaped once, the calling convention, use_sdpa ----------------------------------------


def small_models(use_sdpa=True):
    """One small model of each kind, each built right after torch.manual_seed(0)."""
    configs = {
        GPT: GPTConfig(vocab_size=12, use_sdpa=use_sdpa, **SMALL),
        BERT: BERTConfig(vocab_size=12, use_sdpa=use_sdpa, **SMALL),
        EncoderDecoder: EncoderDecoderConfig(vocab_size=12, use_sdpa=use_sdpa, **SMALL),
    }
    models = {}
    for cls, config in configs.items():
        torch.manual_seed(0)
        models[cls.__name__] = cls(config)
    return models


def run(name, model, ids, keep):
    if name == "EncoderDecoder":
        return model(ids, ids[:, :4], keep)
    out = model(ids, mask=keep)
    return out.mlm_logits if name == "BERT" else out


@pytest.mark.parametrize("name", ["GPT", "BERT", "EncoderDecoder"])
def test_masks_are_shaped_once_per_forward_and_layers_get_them_4d(name, monkeypatch):
    """attention_mask runs once per Encoder/Decoder forward, not once per layer; each attention
    receives the 4-D bool mask, never a 3-D one."""
    from companion import models

    model = small_models()[name].eval()
    calls, seen = [], []
    real = models.attention_mask
    monkeypatch.setattr(models, "attention_mask", lambda *a, **k: calls.append(1) or real(*a, **k))
    hooks = [
        m.register_forward_pre_hook(
            lambda mod, args, kwargs: seen.append(kwargs.get("mask")), with_kwargs=True
        )
        for m in model.modules()
        if isinstance(m, MultiHeadAttention)
    ]
    ids = torch.randint(1, 12, (2, 6))
    run(name, model, ids, padding_mask([6, 4], 6))
    for h in hooks:
        h.remove()
    # one per stack; the decoder shapes two masks (its own causal one, the source's padding)
    assert len(calls) == {"GPT": 1, "BERT": 1, "EncoderDecoder": 1 + 2}[name]
    assert len(seen) == len(hooks) >= 2
    assert all(m is not None and m.dtype == torch.bool and m.ndim == 4 for m in seen)


def test_use_sdpa_is_a_config_field_that_reaches_every_attention_and_changes_nothing():
    """Seeded models built with use_sdpa True and False hold the same weights and agree."""
    ids = torch.randint(1, 12, (2, 6))
    keep = padding_mask([6, 4], 6)
    explicit_models = small_models(use_sdpa=False)
    for name, fast in small_models().items():
        explicit = explicit_models[name]
        flags = {m.use_sdpa for m in explicit.modules() if isinstance(m, MultiHeadAttention)}
        assert flags == {False}, name
        assert "use_sdpa" not in repr(explicit.config)  # how attention is computed, not what
        torch.testing.assert_close(explicit.state_dict(), fast.state_dict(), atol=0, rtol=0)
        fast.double().eval(), explicit.double().eval()
        with torch.no_grad():
            torch.testing.assert_close(
                run(name, fast, ids, keep), run(name, explicit, ids, keep), atol=1e-12, rtol=0
            )


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m["GPT"](torch.zeros(1, 3, dtype=torch.long), causal_mask(3)),
        lambda m: m["BERT"](torch.zeros(1, 3, dtype=torch.long), padding_mask([3], 3)),
        lambda m: m["BERT"].encoder(torch.zeros(1, 3, dtype=torch.long), padding_mask([3], 3)),
        lambda m: m["EncoderDecoder"].decoder(
            torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 4, 32), None, padding_mask([4], 4)
        ),
        lambda m: SequenceClassifier(m["BERT"].encoder, 2)(
            torch.zeros(1, 3, dtype=torch.long), padding_mask([3], 3)
        ),
    ],
    ids=["GPT", "BERT", "Encoder", "Decoder", "SequenceClassifier"],
)
def test_arguments_after_the_ids_are_keyword_only(call):
    with pytest.raises(TypeError, match="positional"):
        call(small_models())


def test_decoder_layer_is_the_encoder_layer_plus_one_sublayer(monkeypatch):
    """Each layer runs its sub-layers through the one sublayer helper: 2 in an encoder layer, 3 in a
    decoder layer."""
    counted = []
    real = layers.sublayer
    monkeypatch.setattr(layers, "sublayer", lambda *a: counted.append(1) or real(*a))
    model = small_models()["EncoderDecoder"]
    ids = torch.randint(1, 12, (1, 5))
    model(ids, ids)
    assert len(counted) == 2 * len(model.encoder.layers) + 3 * len(model.decoder.layers)
