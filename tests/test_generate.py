"""Decoding: the KV cache changes nothing but the cost; filters, sampling, eos; greedy and beam."""

import pytest
import torch
from torch import nn

from companion.attention import padding_mask
from companion.generate import (
    beam_search,
    beam_search_lm,
    distinct_n,
    filter_logits,
    generate,
    greedy_decode,
    penalize_repetition,
    sample_next,
    token_nll,
)
from companion.models import GPT, EncoderDecoder, EncoderDecoderConfig, GPTConfig

VOCAB, MAX_LEN = 23, 16


def spread(model: nn.Module, seed: int) -> nn.Module:
    """Re-draw every weight matrix from N(0, 1 / fan_in): a random model with confident predictions.

    With the default N(0, 0.02) the logits of a fresh model are almost equal, and an argmax could
    flip on a float rounding difference between two correct computations.
    """
    torch.manual_seed(seed)
    for p in model.parameters():
        if p.ndim >= 2:  # linear and embedding weights; LayerNorms and biases keep their init
            nn.init.normal_(p, std=p.shape[-1] ** -0.5)
    return model.eval()


def make_gpt(pos_encoding: str = "learned", dropout: float = 0.0, seed: int = 0) -> GPT:
    config = GPTConfig(
        vocab_size=VOCAB,
        d_model=32,
        n_heads=4,
        n_layers=2,
        max_len=MAX_LEN,
        pos_encoding=pos_encoding,
        dropout=dropout,
        tie_weights=False,  # tied, a random model tends to repeat its input token
    )
    return spread(GPT(config), seed)


def make_seq2seq(seed: int = 0) -> EncoderDecoder:
    config = EncoderDecoderConfig(
        vocab_size=19,
        tgt_vocab_size=17,
        d_model=32,
        n_heads=4,
        n_layers=2,
        max_len=12,
        pos_encoding="learned",
        tie_weights=False,  # tied, a random model tends to repeat its input token
    )
    return spread(EncoderDecoder(config), seed)


def prompt(batch: int, seq: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


# --- the cache ------------------------------------------------------------------------------

POSITIONS = ["learned", "rotary", "sinusoidal", "alibi", "none"]


@pytest.mark.parametrize("pos_encoding", POSITIONS)
@pytest.mark.parametrize("prompt_len", [5, MAX_LEN + 4])  # the second starts beyond the context
def test_cached_equals_uncached_greedy(pos_encoding, prompt_len):
    model, ids = make_gpt(pos_encoding), prompt(2, prompt_len)
    n_new = 2 * MAX_LEN  # runs well past max_len: the window slides
    cached = generate(model, ids, n_new, temperature=0, use_cache=True)
    uncached = generate(model, ids, n_new, temperature=0, use_cache=False)
    assert cached.shape == (2, prompt_len + n_new)
    assert torch.equal(cached[:, :prompt_len], ids)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("pos_encoding", POSITIONS)
@pytest.mark.parametrize("filters", [{}, {"top_k": 5}, {"top_p": 0.8}])
def test_cached_equals_uncached_sampled(pos_encoding, filters):
    model, ids = make_gpt(pos_encoding), prompt(3, 4)
    runs = [
        generate(model, ids, 30, generator=torch.Generator().manual_seed(7), use_cache=c, **filters)
        for c in (True, False)
    ]
    assert torch.equal(runs[0], runs[1])


def test_cached_generation_matches_a_manual_uncached_loop():
    """The reference: nanoGPT's loop, written out, run on the last max_len tokens each step."""
    model, ids = make_gpt("learned"), prompt(2, 6)
    expected = ids
    with torch.no_grad():
        for _ in range(25):
            logits = model(expected[:, -MAX_LEN:])[:, -1]
            expected = torch.cat([expected, logits.argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generate(model, ids, 25, temperature=0), expected)


def fed_lengths(model: GPT, **kwargs) -> list[int]:
    """The number of token positions the model runs at each step of :func:`generate`."""
    lengths: list[int] = []
    hook = model.body.embed.token.register_forward_hook(
        lambda module, args, out: lengths.append(args[0].shape[1])
    )
    try:
        generate(model, prompt(1, 5), 14, temperature=0, **kwargs)
    finally:
        hook.remove()
    return lengths


def test_cache_prefills_once_then_runs_one_token_per_step():
    # 5 prompt tokens, then one per step up to 16 = max_len; past it the window is recomputed.
    assert fed_lengths(make_gpt(), use_cache=True) == [5] + [1] * 11 + [MAX_LEN] * 2


def test_uncached_runs_the_whole_window_every_step():
    assert fed_lengths(make_gpt(), use_cache=False) == list(range(5, MAX_LEN + 1)) + [MAX_LEN] * 2


# --- filters and sampling -------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 10, 50, 80])
def test_top_k_keeps_exactly_the_k_largest(k):
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    out = filter_logits(logits, top_k=k)
    kept = torch.isfinite(out)
    assert (kept.sum(-1) == min(k, 50)).all()
    assert torch.equal(out[kept], logits[kept])  # kept logits are unchanged
    if k < 50:  # every kept logit beats every removed one
        assert (
            logits.masked_fill(~kept, torch.inf).amin(-1)
            > logits.masked_fill(kept, -torch.inf).amax(-1)
        ).all()


def test_top_k_keeps_exactly_k_among_ties():
    assert torch.isfinite(filter_logits(torch.zeros(2, 10), top_k=3)).sum(-1).tolist() == [3, 3]


# Probabilities in vocabulary order; sorted they are 0.5 (id 1), 0.3 (id 3), 0.15 (id 2), 0.05 (id 0).
NUCLEUS_PROBS = torch.tensor([0.05, 0.5, 0.15, 0.3])


@pytest.mark.parametrize(
    ("top_p", "nucleus"),
    [
        (0.05, {1}),
        (0.45, {1}),
        (0.7, {1, 3}),
        (0.9, {1, 2, 3}),
        (0.97, {0, 1, 2, 3}),
        (1.0, {0, 1, 2, 3}),
    ],
)
def test_top_p_keeps_the_minimal_nucleus(top_p, nucleus):
    logits = NUCLEUS_PROBS.log()[None].repeat(2, 1)  # (2, 4)
    out = filter_logits(logits, top_p=top_p)
    for row in torch.isfinite(out):
        assert set(row.nonzero().flatten().tolist()) == nucleus
    assert torch.equal(out[torch.isfinite(out)], logits[torch.isfinite(out)])


def test_top_k_then_top_p():
    # top-2 leaves {1: 0.5, 3: 0.3}, renormalised 0.625 / 0.375; p = 0.6 then keeps only id 1.
    out = filter_logits(NUCLEUS_PROBS.log()[None], top_k=2, top_p=0.6)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [1]


def test_temperature_zero_is_argmax():
    logits = torch.randn(6, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next(logits, temperature=0), logits.argmax(-1))
    assert torch.equal(sample_next(logits, temperature=0, top_k=3, top_p=0.1), logits.argmax(-1))


def test_sampling_with_a_fixed_generator_is_reproducible():
    model, ids = make_gpt(), prompt(2, 3)

    def run(seed):
        return generate(model, ids, 20, top_k=10, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


@pytest.mark.parametrize(
    ("temperature", "top_k", "expected"),
    [
        (1.0, None, torch.tensor([0.1, 0.2, 0.3, 0.4])),
        (2.0, None, (torch.tensor([0.1, 0.2, 0.3, 0.4]).log() / 2).softmax(-1)),
        (1.0, 2, torch.tensor([0.0, 0.0, 3 / 7, 4 / 7])),
    ],
)
def test_sampling_frequencies_match_the_softmax(temperature, top_k, expected):
    logits = torch.tensor([0.1, 0.2, 0.3, 0.4]).log()[None].repeat(40_000, 1)
    ids = sample_next(logits, temperature, top_k, generator=torch.Generator().manual_seed(0))
    frequencies = torch.bincount(ids, minlength=4) / len(ids)
    torch.testing.assert_close(frequencies, expected, atol=0.01, rtol=0)


# --- generate's other duties ----------------------------------------------------------------


def test_eos_stops_each_sequence_and_pads_it():
    model, ids = make_gpt(), prompt(3, 4)
    free = generate(model, ids, 20, temperature=0)[:, 4:].tolist()  # no eos: the reference
    padded = 0  # sequences whose free run went on with another token after the eos
    for eos in range(VOCAB):
        out = generate(model, ids, 20, temperature=0, eos_id=eos)[:, 4:].tolist()
        stops = [row.index(eos) if eos in row else None for row in free]
        if None in stops:  # some sequence never produced eos: all 20 tokens
            assert len(out[0]) == 20
        else:  # stopped once every sequence had its eos
            assert len(out[0]) == max(stops) + 1
        for row_free, row, stop in zip(free, out, stops, strict=True):
            if stop is None:
                assert row == row_free
            else:
                assert row[: stop + 1] == row_free[: stop + 1]  # identical until its eos
                assert all(t == eos for t in row[stop:])  # then eos only
                padded += row_free[stop : len(row)] != row[stop:]
    assert padded > 0


def test_training_mode_is_restored_and_dropout_is_off_while_generating():
    model, ids = make_gpt(dropout=0.5), prompt(2, 4)
    reference = generate(model, ids, 10, temperature=0)  # model is in eval mode
    assert not model.training
    model.train()
    assert torch.equal(generate(model, ids, 10, temperature=0), reference)  # no dropout
    assert model.training


def test_progress_bar_shows_and_changes_nothing(capsys):
    model, ids = make_gpt(), prompt(1, 3)
    quiet = generate(model, ids, 5, temperature=0)
    assert capsys.readouterr().err == ""
    assert torch.equal(generate(model, ids, 5, temperature=0, progress=True), quiet)
    err = capsys.readouterr().err
    assert "generate" in err and "5/5" in err


def test_generate_zero_new_tokens_returns_the_prompt():
    ids = prompt(2, 4)
    assert torch.equal(generate(make_gpt(), ids, 0), ids)


# --- sequence to sequence -------------------------------------------------------------------

BOS, NEVER = 0, 99  # NEVER: an eos id the model cannot produce (tgt_vocab_size = 17)


def sources(n: int = 5, src_len: int = 7) -> torch.Tensor:
    return torch.randint(1, 19, (n, src_len), generator=torch.Generator().manual_seed(3))


def sequence_log_prob(model: EncoderDecoder, src: torch.Tensor, tokens: list[int]) -> float:
    """Teacher-forced sum of log p(tokens[t] | bos, tokens[:t], src) for one source ``(1, src_len)``."""
    tgt = torch.tensor([[BOS] + tokens[:-1]])
    with torch.no_grad():
        log_probs = model(src, tgt).log_softmax(-1)[0]  # (len, vocab)
    return float(log_probs[torch.arange(len(tokens)), tokens].sum())


def test_greedy_decode_stops_at_eos_and_excludes_bos():
    model, src = make_seq2seq(), sources()
    free = greedy_decode(model, src, BOS, NEVER, max_len=10)
    assert all(len(t) == 10 for t in free)  # no eos: max_len tokens each
    eos = free[0][2]
    out = greedy_decode(model, src, BOS, eos, max_len=10)
    for row_free, row in zip(free, out, strict=True):
        stop = row_free.index(eos) + 1 if eos in row_free else len(row_free)
        assert row == row_free[:stop]  # ends with its first eos, nothing after it
    assert out[0][-1] == eos and len(out[0]) <= 3


def test_greedy_decode_with_padding_equals_decoding_each_source_alone():
    model, src = make_seq2seq(), sources(3)
    lengths = [7, 4, 5]
    padded = src.clone()
    for i, n in enumerate(lengths):
        padded[i, n:] = 0
    batch = greedy_decode(model, padded, BOS, NEVER, 8, src_mask=padding_mask(lengths, 7))
    alone = [
        greedy_decode(model, src[i : i + 1, :n], BOS, NEVER, 8)[0] for i, n in enumerate(lengths)
    ]
    assert batch == alone


TGT_VOCAB = 17
ALL_EOS = range(TGT_VOCAB)  # every id as eos: some sources produce it, some do not


def test_greedy_decode_equals_beam_search_with_one_beam():
    model, src = make_seq2seq(), sources()
    ended = []
    for eos in ALL_EOS:
        greedy = greedy_decode(model, src, BOS, eos, 10)
        beams = [beam_search(model, src[i : i + 1], BOS, eos, 10, beam_size=1) for i in range(5)]
        assert [b[0][0] for b in beams] == greedy
        ended += [t[-1] == eos for t in greedy]
    assert any(ended) and not all(ended)  # both kinds of hypothesis were compared


@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_scores_are_log_probs_and_beat_greedy(seed):
    model, src = make_seq2seq(seed), sources(2)
    for eos in ALL_EOS:
        greedy = greedy_decode(model, src, BOS, eos, 8)
        for i, one in enumerate(src.split(1)):
            hypotheses = beam_search(model, one, BOS, eos, 8, beam_size=3)
            assert 1 <= len(hypotheses) <= 3
            scores = [s for _, s in hypotheses]
            assert scores == sorted(scores, reverse=True)
            for tokens, s in hypotheses:
                assert eos not in tokens[:-1] and 1 <= len(tokens) <= 8
                assert s == pytest.approx(sequence_log_prob(model, one, tokens), abs=1e-4)
            assert scores[0] >= sequence_log_prob(model, one, greedy[i]) - 1e-4


def test_beam_search_finds_a_better_hypothesis_than_greedy_somewhere():
    """Not a theorem, but on a random model a wider beam must beat greedy at least sometimes."""
    model, src = make_seq2seq(), sources()
    gains = []
    for eos in ALL_EOS:
        greedy = greedy_decode(model, src, BOS, eos, 8)
        for i, one in enumerate(src.split(1)):
            best = beam_search(model, one, BOS, eos, 8, beam_size=4)[0][1]
            gains.append(best - sequence_log_prob(model, one, greedy[i]))
    assert max(gains) > 0.1


def test_beam_search_length_penalty_divides_by_length():
    model, src = make_seq2seq(), sources(1)
    eos = greedy_decode(model, src, BOS, NEVER, 10)[0][2]
    hypotheses = beam_search(model, src, BOS, eos, 10, beam_size=3, length_penalty=1.0)
    for tokens, s in hypotheses:
        assert s * len(tokens) == pytest.approx(sequence_log_prob(model, src, tokens), abs=1e-4)


class ScriptedSeq2Seq(EncoderDecoder):
    """Says SCRIPT, then eos, with probability ~0.99 per token whatever the source; at every step
    eos is the runner-up (log-odds -5) and every other token far behind (-10). The step is read
    from the length of the prefix, so it is run without a key/value cache (as beam_search is)."""

    SCRIPT, EOS = [3, 4, 5, 6, 7, 8], 1

    def decode(self, tgt, memory, src_mask=None, cache=None, need_weights=False):
        t = tgt.shape[1] - 1  # tokens after bos
        logits = torch.full((*tgt.shape, self.config.tgt_vocab_size), -10.0)
        logits[..., self.EOS] = -5.0
        logits[..., self.SCRIPT[t] if t < len(self.SCRIPT) else self.EOS] = 0.0
        return logits


def test_beam_search_does_not_stop_at_the_first_improbable_endings():
    """After 4 steps a beam of 4 has finished 4 hypotheses, all ending early at log-prob ~ -5;
    the script (~ -0.05) is still live and must win: stopping then would return an early ending."""
    config = EncoderDecoderConfig(
        vocab_size=19, tgt_vocab_size=17, d_model=8, n_heads=2, max_len=12
    )
    model, src = ScriptedSeq2Seq(config), sources(1)
    eos, script = ScriptedSeq2Seq.EOS, ScriptedSeq2Seq.SCRIPT
    for beam_size in (1, 2, 4, 6):  # 1: greedy (decode ignores the cache, so no greedy_decode)
        best, score = beam_search(model, src, BOS, eos, 10, beam_size=beam_size)[0]
        assert best == script + [eos] and score > -0.1, beam_size
        # stopping as soon as beam_size hypotheses have ended returns the first early ending
        early = beam_search(model, src, BOS, eos, 10, beam_size=beam_size, early_stopping=True)
        assert (early[0][0] == script + [eos]) == (beam_size == 1), beam_size
        assert len(early) == beam_size and all(len(t) <= beam_size for t, _ in early[1:])


# --- errors ---------------------------------------------------------------------------------

LOGITS = torch.zeros(2, 5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: filter_logits(LOGITS, top_k=0), r"top_k=0 must be an integer >= 1"),
        (lambda: filter_logits(LOGITS, top_k=2.5), r"top_k=2.5 must be an integer"),
        (lambda: filter_logits(LOGITS, top_p=0.0), r"top_p=0.0 must lie in \(0, 1\]"),
        (lambda: filter_logits(LOGITS, top_p=1.5), r"top_p=1.5 must lie in \(0, 1\]"),
        (lambda: sample_next(LOGITS, temperature=-1.0), r"temperature=-1.0 must be >= 0"),
        (lambda: sample_next(LOGITS[0]), r"logits must have shape \(batch, vocab\)"),
        (lambda: generate(make_gpt(), prompt(2, 0), 3), r"the prompt is empty"),
        (lambda: generate(make_gpt(), prompt(2, 3), -1), r"max_new_tokens=-1 must be >= 0"),
        (lambda: generate(make_gpt(), prompt(2, 3), 3, temperature=-0.5), r"temperature=-0.5"),
        (lambda: generate(make_gpt(), prompt(2, 3), 3, top_k=0), r"top_k=0"),
        (
            lambda: greedy_decode(make_seq2seq(), sources(), BOS, 1, 0),
            r"max_len=0 must lie in \[1, 12\]",
        ),
        (lambda: greedy_decode(make_seq2seq(), sources(), BOS, 1, 13), r"max_len=13 must lie in"),
        (
            lambda: beam_search(make_seq2seq(), sources(2), BOS, 1, 5),
            r"src must have shape \(1, src_len\)",
        ),
        (lambda: beam_search(make_seq2seq(), sources(1), BOS, 1, 5, beam_size=0), r"beam_size=0"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_generate_refuses_a_prompt_without_batch_dimension():
    with pytest.raises(ValueError, match=r"add a batch dimension"):
        generate(make_gpt(), torch.tensor([1, 2, 3]), 3)


# --- ties in the filters --------------------------------------------------------------------


def test_top_k_among_ties_keeps_the_lower_ids():
    logits = torch.tensor([[1.0, 2.0, 1.0, 2.0, 1.0, 0.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=3))[0]
    assert kept.nonzero().flatten().tolist() == [0, 1, 3]


@pytest.mark.parametrize(
    ("probs", "top_p", "nucleus"),
    [
        ([0.25, 0.5, 0.25], 0.75, [0, 1]),  # the mass before id 2 is exactly 0.75: not needed
        ([0.25, 0.5, 0.25], 0.76, [0, 1, 2]),
        ([0.25, 0.25, 0.25, 0.25], 0.5, [0, 1]),  # ties straddling p: the lower ids first
        ([0.125, 0.125, 0.5, 0.25], 0.875, [0, 2, 3]),
    ],
)
def test_top_p_keeps_the_token_that_crosses_p_and_breaks_ties_by_id(probs, top_p, nucleus):
    out = filter_logits(torch.tensor([probs]).log(), top_p=top_p)
    assert torch.isfinite(out)[0].nonzero().flatten().tolist() == nucleus


def test_top_p_nucleus_is_the_smallest_set_with_enough_mass():
    g = torch.Generator().manual_seed(5)
    logits = 3 * torch.randn(64, 40, generator=g)
    for top_p in (0.1, 0.5, 0.9, 0.99):
        kept = torch.isfinite(filter_logits(logits, top_p=top_p))
        probs = logits.softmax(-1)
        ranked = probs.sort(-1, descending=True).values.cumsum(-1)  # (64, 40)
        smallest = (ranked < top_p).sum(-1) + 1  # the fewest tokens whose mass reaches top_p
        assert torch.equal(kept.sum(-1), smallest.clamp(max=40))
        assert ((probs * kept).sum(-1) >= top_p - 1e-6).all()
        # every kept token is at least as likely as every removed one
        assert (probs.masked_fill(~kept, 2).amin(-1) >= probs.masked_fill(kept, -1).amax(-1)).all()


# --- the repetition penalty -----------------------------------------------------------------


def test_penalize_repetition_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    previous = torch.tensor([[0, 1, 1, 4], [3, 3, 3, 3]])  # repeats count once
    out = penalize_repetition(logits, previous, 2.0)
    expected = torch.tensor([[1.0, -2.0, 0.5, -3.0, 0.0], [1.0, 1.0, 1.0, 0.5, 1.0]])
    assert torch.equal(out, expected)
    assert torch.equal(penalize_repetition(logits, previous, 1.0), logits)
    assert torch.equal(penalize_repetition(logits, previous[:, :0], 3.0), logits)  # no history
    # the penalty never raises a seen token's probability, for any penalty > 1
    for theta in (1.2, 1.5, 10.0):
        assert (penalize_repetition(logits, previous, theta) <= logits).all()


def manual_penalized_greedy(model, ids, n, theta, window):
    for _ in range(n):
        logits = model(ids[:, -MAX_LEN:])[:, -1]
        recent = ids if window is None else ids[:, -window:]
        ids = torch.cat([ids, penalize_repetition(logits, recent, theta).argmax(-1, True)], 1)
    return ids


@pytest.mark.parametrize(("theta", "window"), [(1.5, None), (3.0, 4), (0.5, 2)])
def test_generate_applies_the_penalty_to_the_recent_tokens(theta, window):
    model, ids = make_gpt(), prompt(3, 5)
    with torch.no_grad():
        expected = manual_penalized_greedy(model, ids, 20, theta, window)
    out = generate(model, ids, 20, temperature=0, repetition_penalty=theta, penalty_window=window)
    assert torch.equal(out, expected)
    plain = generate(model, ids, 20, temperature=0)
    assert not torch.equal(out, plain)  # the penalty did change something


def test_a_strong_penalty_without_window_avoids_repeats_while_it_can():
    model, ids = make_gpt(), prompt(2, 1)
    out = generate(model, ids, VOCAB - 1, temperature=0, repetition_penalty=1e9)
    for row in out.tolist():  # every logit of a seen token is pushed to ~0 or far below
        plain = generate(model, torch.tensor([row[:1]]), VOCAB - 1, temperature=0)[0].tolist()
        assert len(set(row)) > len(set(plain))


# --- beam search on a GPT -------------------------------------------------------------------


def continuation_log_prob(model, prompt_ids: list[int], tokens: list[int]) -> float:
    ids = torch.tensor([prompt_ids + tokens])
    return -float(token_nll(model, ids, start=len(prompt_ids)).sum())


@pytest.mark.parametrize("prompt_len", [1, 6])
def test_beam_search_lm_with_one_beam_is_greedy(prompt_len):
    model = make_gpt()
    for row in prompt(2, prompt_len).split(1):
        greedy = generate(model, row, 14, temperature=0)[0, prompt_len:].tolist()
        ((tokens, score),) = beam_search_lm(model, row, 14, beam_size=1)
        assert tokens == greedy  # 6 + 14 > MAX_LEN: the window slides as in generate
        assert score == pytest.approx(
            continuation_log_prob(model, row[0].tolist(), tokens), abs=1e-4
        )


def test_beam_search_lm_scores_are_log_probs_and_beat_greedy():
    model, gains = make_gpt(seed=1), []
    for row in prompt(4, 3, seed=2).split(1):
        hypotheses = beam_search_lm(model, row, 15, beam_size=4)
        scores = [s for _, s in hypotheses]
        assert len(hypotheses) == 4 and scores == sorted(scores, reverse=True)
        for tokens, s in hypotheses:
            assert len(tokens) == 15
            assert s == pytest.approx(
                continuation_log_prob(model, row[0].tolist(), tokens), abs=1e-4
            )
        greedy = generate(model, row, 15, temperature=0)[0, 3:].tolist()
        greedy_score = continuation_log_prob(model, row[0].tolist(), greedy)
        assert scores[0] >= greedy_score - 1e-4
        gains.append(scores[0] - greedy_score)
    assert max(gains) > 0.1  # not a theorem, but a beam of 4 must beat greedy somewhere


def test_beam_search_lm_ends_hypotheses_at_eos():
    model, row = make_gpt(), prompt(1, 2)
    eos = generate(model, row, 10, temperature=0)[0, 4].item()  # greedy's third new token
    hypotheses = beam_search_lm(model, row, 10, beam_size=3, eos_id=eos)
    for tokens, s in hypotheses:
        assert eos not in tokens[:-1]
        assert s == pytest.approx(continuation_log_prob(model, row[0].tolist(), tokens), abs=1e-4)
    assert any(tokens[-1] == eos for tokens, _ in hypotheses)


# --- scoring a text -------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [2, 9, MAX_LEN, MAX_LEN + 1, 3 * MAX_LEN + 5])
def test_token_nll_scores_each_token_in_the_window_generate_used(seq):
    model, ids = make_gpt("rotary"), prompt(2, seq, seed=4)
    with torch.no_grad():
        expected = torch.stack(
            [
                -model(ids[:, max(0, t - MAX_LEN) : t])[:, -1].log_softmax(-1)[
                    torch.arange(2), ids[:, t]
                ]
                for t in range(1, seq)
            ],
            dim=1,
        )  # (2, seq - 1)
    torch.testing.assert_close(token_nll(model, ids), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(token_nll(model, ids, chunk=3), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        token_nll(model, ids, start=seq - 1), expected[:, -1:], atol=1e-5, rtol=0
    )


def test_token_nll_equals_the_training_loss_within_the_window():
    model, ids = make_gpt(), prompt(3, MAX_LEN)
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(ids[:, :-1]).transpose(1, 2), ids[:, 1:])
    assert token_nll(model, ids).mean().item() == pytest.approx(loss.item(), abs=1e-5)


# --- distinct-n ------------------------------------------------------------------------------


def test_distinct_n_by_hand():
    assert distinct_n(["abab"], 1) == 2 / 4
    assert distinct_n(["abab"], 2) == 2 / 3  # ab, ba, ab
    assert distinct_n(["abab", "abc"], 2) == 3 / 5  # ab ba ab | ab bc
    assert distinct_n(["abcd"], 4) == 1.0
    assert distinct_n(["ab", "abc"], 3) == 1.0  # "ab" has no 3-gram
    assert distinct_n([[1, 2, 1, 2], [2, 1]], 2) == 2 / 4  # token ids: (1,2) (2,1) (1,2) (2,1)
    assert distinct_n(["aaaaaaaaaa"], 3) == 1 / 8


# --- errors of the new functions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match", "error"),
    [
        (
            lambda: penalize_repetition(LOGITS, torch.zeros(2, 1, dtype=torch.long), 0.0),
            r"penalty=0.0",
            ValueError,
        ),
        (
            lambda: penalize_repetition(LOGITS, torch.zeros(3, 1, dtype=torch.long), 1.2),
            r"same batch",
            ValueError,
        ),
        (
            lambda: generate(make_gpt(), prompt(1, 3), 2, repetition_penalty=-1.0),
            r"repetition_penalty=-1.0",
            ValueError,
        ),
        (
            lambda: generate(make_gpt(), prompt(1, 3), 2, penalty_window=0),
            r"penalty_window=0",
            ValueError,
        ),
        (
            lambda: beam_search_lm(make_gpt(), prompt(2, 3), 5),
            r"ids must have shape \(1, seq\)",
            ValueError,
        ),
        (lambda: beam_search_lm(make_gpt(), prompt(1, 3), 0), r"max_new_tokens=0", ValueError),
        (
            lambda: beam_search_lm(make_gpt(), prompt(1, 3), 4, beam_size=0),
            r"beam_size=0",
            ValueError,
        ),
        (
            lambda: token_nll(make_gpt(), prompt(1, 3), start=0),
            r"start=0 must be an int with 1 <= start < seq = 3",
            ValueError,
        ),
        (lambda: token_nll(make_gpt(), prompt(1, 3), start=3), r"start=3", ValueError),
        (lambda: distinct_n("abc", 1), r"wrap it in a list", ValueError),
        (lambda: distinct_n(["ab"], 3), r"no 3-gram", ValueError),
        (lambda: distinct_n(["ab"], 0), r"n=0 must be a positive int", ValueError),
    ],
)
def test_errors_of_the_decoding_tools(call, match, error):
    with pytest.raises(error, match=match):
        call()
