"""Decoding: turn a model's next-token scores into text.

A language model gives, at each step, logits ``z`` over the vocabulary; decoding picks the next
token from them and feeds it back. The choices differ in how they pick:

=============  =========================================================================
greedy         ``argmax z`` (temperature 0): deterministic, often repetitive
temperature    sample from ``softmax(z / T)``: ``T < 1`` sharpens, ``T > 1`` flattens
top-k          sample among the ``k`` most likely tokens only (Fan et al. 2018)
top-p          sample from the nucleus: the fewest tokens whose mass reaches ``p``
               (Holtzman et al. 2020)
repetition     divide the positive logits of tokens already in the text by ``theta`` and
penalty        multiply the negative ones (Keskar et al. 2019)
beam search    keep the ``beam_size`` best prefixes by total log-probability
=============  =========================================================================

:func:`generate` runs a :class:`~companion.models.GPT` with a key/value cache so that each step
computes one position instead of the whole sequence; it produces exactly the tokens of the
uncached loop of nanoGPT. :func:`greedy_decode` and :func:`beam_search` decode an
:class:`~companion.models.EncoderDecoder`; :func:`beam_search_lm` runs the same beam search on a
GPT. :func:`token_nll` scores a text under a GPT and :func:`distinct_n` measures how varied a set
of texts is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion import validators as check
from companion.attention import KVCache
from companion.models import GPT, EncoderDecoder, check_ids

__all__ = [
    "beam_search",
    "beam_search_lm",
    "distinct_n",
    "filter_logits",
    "generate",
    "greedy_decode",
    "penalize_repetition",
    "sample_next",
    "token_nll",
]

Hypothesis = tuple[list[int], float]  # (token ids without bos, sum of their log-probs)


def _check_filters(top_k: int | None, top_p: float | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(
            f"top_k={top_k!r} must be an integer >= 1 (the number of tokens to keep); "
            "pass None to keep every token"
        )
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(
            f"top_p={top_p!r} must lie in (0, 1] (the probability mass to keep); "
            "pass None or 1.0 to keep every token"
        )


def _check_temperature(temperature: float) -> None:
    if temperature < 0:
        raise ValueError(
            f"temperature={temperature!r} must be >= 0; use 0 for greedy decoding, "
            "1 to sample from the model's distribution"
        )


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to ``-inf`` the logits that top-k and/or top-p sampling rule out.

    - top-k keeps the ``k`` largest logits of each row (exactly ``k``: among equal logits the
      lower token id comes first).
    - top-p (the nucleus) keeps the smallest set of most likely tokens whose probability mass
      reaches ``p``: sort the probabilities ``p_(1) >= p_(2) >= ...`` and keep token ``(i)``
      while the mass before it, ``p_(1) + ... + p_(i-1)``, is below ``p``. So the token whose
      probability carries the mass across ``p`` is kept, and the most likely token always is.
      The set is unique unless tied probabilities straddle the boundary; then the lower ids are
      kept first, as in top-k.

    Both given: top-k first, then top-p on what remains (as in Hugging Face's ``generate``).

    Args:
        logits: ``(..., vocab)`` scores.
        top_k: an integer >= 1, or None; values above ``vocab`` keep everything.
        top_p: a float in ``(0, 1]``, or None; 1 keeps everything.

    Returns:
        A new ``(..., vocab)`` tensor: kept logits unchanged, the others ``-inf``.
    """
    _check_filters(top_k, top_p)
    logits = logits.clone()
    if top_k is not None and top_k < logits.shape[-1]:
        order = logits.sort(dim=-1, descending=True, stable=True).indices  # (..., vocab)
        remove = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., top_k:], True)
        logits = logits.masked_fill(remove, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)  # (..., vocab)
        probs = sorted_logits.softmax(dim=-1)
        cumulative = probs.cumsum(dim=-1)
        # mass of the more likely tokens: the cumulative sum shifted right by one (0 first)
        mass_before = torch.cat([torch.zeros_like(probs[..., :1]), cumulative[..., :-1]], dim=-1)
        remove_sorted = mass_before >= top_p  # the first token has mass_before = 0 < top_p
        remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def penalize_repetition(logits: Tensor, previous: Tensor, penalty: float) -> Tensor:
    """Make the tokens that occur in ``previous`` less likely: CTRL's repetition penalty.

    For every token ``i`` in ``previous[b]``, the logit ``z_i`` of row ``b`` becomes ``z_i / theta``
    if it is positive and ``z_i * theta`` if it is negative (``theta = penalty``); the other
    logits are unchanged. Keskar et al. (2019) divide the score by ``theta`` whatever its sign,
    which for a negative score would *raise* it; Hugging Face's ``RepetitionPenaltyLogitsProcessor``
    multiplies the negative ones instead, as here. A token counts once however often it occurred.

    Args:
        logits: ``(batch, vocab)`` next-token scores.
        previous: ``(batch, seq)`` int64 ids of the text so far (``seq`` may be 0).
        penalty: ``theta > 0``; 1 changes nothing, above 1 discourages repeats (CTRL used 1.2),
            below 1 encourages them.

    Returns:
        A new ``(batch, vocab)`` tensor.
    """
    check.number("penalty", penalty, 0, low_open=True, hint="1.0 leaves the logits unchanged")
    if logits.ndim != 2 or previous.ndim != 2 or previous.shape[0] != logits.shape[0]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and previous {tuple(previous.shape)} must have shapes "
            "(batch, vocab) and (batch, seq) with the same batch"
        )
    check_ids(previous, logits.shape[-1], "previous")
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, previous, True)  # (batch, vocab)
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one token per row from ``softmax(filter(logits / temperature))``.

    Args:
        logits: ``(batch, vocab)`` next-token scores.
        temperature: ``0`` means greedy (``argmax``, the filters do not matter); otherwise the
            logits are divided by it before filtering and sampling.
        top_k, top_p: see :func:`filter_logits`.
        generator: a seeded ``torch.Generator`` for reproducible draws (on ``logits.device``).

    Returns:
        ``(batch,)`` int64 token ids.
    """
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have shape (batch, vocab), got {tuple(logits.shape)}; "
            "take the last position with logits[:, -1]"
        )
    _check_temperature(temperature)
    _check_filters(top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits / temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Run the block with ``model.eval()`` (no dropout), then restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _next_logits(
    model: GPT, ids: Tensor, cache: list[KVCache] | None, use_cache: bool
) -> tuple[Tensor, list[KVCache] | None]:
    """Logits ``(batch, vocab)`` for the token after ``ids (batch, seq)``, and the cache to reuse.

    The model sees the last ``max_len`` tokens, as in nanoGPT's uncached loop. With the cache,
    only the tokens not yet cached are run. Once the sequence is longer than ``max_len`` the
    window slides: every token changes position and the first one leaves the context, so no
    cached key is still valid and the window is recomputed from a fresh cache.
    """
    max_len = model.config.max_len
    window = ids[:, -max_len:]  # (batch, min(seq, max_len))
    if not use_cache:
        return model(window)[:, -1], None
    if cache is None or ids.shape[1] > max_len:
        cache = model.new_cache()
        return model(window, cache=cache)[:, -1], cache
    return model(ids[:, len(cache[0]) :], cache=cache)[:, -1], cache


@torch.no_grad()
def generate(
    model: GPT,
    ids: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    eos_id: int | None = None,
    progress: bool = False,
    repetition_penalty: float = 1.0,
    penalty_window: int | None = None,
) -> Tensor:
    """Continue each prompt in ``ids`` by up to ``max_new_tokens`` tokens.

    Each step computes the logits of the next token from (at most) the last
    ``model.config.max_len`` tokens and picks one with :func:`sample_next`. With ``use_cache``
    the prompt is run once (prefill) and then one new token per step, its keys and values
    appended to the cache; the result is the same as without the cache (to float tolerance in
    the logits), but each step costs one position instead of the whole window. When the
    sequence outgrows ``max_len`` the cached keys no longer match the sliding window and each
    step recomputes the window, as the uncached loop does.

    The model is put in eval mode (no dropout) and its previous mode restored afterwards.

    Args:
        model: a :class:`~companion.models.GPT`.
        ids: ``(batch, seq)`` int64 prompt token ids, ``seq >= 1``.
        max_new_tokens: number of tokens to append (>= 0).
        temperature, top_k, top_p, generator: see :func:`sample_next`.
        use_cache: reuse keys and values between steps.
        eos_id: once a sequence has produced this id it is padded with it; generation stops
            when every sequence has.
        progress: show a tqdm progress bar.
        repetition_penalty: ``theta`` of :func:`penalize_repetition`, applied before the
            temperature and the filters (also when ``temperature=0``), to every token of the
            sequence so far, the prompt included (as Hugging Face's ``generate`` does).
        penalty_window: penalize only the tokens among the last ``penalty_window`` ones (as
            llama.cpp's ``repeat_last_n``); None: the whole sequence. With characters as tokens
            nearly every letter occurs within a few hundred characters, so a window is needed.

    Returns:
        ``(batch, seq + n)`` token ids, the prompt followed by ``n <= max_new_tokens`` new ones.
    """
    check_ids(ids, model.config.vocab_size)
    if ids.shape[1] == 0:
        raise ValueError(
            f"ids has shape {tuple(ids.shape)}: the prompt is empty; start it with at least one "
            "token (e.g. a beginning-of-text or newline token)"
        )
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 0")
    _check_temperature(temperature)
    _check_filters(top_k, top_p)
    check.number("repetition_penalty", repetition_penalty, 0, low_open=True)
    check.optional(check.positive_int, "penalty_window", penalty_window)

    with _eval_mode(model):
        cache = None
        finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in tqdm(range(max_new_tokens), desc="generate", disable=not progress):
            logits, cache = _next_logits(model, ids, cache, use_cache)  # (batch, vocab)
            if repetition_penalty != 1.0:
                recent = ids if penalty_window is None else ids[:, -penalty_window:]
                logits = penalize_repetition(logits, recent, repetition_penalty)
            next_id = sample_next(logits, temperature, top_k, top_p, generator)  # (batch,)
            if eos_id is not None:
                next_id = next_id.masked_fill(finished, eos_id)
                finished |= next_id == eos_id
            ids = torch.cat([ids, next_id[:, None]], dim=1)
            if eos_id is not None and bool(finished.all()):
                break
    return ids


def _check_seq2seq(model: EncoderDecoder, src: Tensor, max_len: int) -> None:
    check_ids(src, model.config.vocab_size, "src")
    if src.shape[1] == 0:
        raise ValueError(f"src has shape {tuple(src.shape)}: the source sequence is empty")
    if not 1 <= max_len <= model.config.max_len:
        raise ValueError(
            f"max_len={max_len} must lie in [1, {model.config.max_len}]: the decoder has "
            f"{model.config.max_len} positions (model.config.max_len), one per generated token"
        )


def _until_eos(tokens: list[int], eos_id: int) -> list[int]:
    """``tokens`` up to and including the first ``eos_id`` (all of them if there is none)."""
    return tokens[: tokens.index(eos_id) + 1] if eos_id in tokens else tokens


@torch.no_grad()
def greedy_decode(
    model: EncoderDecoder,
    src: Tensor,
    bos_id: int,
    eos_id: int,
    max_len: int,
    src_mask: Tensor | None = None,
) -> list[list[int]]:
    """Translate each source sequence by taking the most likely next token until ``eos_id``.

    The source is encoded once; the decoder runs one token per step with its key/value cache
    (``model.decoder.new_cache()``; the cross-attention keys of the memory are computed once).

    Args:
        model: an :class:`~companion.models.EncoderDecoder` (run in eval mode).
        src: ``(batch, src_len)`` source token ids.
        bos_id: the token that starts every target.
        eos_id: the token that ends one.
        max_len: the most tokens to generate per sequence (at most ``model.config.max_len``).
        src_mask: bool ``(batch, 1, src_len)``, True = a real source token (may attend), e.g.
            ``padding_mask(lengths, src_len)``.

    Returns:
        Per sequence, the generated ids without ``bos_id``, ending with ``eos_id`` if it was
        produced within ``max_len`` tokens (nothing after it).
    """
    _check_seq2seq(model, src, max_len)
    with _eval_mode(model):
        memory = model.encode(src, src_mask)  # (batch, src_len, d_model)
        cache = model.decoder.new_cache()
        step = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        out, finished = [], torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(step, memory, src_mask, cache=cache)[:, -1]  # (batch, vocab)
            step = logits.argmax(dim=-1, keepdim=True)  # (batch, 1)
            out.append(step)
            finished |= step[:, 0] == eos_id
            if bool(finished.all()):
                break
    return [_until_eos(row, eos_id) for row in torch.cat(out, dim=1).tolist()]


@torch.no_grad()
def beam_search(
    model: EncoderDecoder,
    src: Tensor,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 4,
    length_penalty: float = 0.0,
    early_stopping: bool = False,
) -> list[tuple[list[int], float]]:
    """Keep the ``beam_size`` most probable prefixes at each step; return the best hypotheses.

    A hypothesis ``y_1 .. y_n`` scores ``sum_t log p(y_t | y_<t, src) / n ** length_penalty``
    (0: the plain log-probability, which favours short outputs; 1: the mean per token).

    At each step every live prefix is extended by every token and the ``2 * beam_size`` best
    extensions by total log-probability are considered in order: one ending in ``eos_id`` and
    ranked within the first ``beam_size`` is set aside as finished, the others refill the beam
    up to ``beam_size`` (as Hugging Face's ``generate`` does). The ``beam_size`` best finished
    hypotheses are kept. The search ends when ``max_len`` tokens are reached (live prefixes then
    count as hypotheses too), or when ``beam_size`` hypotheses are finished and no live prefix
    can still beat the worst of them. With ``early_stopping=True`` it ends as soon as
    ``beam_size`` hypotheses are finished, as Hugging Face's ``early_stopping=True`` does: faster,
    but with a confident model the first hypotheses to finish are often short improbable ones,
    and a far better hypothesis that has not ended yet is dropped. With ``beam_size=1`` it is
    :func:`greedy_decode`.

    For simplicity this runs without the key/value cache: each step decodes the whole prefixes
    again (``O(max_len^2)`` positions), which avoids reordering cached keys as beams are
    pruned and reshuffled.

    Args:
        model: an :class:`~companion.models.EncoderDecoder` (run in eval mode).
        src: ``(1, src_len)`` source token ids: one sentence.
        bos_id, eos_id, max_len: as in :func:`greedy_decode`.
        beam_size: number of prefixes kept (>= 1).
        length_penalty: the exponent ``alpha`` of the length normalisation.
        early_stopping: stop as soon as ``beam_size`` hypotheses are finished.

    Returns:
        Up to ``beam_size`` ``(tokens, score)`` pairs, best first; tokens exclude ``bos_id`` and
        end with ``eos_id`` for finished hypotheses.
    """
    _check_seq2seq(model, src, max_len)
    if src.shape[0] != 1:
        raise ValueError(
            f"beam_search decodes one sentence: src must have shape (1, src_len), got "
            f"{tuple(src.shape)}; loop over src[i : i + 1]"
        )
    _check_beam_size(beam_size)

    with _eval_mode(model):
        memory = model.encode(src)  # (1, src_len, d_model)

        def next_log_probs(prefixes: list[list[int]]) -> Tensor:
            tgt = torch.tensor([[bos_id] + tokens for tokens in prefixes], device=src.device)
            logits = model.decode(tgt, memory.expand(len(prefixes), -1, -1))[:, -1]
            return logits.log_softmax(dim=-1)  # (n_beams, vocab)

        return _beam_loop(
            next_log_probs, max_len, beam_size, eos_id, length_penalty, early_stopping
        )


def _check_beam_size(beam_size: int) -> None:
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size={beam_size!r} must be an integer >= 1")


def _beam_loop(
    next_log_probs: Callable[[list[list[int]]], Tensor],
    max_len: int,
    beam_size: int,
    eos_id: int | None,
    length_penalty: float,
    early_stopping: bool,
) -> list[tuple[list[int], float]]:
    """The beam search shared by :func:`beam_search` and :func:`beam_search_lm`.

    ``next_log_probs(prefixes)`` returns the ``(len(prefixes), vocab)`` log-probabilities of the
    token after each prefix (a list of generated ids); ``eos_id=None``: no hypothesis ends early.
    """
    beams: list[Hypothesis] = [([], 0.0)]  # live prefixes of generated tokens
    finished: list[Hypothesis] = []
    for _ in range(max_len):
        log_probs = next_log_probs([tokens for tokens, _ in beams])
        beams, done = _extend_beams(beams, log_probs, beam_size, eos_id)
        finished = sorted(finished + done, key=lambda h: -_score(h, length_penalty))
        finished = finished[:beam_size]
        if not beams or (
            len(finished) >= beam_size
            and (early_stopping or _cannot_improve(finished, beams, length_penalty, max_len))
        ):
            break
    hypotheses = finished if len(finished) >= beam_size else finished + beams
    scored = [(h[0], _score(h, length_penalty)) for h in hypotheses]
    return sorted(scored, key=lambda h: -h[1])[:beam_size]


@torch.no_grad()
def beam_search_lm(
    model: GPT,
    ids: Tensor,
    max_new_tokens: int,
    beam_size: int = 4,
    length_penalty: float = 0.0,
    eos_id: int | None = None,
    early_stopping: bool = False,
) -> list[tuple[list[int], float]]:
    """Beam search on a decoder-only GPT: the continuations of one prompt with the highest
    log-probability.

    The same search as :func:`beam_search` (see there for the scores, ``length_penalty``, the
    finished hypotheses and ``early_stopping``), with the prompt in place of the encoded source:
    each step runs the GPT on the prompt followed by each live prefix (at most the last
    ``model.config.max_len`` tokens, as :func:`generate` does) without a key/value cache. With
    ``beam_size=1`` it is :func:`generate` with ``temperature=0``.

    Args:
        model: a :class:`~companion.models.GPT` (run in eval mode).
        ids: ``(1, seq)`` prompt token ids, ``seq >= 1``.
        max_new_tokens: the most tokens to generate (>= 1).
        beam_size: number of prefixes kept (>= 1).
        length_penalty: the exponent ``alpha`` of the length normalisation.
        eos_id: a token that ends a hypothesis; None: every hypothesis runs to
            ``max_new_tokens``.
        early_stopping: stop as soon as ``beam_size`` hypotheses have ended.

    Returns:
        Up to ``beam_size`` ``(tokens, score)`` pairs, best first; ``tokens`` are the generated
        ids only (without the prompt).
    """
    check_ids(ids, model.config.vocab_size)
    if ids.ndim != 2 or ids.shape[0] != 1 or ids.shape[1] == 0:
        raise ValueError(
            f"beam_search_lm continues one prompt: ids must have shape (1, seq) with seq >= 1, "
            f"got {tuple(ids.shape)}; loop over ids[i : i + 1]"
        )
    check.positive_int("max_new_tokens", max_new_tokens)
    _check_beam_size(beam_size)
    prompt, context = ids[0].tolist(), model.config.max_len  # the model sees `context` tokens

    def next_log_probs(prefixes: list[list[int]]) -> Tensor:
        rows = torch.tensor([prompt + tokens for tokens in prefixes], device=ids.device)
        return model(rows[:, -context:])[:, -1].log_softmax(dim=-1)  # (n_beams, vocab)

    with _eval_mode(model):
        return _beam_loop(
            next_log_probs, max_new_tokens, beam_size, eos_id, length_penalty, early_stopping
        )


def _score(hypothesis: Hypothesis, length_penalty: float) -> float:
    """``log p(y_1 .. y_n) / n ** length_penalty``."""
    tokens, log_prob = hypothesis
    return log_prob / len(tokens) ** length_penalty


def _cannot_improve(
    finished: list[Hypothesis], beams: list[Hypothesis], length_penalty: float, max_len: int
) -> bool:
    """True when no live beam can end with a better score than the worst finished hypothesis.

    A live prefix of ``t`` tokens and log-probability ``s <= 0`` can only lose log-probability
    and ends with ``n`` tokens, ``t < n <= max_len``; ``s / n ** a`` is monotonic in ``n``, so
    its final score is at most ``max(s / (t + 1) ** a, s / max_len ** a)``.
    """
    t, best = len(beams[0][0]), max(log_prob for _, log_prob in beams)
    bound = max(best / (t + 1) ** length_penalty, best / max_len**length_penalty)
    return min(_score(h, length_penalty) for h in finished) >= bound


def _extend_beams(
    beams: list[Hypothesis], log_probs: Tensor, beam_size: int, eos_id: int | None
) -> tuple[list[Hypothesis], list[Hypothesis]]:
    """One step of beam search: ``log_probs (n_beams, vocab)`` of the next token of each beam.

    Returns the new live beams (at most ``beam_size``) and the hypotheses that just finished.
    """
    sums = torch.tensor([lp for _, lp in beams], dtype=torch.float64, device=log_probs.device)
    totals = sums[:, None] + log_probs.double()  # (n_beams, vocab) log-prob of each extension
    top = totals.flatten().topk(min(2 * beam_size, totals.numel()))  # best extensions first
    vocab = log_probs.shape[-1]
    candidates = zip(top.values.tolist(), top.indices.tolist(), strict=True)
    live, done = [], []
    for rank, (total, index) in enumerate(candidates):
        tokens = beams[index // vocab][0] + [index % vocab]
        if tokens[-1] != eos_id:
            if len(live) < beam_size:
                live.append((tokens, total))
        elif rank < beam_size:  # an eos ranked below the beam would not have been kept
            done.append((tokens, total))
    return live, done


@torch.no_grad()
def token_nll(model: GPT, ids: Tensor, start: int = 1, chunk: int = 256) -> Tensor:
    """The negative log-likelihood of each token of ``ids`` under ``model``, in nats.

    ``nll[b, t - start] = -log p(ids[b, t] | ids[b, max(0, t - max_len) : t])`` for
    ``t = start .. seq - 1``: each token is scored given the same context :func:`generate` used
    to pick it (at most the last ``model.config.max_len`` tokens). The mean over a text is its
    per-token NLL; ``exp`` of that is its perplexity.

    Positions up to ``max_len`` come from one forward pass; each later position needs its own
    window, run in batches of ``chunk`` windows.

    Args:
        model: a :class:`~companion.models.GPT` (run in eval mode).
        ids: ``(batch, seq)`` int64 token ids.
        start: the first position scored, ``1 <= start < seq`` (position 0 has no context);
            pass the prompt's length to score only what was generated after it.
        chunk: windows per forward pass for the positions past ``max_len``.

    Returns:
        ``(batch, seq - start)`` float tensor.
    """
    check_ids(ids, model.config.vocab_size)
    check.positive_int("chunk", chunk)
    batch, seq = ids.shape
    if not (isinstance(start, int) and not isinstance(start, bool) and 1 <= start < seq):
        raise ValueError(
            f"start={start!r} must be an int with 1 <= start < seq = {seq}: position 0 has no "
            "context to be predicted from, and at least one position must be scored"
        )
    max_len = model.config.max_len
    with _eval_mode(model):
        head = ids[:, :max_len]  # (batch, min(seq, max_len))
        log_probs = model(head).log_softmax(dim=-1)[:, :-1]  # predicts positions 1..len(head)-1
        nll = [-log_probs.gather(-1, head[:, 1:, None])[..., 0]]  # (batch, len(head) - 1)
        if seq > max_len:
            windows = ids.unfold(1, max_len, 1)  # (batch, seq - max_len + 1, max_len)
            windows = windows[:, : seq - max_len]  # (batch, seq - max_len, max_len): drop the last
            flat = windows.reshape(-1, max_len)  # window j of row b predicts ids[b, j + max_len]
            last = torch.cat([model(w)[:, -1] for w in flat.split(chunk)]).log_softmax(dim=-1)
            targets = ids[:, max_len:].reshape(-1, 1)  # (batch * (seq - max_len), 1)
            nll.append(-last.gather(-1, targets).view(batch, seq - max_len))
    return torch.cat(nll, dim=1)[:, start - 1 :]


def distinct_n(texts: Sequence[Sequence], n: int) -> float:
    """distinct-n (Li et al. 2016): the share of the n-grams of ``texts`` that are distinct.

    The n-grams of every text (characters of a string, or items of a list of token ids) are
    pooled; the result is ``#distinct n-grams / #n-grams``, in ``(0, 1]``: 1 when no n-gram
    occurs twice, small when the texts repeat themselves or each other. (Li et al. divide by the
    number of generated tokens; dividing by the number of n-grams, as most implementations do,
    differs by ``n - 1`` per text.) For one text, ``1 - distinct_n([text], n)`` is the share of
    its n-grams that repeat an earlier one.

    Args:
        texts: a sequence of strings or of token-id sequences (not a single string).
        n: the n-gram length (>= 1).

    Raises:
        ValueError: if ``texts`` is a single string, or has no n-gram at all.
    """
    check.positive_int("n", n)
    if isinstance(texts, str):
        raise ValueError(
            f"texts must be a sequence of texts, got a single string ({texts[:20]!r}...); "
            "wrap it in a list: distinct_n([text], n)"
        )
    grams = [tuple(text[i : i + n]) for text in texts for i in range(len(text) - n + 1)]
    if not grams:
        raise ValueError(f"texts has no {n}-gram: every text is shorter than n={n}")
    return len(set(grams)) / len(grams)
