"""companion.recurrent: the recall task, the recurrent classifier, additive attention and the GRU
encoder-decoder (shapes, masks, errors, and that the models can learn)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from companion.recurrent import (
    BLANK,
    CUE,
    AdditiveAttention,
    GRUSeq2Seq,
    RecurrentClassifier,
    recall_batch,
)


def test_recall_batch_layout_and_determinism():
    x, y = recall_batch(5, 3, 10, torch.Generator().manual_seed(0))
    assert x.shape == (5, 5) and y.shape == (5,) and x.dtype == y.dtype == torch.long
    assert torch.equal(y, x[:, 0]) and ((y >= 2) & (y < 10)).all()
    assert (x[:, 1:-1] == BLANK).all() and (x[:, -1] == CUE).all()
    x2, _ = recall_batch(5, 3, 10, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    x0, _ = recall_batch(2, 0, 3)  # no delay; one symbol only
    assert x0.tolist() == [[2, 1], [2, 1]]
    xd, yd = recall_batch(400, 2, 6, torch.Generator().manual_seed(1), blank=False)
    assert ((xd[:, 1:-1] >= 2) & (xd[:, 1:-1] < 6)).all() and set(yd.tolist()) == {2, 3, 4, 5}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch": 0, "delay": 1, "vocab": 5}, ValueError, "batch=0"),
        ({"batch": 2, "delay": -1, "vocab": 5}, ValueError, "delay=-1"),
        ({"batch": 2, "delay": 1, "vocab": 2}, ValueError, "vocab=2"),
        ({"batch": 2.0, "delay": 1, "vocab": 5}, TypeError, "batch=2.0"),
    ],
)
def test_recall_batch_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        recall_batch(**kwargs)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_classifier_shapes_and_cell(cell):
    model = RecurrentClassifier(7, 8, cell, n_classes=3)
    assert isinstance(
        model.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    )
    assert model(torch.randint(7, (4, 6))).shape == (4, 3)


def test_recurrent_classifier_errors():
    with pytest.raises(ValueError, match="cell='transformer'"):
        RecurrentClassifier(5, 4, "transformer")
    model = RecurrentClassifier(5, 4)
    with pytest.raises(ValueError, match="token ids in"):
        model(torch.tensor([[0, 5]]))
    with pytest.raises(TypeError, match="int64"):
        model(torch.zeros(2, 3))


def test_lstm_learns_a_short_recall():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = RecurrentClassifier(6, 16, "lstm")
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        x, y = recall_batch(32, 2, 6, g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = recall_batch(200, 2, 6, torch.Generator().manual_seed(1))
    assert (model(x).argmax(-1) == y).float().mean() > 0.95


def test_additive_attention_matches_the_formula_and_respects_masks():
    torch.manual_seed(0)
    attn = AdditiveAttention(3, 4, d_attn=5).double()
    q, k, v = (
        torch.randn(2, 3, dtype=torch.float64),
        torch.randn(2, 6, 4, dtype=torch.float64),
        None,
    )
    mask = torch.tensor([[True] * 6, [True, True, False, True, False, False]])
    context, weights = attn(q, k, v, mask=mask)
    assert context.shape == (2, 4) and weights.shape == (2, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, dtype=torch.float64))
    assert (weights[~mask] == 0).all()
    scores = (torch.tanh(q[:, None] @ attn.w_q.weight.T + k @ attn.w_k.weight.T) @ attn.v.weight.T)[
        ..., 0
    ]
    want = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(weights, want)
    torch.testing.assert_close(context, (want[:, :, None] * k).sum(1))
    # changing a masked key changes nothing
    k2 = k.clone()
    k2[1, 4] += 10
    torch.testing.assert_close(attn(q, k2, mask=mask)[0], context)
    # a 3-D query gives one row per query, equal to the 2-D calls
    c3, w3 = attn(torch.stack([q, 2 * q], dim=1), k, values=k, mask=mask)
    assert c3.shape == (2, 2, 4) and w3.shape == (2, 2, 6)
    torch.testing.assert_close(c3[:, 0], context)
    torch.testing.assert_close(w3[:, 1], attn(2 * q, k, mask=mask)[1])


def test_additive_attention_gradcheck():
    torch.manual_seed(0)
    attn = AdditiveAttention(3, 2).double()
    q = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: attn(a, b)[0], (q, k))


def test_additive_attention_errors():
    attn = AdditiveAttention(3, 4)
    q, k = torch.randn(2, 3), torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="True = may attend"):
        attn(q, k, mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="no True entry"):
        attn(q, k, mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="query"):
        attn(torch.randn(3, 3), k)
    with pytest.raises(ValueError, match="keys"):
        attn(q, k, values=torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match="d_query=0"):
        AdditiveAttention(0, 4)


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_shapes_and_padding(attention):
    torch.manual_seed(0)
    model = GRUSeq2Seq(9, 8, attention=attention)
    src, tgt_in = torch.randint(3, 9, (3, 5)), torch.randint(3, 9, (3, 4))
    logits, weights = model(src, tgt_in)
    assert logits.shape == (3, 4, 9)
    assert (weights is None) == (not attention)
    if attention:
        assert weights.shape == (3, 4, 5)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    # a right-padded source with its mask gives the same outputs as the unpadded source
    padded = torch.cat([src[:1, :3], torch.zeros(1, 2, dtype=torch.long)], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    got, w = model(padded, tgt_in[:1], src_mask=mask)
    want, _ = model(src[:1, :3], tgt_in[:1])
    torch.testing.assert_close(got, want)
    if attention:
        assert (w[..., 3:] == 0).all()


@pytest.mark.parametrize("attention", [False, True])
def test_greedy_decode_equals_teacher_forcing_on_its_own_output(attention):
    torch.manual_seed(1)
    model = GRUSeq2Seq(9, 8, attention=attention).eval()
    src = torch.randint(3, 9, (4, 6))
    out = model.greedy_decode(src, bos_id=1, eos_id=2, max_len=7)
    assert out.shape[0] == 4 and 1 <= out.shape[1] <= 7 and out.dtype == torch.long
    tgt_in = torch.cat([torch.ones(4, 1, dtype=torch.long), out[:, :-1]], dim=1)
    logits, _ = model(src, tgt_in)
    first_eos = [(row == 2).nonzero()[0].item() if (row == 2).any() else len(row) for row in out]
    for b, stop in enumerate(first_eos):  # up to each row's EOS, argmax of teacher forcing = output
        assert torch.equal(logits[b, : stop + 1].argmax(-1)[: len(out[b])], out[b, : stop + 1])
        assert (out[b, stop:] == 2).all() or stop == out.shape[1]


def test_greedy_decode_stops_when_every_row_has_ended():
    model = GRUSeq2Seq(5, 4, attention=True)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0, 0.0]))  # always EOS (2)
    out = model.greedy_decode(torch.randint(3, 5, (3, 4)), bos_id=1, eos_id=2, max_len=10)
    assert out.tolist() == [[2], [2], [2]]
    with torch.no_grad():
        model.out.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 5.0, 0.0]))  # never EOS
    assert model.greedy_decode(torch.randint(3, 5, (2, 4)), 1, 2, max_len=6).shape == (2, 6)


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_overfits_a_tiny_batch(attention):
    torch.manual_seed(0)
    model = GRUSeq2Seq(8, 24, attention=attention)
    src = torch.randint(3, 8, (4, 5), generator=torch.Generator().manual_seed(0))
    tgt_out = torch.cat([src.flip(1), torch.full((4, 1), 2)], dim=1)
    tgt_in = torch.cat([torch.ones(4, 1, dtype=torch.long), src.flip(1)], dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(80):
        logits, _ = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, 8), tgt_out.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert torch.equal(model.greedy_decode(src, 1, 2, max_len=6), tgt_out)


def test_seq2seq_errors():
    with pytest.raises(TypeError, match="attention=1"):
        GRUSeq2Seq(5, 4, attention=1)
    model = GRUSeq2Seq(5, 4, attention=True)
    src = torch.randint(3, 5, (2, 3))
    with pytest.raises(ValueError, match="src_mask must be True on a non-empty prefix"):
        model(src, src, src_mask=torch.tensor([[False, True, True], [True, True, True]]))
    with pytest.raises(ValueError, match="src_mask must be a bool tensor"):
        model(src, src, src_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="batch"):
        model(src, src[:1])
    with pytest.raises(ValueError, match="tgt_in has token ids"):
        model(src, src + 5)
    with pytest.raises(ValueError, match="eos_id=7"):
        model.greedy_decode(src, 1, 7, max_len=3)
    with pytest.raises(ValueError, match="max_len=0"):
        model.greedy_decode(src, 1, 2, max_len=0)


def test_the_attention_query_is_the_state_before_reading_the_previous_token():
    """Bahdanau's e_tj = a(s_{t-1}, h_j): the weights of step t come from the decoder state before
    it reads y_{t-1} = tgt_in[:, t], so changing tgt_in[:, t] leaves rows 0..t alone and changes
    row t + 1 (a Luong-style query, computed after reading, would change row t)."""
    torch.manual_seed(0)
    model = GRUSeq2Seq(9, 8, attention=True).double()
    src, tgt_in = torch.randint(3, 9, (2, 5)), torch.randint(3, 9, (2, 4))
    _, weights = model(src, tgt_in)
    states, last = model.encode(src)
    torch.testing.assert_close(weights[:, 0], model.attn(last, states)[1])  # s_0 = h_S
    for t in range(3):
        changed = tgt_in.clone()
        changed[:, t] = 3 + (changed[:, t] - 2) % 6  # another symbol in every row
        _, w2 = model(src, changed)
        torch.testing.assert_close(w2[:, : t + 1], weights[:, : t + 1])
        assert (w2[:, t + 1] - weights[:, t + 1]).abs().max() > 1e-6
    # step by step: the query of row t + 1 is the decoder state after reading y_t and c_t
    s = last[None].contiguous()
    for t in range(4):
        c, a = model.attn(s[0], states)
        torch.testing.assert_close(a, weights[:, t])
        _, s = model.decoder(torch.cat([model.tgt_embed(tgt_in[:, t]), c], dim=-1)[:, None], s)


def test_forget_bias_opens_the_lstm_forget_gate_only():
    torch.manual_seed(0)
    base = RecurrentClassifier(7, 6, "lstm")
    torch.manual_seed(0)
    opened = RecurrentClassifier(7, 6, "lstm", forget_bias=1.0)
    b0, b1 = base.rnn.bias_ih_l0.detach(), opened.rnn.bias_ih_l0.detach()
    torch.testing.assert_close(b1[6:12], b0[6:12] + 1)  # gate order i, f, g, o
    torch.testing.assert_close(b1[:6], b0[:6])
    torch.testing.assert_close(b1[12:], b0[12:])
    torch.testing.assert_close(opened.rnn.bias_hh_l0, base.rnn.bias_hh_l0)
    x = torch.randint(7, (3, 4))
    assert not torch.allclose(opened(x), base(x))
    # the default leaves PyTorch's initialisation as it is
    torch.manual_seed(0)
    torch.testing.assert_close(RecurrentClassifier(7, 6, "lstm", forget_bias=0.0)(x), base(x))
    with pytest.raises(ValueError, match="cell='lstm' only"):
        RecurrentClassifier(7, 6, "gru", forget_bias=1.0)
    with pytest.raises(TypeError, match="forget_bias"):
        RecurrentClassifier(7, 6, "lstm", forget_bias="1")
    with pytest.raises(ValueError, match="forget_bias=inf"):
        RecurrentClassifier(7, 6, "lstm", forget_bias=float("inf"))


def test_new_errors_are_clear():
    attn = AdditiveAttention(3, 4)
    with pytest.raises(ValueError, match="d_query=3"):
        attn(torch.randn(2, 5), torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match="d_key=4"):
        attn(torch.randn(2, 3), torch.randn(2, 6, 5))
    model = GRUSeq2Seq(9, 8, attention=True)
    with pytest.raises(ValueError, match="empty"):
        model(torch.randint(3, 9, (2, 5)), torch.zeros(2, 0, dtype=torch.long))
