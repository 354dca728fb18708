"""Pre-training and fine-tuning objectives (BERT's and T5's), and their batches for :func:`companion.train.train`.

(:mod:`companion.pretrained` is the other thing: loading weights someone else pre-trained.)

Pre-training is self-supervised (自监督): the labels come from the text itself (Devlin et al. 2019).

- **Masked language modelling** (MLM, 掩码语言建模): select 15% of the tokens, replace 80% of the
  selected ones by ``[MASK]``, 10% by a random token and leave 10% unchanged (:func:`mask_tokens`),
  then predict the original token at the selected positions only, from the corrupted sequence
  ``x~`` (:func:`masked_lm_loss`)::

      L_MLM = -1/|M| * sum_{i in M} log P(x_i | x~)

- **Next-sentence prediction** (NSP, 下一句预测): is segment B the text that follows segment A in
  the same document (label 0, "IsNext") or text from another document (label 1, "NotNext")?
  (:class:`PretrainingBatches` builds the pairs from whole sentences, :func:`nsp_pairs` draws
  them; BERT's loss is the unweighted sum ``L_MLM + L_NSP``, :func:`mlm_nsp_loss`.)

- **Span corruption** (T5's objective, Raffel et al. 2020; format: §3.1.4 and Figure 2; spans of
  mean length 3: §3.3.4, Table 7, the objective of its final models, §3.7): drop about 15% of the
  tokens in spans of mean length 3 (:func:`random_spans_mask`), replace each span in the input by
  one sentinel, and make the target the sentinels, each followed by the tokens it replaced
  (:func:`span_corruption`); an encoder reads the input, a decoder writes the target. As in T5's
  code, the kept and dropped runs alternate starting with kept tokens, so the last span always
  ends the sequence. The paper closes the target with a final sentinel; the released code closes
  it with the end-of-sequence token instead (same lengths).

Fine-tuning (微调) then trains the encoder and a new classification head on labelled examples
(:class:`ClassificationBatches`, :func:`classification_loss`, :func:`accuracy`).

Every random choice is drawn from an explicit CPU ``torch.Generator``, so a batch is a function of
the generator's state (what :func:`companion.train.train` checkpoints and resumes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from companion import validators as check
from companion.data.batches import as_token_tensor
from companion.masks import padding_mask

__all__ = [
    "IGNORE_INDEX",
    "SPECIAL_TOKENS",
    "BERTBatch",
    "ClassificationBatches",
    "PretrainingBatches",
    "Specials",
    "accuracy",
    "classification_loss",
    "encode_for_classification",
    "mask_tokens",
    "masked_lm_loss",
    "mlm_loss",
    "mlm_nsp_loss",
    "nsp_loss",
    "nsp_pairs",
    "random_spans_mask",
    "span_corruption",
]

IGNORE_INDEX = -100  # the label of a position that takes no loss (F.cross_entropy's ignore_index)
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class Specials:
    """The ids of BERT's special tokens in a vocabulary of ``vocab_size`` ids."""

    pad: int
    cls: int
    sep: int
    mask: int
    vocab_size: int

    @classmethod
    def of(cls, tokenizer) -> Specials:
        """The specials of a tokenizer built with ``specials=SPECIAL_TOKENS``."""
        ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        return cls(*ids, vocab_size=tokenizer.vocab_size)

    @property
    def ids(self) -> tuple[int, ...]:
        return (self.pad, self.cls, self.sep, self.mask)


def _check_probability(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value!r} must be a probability in [0, 1], e.g. 0.15")


def mask_tokens(
    ids: Tensor,
    generator: torch.Generator,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int],
    select_prob: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
) -> tuple[Tensor, Tensor]:
    """BERT's corruption: select tokens for prediction, then hide most of them.

    Each token that is not a special (padding included) is *selected* independently with
    probability ``select_prob`` (HuggingFace's ``DataCollatorForLanguageModeling`` does the same;
    BERT's own code selects ``round(0.15 * n)`` per sequence). A selected token is replaced by
    ``[MASK]`` with probability ``mask_prob``, by a token drawn uniformly from the non-special
    ids with probability ``random_prob`` (it may draw the original), and left unchanged
    otherwise. Why not always ``[MASK]``: fine-tuning inputs never contain ``[MASK]``, so a model
    that only ever predicted at ``[MASK]`` would have learnt nothing about the tokens it sees then.

    Args:
        ids: ``(batch, seq)`` int64 token ids.
        generator: a CPU generator; the only source of randomness.
        mask_id: the id of ``[MASK]``.
        vocab_size: number of ids; random replacements lie in ``[0, vocab_size)``, not specials.
        special_ids: ids never selected (``[PAD]``, ``[CLS]``, ``[SEP]``, ``[MASK]``).

    Returns:
        ``corrupted (batch, seq)``: the model's input ``x~``; ``labels (batch, seq)``: the
        original id at selected positions, :data:`IGNORE_INDEX` (-100) everywhere else.
    """
    if not isinstance(ids, Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        got = ids.dtype if isinstance(ids, Tensor) else type(ids).__name__
        raise TypeError(f"ids must be an integer tensor of token ids, got {got}")
    if ids.ndim != 2:
        raise ValueError(f"ids must have shape (batch, seq), got {tuple(ids.shape)}; use ids[None]")
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; "
            "pass torch.Generator().manual_seed(0)"
        )
    for name, p in (
        ("select_prob", select_prob),
        ("mask_prob", mask_prob),
        ("random_prob", random_prob),
    ):
        _check_probability(name, p)
    if mask_prob + random_prob > 1.0:
        raise ValueError(
            f"mask_prob + random_prob = {mask_prob} + {random_prob} exceeds 1; the rest, "
            "1 - mask_prob - random_prob, is the share of selected tokens left unchanged"
        )
    specials = torch.as_tensor(list(special_ids), dtype=torch.long)
    if mask_id not in specials.tolist():
        raise ValueError(f"mask_id={mask_id} must be one of special_ids={specials.tolist()}")
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[specials[(specials >= 0) & (specials < vocab_size)]] = False
    allowed = allowed.nonzero().flatten()  # (n_allowed,) ids a random replacement may take
    if len(allowed) == 0:
        raise ValueError(f"vocab_size={vocab_size} leaves no non-special id to draw from")

    cpu_ids = ids.long().cpu()
    u = torch.rand(cpu_ids.shape, generator=generator)  # (batch, seq): who is selected
    v = torch.rand(cpu_ids.shape, generator=generator)  # (batch, seq): what replaces it
    draw = torch.randint(len(allowed), cpu_ids.shape, generator=generator)  # (batch, seq)
    selected = (u < select_prob) & ~torch.isin(cpu_ids, specials)
    to_mask = selected & (v < mask_prob)
    to_random = selected & (v >= mask_prob) & (v < mask_prob + random_prob)
    corrupted = torch.where(to_mask, mask_id, cpu_ids)
    corrupted = torch.where(to_random, allowed[draw], corrupted)
    labels = torch.where(selected, cpu_ids, IGNORE_INDEX)
    return corrupted.to(ids.device), labels.to(ids.device)


def _span_counts(length: int, noise_density: float, mean_span_length: float) -> tuple[int, int]:
    """T5's counts for a sequence of ``length``: noise tokens and noise spans."""
    n_noise = min(max(round(length * noise_density), 1), length - 1)
    n_spans = max(round(n_noise / mean_span_length), 1)
    return n_noise, min(n_spans, n_noise, length - n_noise)


def _random_segmentation(n_items: int, n_segments: int, generator: torch.Generator) -> Tensor:
    """``n_items`` split into ``n_segments`` non-empty runs, uniformly over all such splits:
    ``(n_segments,)`` int64 lengths summing to ``n_items``."""
    cuts = torch.randperm(n_items - 1, generator=generator)[: n_segments - 1].sort().values + 1
    edges = torch.cat([torch.tensor([0]), cuts, torch.tensor([n_items])])  # (n_segments + 1,)
    return edges.diff()


def random_spans_mask(
    length: int,
    generator: torch.Generator,
    *,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
) -> Tensor:
    """Which tokens span corruption drops: a ``(length,)`` bool tensor, True = noise (T5's
    ``random_spans_noise_mask``; Raffel et al. 2020, format §3.1.4, spans of mean length 3 §3.3.4).

    Exactly ``round(length * noise_density)`` tokens are noise (at least 1, at most
    ``length - 1``), in ``round(n_noise / mean_span_length)`` spans (at least 1). The noise
    tokens and the kept tokens are each split into that many non-empty runs uniformly at random,
    and the runs alternate, kept first and noise last (as in T5's code: the sequence never starts
    with noise, and its last span always ends it), so the mean span length is
    ``n_noise / n_spans``, about ``mean_span_length``. The counts are fixed by construction; the
    lengths are random (for ``length=100``: 15 noise tokens in 5 spans, P(a span has length 1) =
    C(13,3)/C(14,4) = 286/1001).

    Args:
        length: tokens in the sequence, at least 2.
        generator: a CPU generator; the only source of randomness.
        noise_density: the share of tokens to drop, in (0, 1) (T5: 0.15).
        mean_span_length: the mean length of a dropped span, >= 1 (T5: 3).
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise ValueError(f"length={length!r} must be an int >= 2: a span and a kept token")
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}; "
            "pass torch.Generator().manual_seed(0)"
        )
    check.number("noise_density", noise_density, 0, 1, low_open=True, high_open=True)
    check.number("mean_span_length", mean_span_length, 1, hint="T5 uses 3")
    n_noise, n_spans = _span_counts(length, noise_density, mean_span_length)
    noise = _random_segmentation(n_noise, n_spans, generator)  # (n_spans,)
    kept = _random_segmentation(length - n_noise, n_spans, generator)  # (n_spans,)
    runs = torch.stack([kept, noise], dim=1).flatten()  # (2 n_spans,) kept, noise, kept, ...
    is_noise = torch.arange(2 * n_spans) % 2 == 1  # (2 n_spans,)
    return torch.repeat_interleave(is_noise, runs)  # (length,)


def span_corruption(
    ids: Tensor,
    generator: torch.Generator,
    *,
    sentinel_ids: Sequence[int],
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
) -> tuple[Tensor, Tensor]:
    """T5's span corruption of one sequence or of a batch (Raffel et al. 2020; format: §3.1.4 and
    Figure 2; spans of mean length 3: §3.3.4, Table 7, the objective of its final models, §3.7).

    :func:`random_spans_mask` picks the spans; in the input each span is replaced by ONE
    sentinel, ``sentinel_ids[k]`` for the k-th span (T5's ``<extra_id_k>``); the target is, for
    each span in order, its sentinel followed by the span's tokens, then one final sentinel::

        ids:     Thank you for inviting me to your party last week .
        input:   Thank you <X> me to your party <Y> week .
        target:  <X> for inviting <Y> last <Z>

    (the paper's Figure 2; this function, like T5's code, always ends with a span, so it never
    produces this exact layout). Replacing the sentinels of the input by the target's spans gives
    back ``ids``. As in T5's code, the kept and dropped runs alternate starting with kept tokens,
    so the last span always ends the sequence (the input ends in a sentinel). The paper closes the
    target with a final sentinel; the released code closes it with the end-of-sequence token
    instead (same lengths).

    The numbers of noise tokens and of spans depend only on ``seq``, so every row of a batch
    gives an input and a target of the same lengths: a ``(batch, seq)`` batch is corrupted row
    by row, each row's spans drawn in turn from ``generator``, and the results are stacked.

    Args:
        ids: ``(seq,)`` or ``(batch, seq)`` int64 token ids, ``seq >= 2``.
        generator: a CPU generator; the only source of randomness.
        sentinel_ids: distinct ids of the sentinels, in order; at least ``n_spans + 1`` of them
            (T5 has 100, ``<extra_id_0>`` = the last id of its vocabulary, counting down).
        noise_density: the share of tokens dropped (T5: 0.15).
        mean_span_length: the mean span length (T5: 3).

    Returns:
        ``inputs`` and ``targets``, int64: ``(seq - n_noise + n_spans,)`` and
        ``(n_noise + n_spans + 1,)`` for one sequence, ``(batch, seq - n_noise + n_spans)`` and
        ``(batch, n_noise + n_spans + 1)`` for a batch.
    """
    if not isinstance(ids, Tensor) or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        got = ids.dtype if isinstance(ids, Tensor) else type(ids).__name__
        raise TypeError(f"ids must be an integer tensor of token ids, got {got}")
    if ids.ndim not in (1, 2):
        raise ValueError(f"ids must have shape (seq,) or (batch, seq), got {tuple(ids.shape)}")
    sentinels = torch.as_tensor(list(sentinel_ids), dtype=torch.long)
    if len(sentinels.unique()) != len(sentinels):
        raise ValueError(
            "sentinel_ids holds the same id more than once; each span needs its own sentinel "
            "(T5's <extra_id_0>, <extra_id_1>, ...)"
        )
    length = ids.shape[-1]
    if length < 2:
        raise ValueError(f"ids has {length} token(s) per row; span corruption needs at least 2")
    if ids.ndim == 2 and ids.shape[0] == 0:
        raise ValueError("ids is an empty batch, shape (0, seq); pass at least one row")
    if torch.isin(ids.cpu(), sentinels).any():
        raise ValueError("ids already contains a sentinel id; sentinels must not occur in the text")
    args = (generator, sentinels, noise_density, mean_span_length)
    if ids.ndim == 1:
        return _span_corrupt_row(ids, *args)
    pairs = [_span_corrupt_row(row, *args) for row in ids]  # in turn, from one generator
    return torch.stack([i for i, _ in pairs]), torch.stack([t for _, t in pairs])


def _span_corrupt_row(
    ids: Tensor,
    generator: torch.Generator,
    sentinels: Tensor,
    noise_density: float,
    mean_span_length: float,
) -> tuple[Tensor, Tensor]:
    """:func:`span_corruption` of one validated ``(seq,)`` row."""
    length = len(ids)
    mask = random_spans_mask(
        length, generator, noise_density=noise_density, mean_span_length=mean_span_length
    )  # (seq,) True = noise
    starts = mask & ~torch.cat([torch.tensor([False]), mask[:-1]])  # (seq,) first of each span
    n_spans = int(starts.sum())
    if len(sentinels) < n_spans + 1:
        raise ValueError(
            f"sentinel_ids has {len(sentinels)} ids but a sequence of {length} tokens needs "
            f"{n_spans + 1} ({n_spans} spans and the final one); pass more sentinels"
        )
    cpu_ids = ids.long().cpu()
    span_of = torch.cumsum(starts.long(), 0) - 1  # (seq,) index k of the span a token is in
    marked = torch.where(starts, sentinels[span_of.clamp(min=0)], cpu_ids)  # (seq,)
    inputs = marked[~mask | starts]  # kept tokens, and one sentinel per span
    # target: for each noise token, its sentinel first when it starts a span
    pieces = torch.stack([sentinels[span_of.clamp(min=0)], cpu_ids], dim=1)  # (seq, 2)
    take = torch.stack([starts, mask], dim=1)  # (seq, 2)
    targets = torch.cat([pieces[take], sentinels[n_spans : n_spans + 1]])
    return inputs.to(ids.device), targets.to(ids.device)


def nsp_pairs(
    cut_document: Tensor, batch_size: int, generator: torch.Generator, random_prob: float = 0.5
) -> tuple[Tensor, Tensor, Tensor]:
    """Pairs of cuts for next-sentence prediction, BERT's way (Devlin et al. 2019, §3.1, App. A.2).

    A *cut* is a place between two sentences of one document: A ends there, and the true B starts
    there. ``cut_document[c]`` is the document of cut ``c``, and the cuts of a document are
    consecutive (sorted by document). For each example a cut ``a`` is drawn uniformly; B is the
    continuation at the same cut (``b = a``, label 0, "IsNext") or, with probability
    ``random_prob``, the continuation at a cut ``b`` drawn uniformly from the *other* documents
    (label 1, "NotNext"). Either way B is the text after a random cut of a random document, so B
    alone (or A alone) says nothing about the label: only whether they belong together does.

    Returns:
        ``a (batch,)``, ``b (batch,)`` int64 cut indices and ``labels (batch,)`` int64, with
        ``labels == (cut_document[b] != cut_document[a])`` exactly.
    """
    check.positive_int("batch_size", batch_size)
    _check_probability("random_prob", random_prob)
    cut_document = as_token_tensor(cut_document, "cut_document")
    if len(cut_document) > 1 and (cut_document.diff() < 0).any():
        raise ValueError(
            "cut_document must be non-decreasing (the cuts of a document consecutive); "
            "sort the cuts by document"
        )
    docs, counts = cut_document.unique_consecutive(return_counts=True)
    if len(docs) < 2:
        raise ValueError(
            f"cut_document holds {len(docs)} document(s); NSP needs at least 2, so that a random "
            "B can come from another document"
        )
    first = torch.cumsum(counts, 0) - counts  # (n_docs,) index of each document's first cut
    doc = torch.repeat_interleave(torch.arange(len(docs)), counts)  # (n_cuts,) 0 .. n_docs - 1
    n_cuts = len(cut_document)
    a = torch.randint(n_cuts, (batch_size,), generator=generator)  # (batch,)
    is_random = torch.rand(batch_size, generator=generator) < random_prob  # (batch,)
    own_first, own_count = first[doc[a]], counts[doc[a]]  # (batch,) the cuts of a's document
    u = torch.rand(batch_size, generator=generator, dtype=torch.float64)  # (batch,)
    other = (u * (n_cuts - own_count)).long().clamp(max=n_cuts - own_count - 1)  # uniform over
    other = other + own_count * (other >= own_first).long()  # the other documents' cuts
    b = torch.where(is_random, other, a)
    return a, b, is_random.long()


@dataclass
class BERTBatch:
    """One pre-training batch.

    Attributes:
        ids: ``(batch, seq)`` the corrupted input ``[CLS] A [SEP] B [SEP] [PAD]...``.
        token_type_ids: ``(batch, seq)`` 1 for ``B [SEP]``, 0 elsewhere (``[CLS] A [SEP]``, padding).
        mlm_labels: ``(batch, seq)`` the original token at selected positions, -100 elsewhere.
        nsp_labels: ``(batch,)`` 0 if B follows A in its document, 1 if B is from another one.
        mask: ``(batch, 1, seq)`` bool, True = a real token (may attend); ``None``: no padding.
    """

    ids: Tensor
    token_type_ids: Tensor
    mlm_labels: Tensor
    nsp_labels: Tensor
    mask: Tensor | None = None


class PretrainingBatches:
    """Pre-training batches from documents: ``batches(generator) -> BERTBatch``.

    Each example is ``[CLS] A [SEP] B [SEP]`` padded with ``[PAD]`` to ``2 * segment_len + 3``
    tokens, built from whole sentences as in BERT (Devlin et al. 2019, §3.1 and App. A.2):

    - a *cut* between two sentences of a document is drawn; A is the sentences just before it,
      as many as fit in ``segment_len`` tokens (at least one, cut to its last ``segment_len``
      tokens if longer);
    - B is the sentences just after it, as many as fit (at least one, cut to its first
      ``segment_len``), or, with probability ``nsp_random_prob``, those after a random cut of
      another document (:func:`nsp_pairs`). ``nsp_random_prob=0`` gives contiguous text only;
    - the pair is then corrupted by :func:`mask_tokens` (padding and specials are never selected).

    Args:
        documents: documents, each a sequence of sentences, each a sequence of token ids;
            documents of one sentence have no cut and are skipped.
        specials: the special ids of the vocabulary.
        batch_size: examples per batch.
        segment_len: the most tokens of A, and of B.
        nsp_random_prob: probability that B comes from another document (BERT: 0.5).
        select_prob: MLM selection rate (BERT: 0.15).
        device: where the batch is placed; ``None`` keeps the CPU.
    """

    def __init__(
        self,
        documents: Sequence[Sequence[Sequence[int]]],
        specials: Specials,
        batch_size: int,
        segment_len: int,
        nsp_random_prob: float = 0.0,
        select_prob: float = 0.15,
        device: torch.device | str | None = None,
    ) -> None:
        check.positive_int("batch_size", batch_size)
        check.positive_int("segment_len", segment_len)
        _check_probability("nsp_random_prob", nsp_random_prob)
        _check_probability("select_prob", select_prob)
        if isinstance(documents, Tensor | str) or not all(
            isinstance(doc, Sequence) and not isinstance(doc, str) for doc in documents
        ):
            raise TypeError(
                "documents must be a list of documents, each a list of sentences of token ids, "
                "not one token stream; pass [[tokenizer.encode(s) for s in doc] for doc in docs]"
            )
        befores, afters, cut_document = [], [], []
        for d, doc in enumerate(documents):
            sentences = _sentences(doc, d)
            if any(len(s) == 0 for s in sentences):
                raise ValueError(f"document {d} has an empty sentence; drop it first")
            for k in range(1, len(sentences)):
                befores.append(_segment(sentences[:k], segment_len, last=True))
                afters.append(_segment(sentences[k:], segment_len, last=False))
                cut_document.append(d)
        if len(set(cut_document)) < 2:
            raise ValueError(
                f"documents give {len(set(cut_document))} document(s) of two or more sentences; "
                "NSP pairs need at least 2 (a random B comes from another document)"
            )
        self.a_ids, self.a_len = _pad_rows(befores, segment_len)  # (n_cuts, L), (n_cuts,)
        self.b_ids, self.b_len = _pad_rows(afters, segment_len)
        self.cut_document = torch.tensor(cut_document)  # (n_cuts,)
        self.specials, self.batch_size, self.segment_len = specials, batch_size, segment_len
        self.nsp_random_prob, self.select_prob = nsp_random_prob, select_prob
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    @property
    def seq_len(self) -> int:
        return 2 * self.segment_len + 3

    def __len__(self) -> int:
        """The number of cuts: distinct (A, true B) pairs."""
        return len(self.cut_document)

    def __call__(self, generator: torch.Generator) -> BERTBatch:
        s = self.specials
        a, b, nsp_labels = nsp_pairs(
            self.cut_document, self.batch_size, generator, self.nsp_random_prob
        )
        la, lb = self.a_len[a, None], self.b_len[b, None]  # (batch, 1) each
        t = torch.arange(self.seq_len)[None, :]  # (1, seq) positions
        in_a, in_b = (t >= 1) & (t <= la), (t >= la + 2) & (t < la + 2 + lb)
        a_tok = self.a_ids[a].gather(1, (t - 1).clamp(0, self.segment_len - 1).expand_as(in_a))
        b_tok = self.b_ids[b].gather(1, (t - la - 2).clamp(0, self.segment_len - 1))
        ids = torch.full(in_a.shape, s.pad, dtype=torch.long)  # (batch, seq)
        ids = torch.where(t == 0, s.cls, ids)
        ids = torch.where(in_a, a_tok, ids)
        ids = torch.where((t == la + 1) | (t == la + lb + 2), s.sep, ids)
        ids = torch.where(in_b, b_tok, ids)
        length = la + lb + 3  # (batch, 1) real tokens: [CLS] A [SEP] B [SEP]
        types = ((t >= la + 2) & (t < length)).long()  # 1 for B [SEP], 0 elsewhere
        mask = padding_mask(length[:, 0], self.seq_len)  # (batch, 1, seq), True = real token
        corrupted, labels = mask_tokens(
            ids,
            generator,
            mask_id=s.mask,
            vocab_size=s.vocab_size,
            special_ids=s.ids,
            select_prob=self.select_prob,
        )
        return BERTBatch(*(x.to(self.device) for x in (corrupted, types, labels, nsp_labels, mask)))


def _sentences(doc: Sequence, d: int) -> list[list[int]]:
    """Document ``d`` as lists of int token ids, or a TypeError that says what to pass."""
    sentences = [s.tolist() if isinstance(s, Tensor) else s for s in doc]
    if not all(
        isinstance(s, Sequence) and not isinstance(s, str) and all(isinstance(t, int) for t in s)
        for s in sentences
    ):
        raise TypeError(
            f"document {d} is not a list of sentences of int token ids; pass "
            "[[tokenizer.encode(s) for s in doc] for doc in docs]"
        )
    return [list(s) for s in sentences]


def _segment(sentences: Sequence[list[int]], budget: int, last: bool) -> list[int]:
    """Whole sentences, as many as fit in ``budget`` tokens: the last ones (``last=True``, A) or
    the first ones (B), concatenated in order; at least one, cut to ``budget`` tokens."""
    chosen, n = [], 0
    for sentence in reversed(sentences) if last else sentences:
        if chosen and n + len(sentence) > budget:
            break
        chosen.append(sentence)
        n += len(sentence)
    tokens = [t for sentence in (chosen[::-1] if last else chosen) for t in sentence]
    return tokens[-budget:] if last else tokens[:budget]


def _pad_rows(rows: list[list[int]], width: int) -> tuple[Tensor, Tensor]:
    """``rows`` of at most ``width`` ids as ``ids (n, width)`` (0-padded) and ``lengths (n,)``."""
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows], dtype=torch.long)
    return ids.reshape(len(rows), width), torch.tensor([len(row) for row in rows])


def masked_lm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """The MLM loss: mean cross-entropy over the selected positions M only.

        L_MLM = -1/|M| * sum_{i in M} log softmax(z_i)[x_i],   M = {i : labels_i != -100}

    ``logits (batch, seq, vocab)`` are computed from the corrupted input ``x~``;
    ``labels (batch, seq)`` hold the original ``x_i`` at selected positions and -100 elsewhere.
    Positions of all sequences in the batch are pooled (a sequence with more selected tokens
    weighs more), as in BERT.

    Raises:
        ValueError: if no position is selected (the mean over an empty set is undefined).
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree: expected "
            "logits (batch, seq, vocab) and labels (batch, seq)"
        )
    if not (labels != IGNORE_INDEX).any():
        raise ValueError(
            "labels select no position (all are -100), so the MLM loss is undefined; "
            "use longer sequences or a higher select_prob"
        )
    return F.cross_entropy(
        rearrange(logits, "b t v -> (b t) v"),
        rearrange(labels, "b t -> (b t)"),
        ignore_index=IGNORE_INDEX,
    )


def mlm_loss(model: nn.Module, batch: BERTBatch) -> Tensor:
    """MLM-only pre-training loss of a :class:`companion.models.BERT` (RoBERTa's objective): a scalar."""
    out = model(batch.ids, mask=batch.mask, token_type_ids=batch.token_type_ids)
    return masked_lm_loss(out.mlm_logits, batch.mlm_labels)


def nsp_loss(model: nn.Module, batch: BERTBatch) -> Tensor:
    """The NSP loss alone, a scalar: 2-way cross-entropy of ``batch.nsp_labels (batch,)`` from [CLS]."""
    out = model(batch.ids, mask=batch.mask, token_type_ids=batch.token_type_ids)
    return F.cross_entropy(out.nsp_logits, batch.nsp_labels)


def mlm_nsp_loss(model: nn.Module, batch: BERTBatch) -> Tensor:
    """BERT's pre-training loss, the unweighted sum ``L_MLM + L_NSP`` (one forward pass): a scalar."""
    out = model(batch.ids, mask=batch.mask, token_type_ids=batch.token_type_ids)
    nsp = F.cross_entropy(out.nsp_logits, batch.nsp_labels)
    return masked_lm_loss(out.mlm_logits, batch.mlm_labels) + nsp


def encode_for_classification(
    texts: Sequence[str], tokenizer, specials: Specials, max_len: int
) -> tuple[Tensor, Tensor]:
    """``[CLS] text [SEP]`` for each text, padded with ``[PAD]``: ``ids (n, L)`` and ``lengths (n,)``.

    ``L`` is the longest encoded text (at most ``max_len``; longer texts are cut before ``[SEP]``).
    """
    check.positive_int("max_len", max_len)
    if max_len < 3:
        raise ValueError(f"max_len={max_len} leaves no room for a token between [CLS] and [SEP]")
    rows = [[specials.cls, *tokenizer.encode(t)[: max_len - 2], specials.sep] for t in texts]
    if not rows:
        raise ValueError("texts is empty; pass at least one text")
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.full((len(rows), int(lengths.max())), specials.pad, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, lengths


class ClassificationBatches:
    """Labelled batches drawn with replacement from a fixed set: ``batches(g) -> (ids, mask, labels)``.

    Args:
        ids: ``(n, seq)`` padded inputs (:func:`encode_for_classification`).
        lengths: ``(n,)`` real tokens per row.
        labels: ``(n,)`` int64 class labels.
        batch_size: examples per batch.

    A batch is ``ids (batch, seq)``, ``mask (batch, 1, seq)`` (True = real token, may attend)
    and ``labels (batch,)``.
    """

    def __init__(
        self,
        ids: Tensor,
        lengths: Tensor,
        labels: Tensor,
        batch_size: int,
        device: torch.device | str | None = None,
    ) -> None:
        check.positive_int("batch_size", batch_size)
        if not (ids.ndim == 2 and lengths.shape == labels.shape == ids.shape[:1]):
            raise ValueError(
                f"expected ids (n, seq), lengths (n,) and labels (n,), got {tuple(ids.shape)}, "
                f"{tuple(lengths.shape)} and {tuple(labels.shape)}"
            )
        self.ids, self.lengths, self.labels = ids, lengths, labels.long()
        self.mask = padding_mask(lengths, ids.shape[1])  # (n, 1, seq)
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    def __len__(self) -> int:
        return len(self.ids)

    def __call__(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """A random batch: ``ids (batch, seq)``, ``mask (batch, 1, seq)``, ``labels (batch,)``."""
        rows = torch.randint(len(self.ids), (self.batch_size,), generator=generator)  # (batch,)
        return tuple(t[rows].to(self.device) for t in (self.ids, self.mask, self.labels))

    def all(self, batch_size: int = 256) -> Iterable[tuple[Tensor, Tensor, Tensor]]:
        """Every example once, in order, in batches of ``batch_size`` (for evaluation), each
        ``(ids, mask, labels)`` shaped as :meth:`__call__`'s."""
        for i in range(0, len(self.ids), batch_size):
            part = slice(i, i + batch_size)
            yield tuple(t[part].to(self.device) for t in (self.ids, self.mask, self.labels))


def classification_loss(model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Fine-tuning loss of a :class:`companion.models.SequenceClassifier`: the cross-entropy of
    ``labels (batch,)`` given ``(ids, mask, labels)`` from :class:`ClassificationBatches`, a scalar."""
    ids, mask, labels = batch
    return F.cross_entropy(model(ids, mask=mask), labels)


@torch.no_grad()
def accuracy(model: nn.Module, data: ClassificationBatches) -> float:
    """Share of ``data``'s examples whose argmax class is the label (``model.eval()``, then restored)."""
    was_training = model.training
    model.eval()
    try:
        right = sum(
            int((model(ids, mask=mask).argmax(-1) == y).sum()) for ids, mask, y in data.all()
        )
    finally:
        model.train(was_training)
    return right / len(data)
