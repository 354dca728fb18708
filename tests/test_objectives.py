"""companion.objectives (BERT's MLM and NSP objectives, T5's span corruption, fine-tuning
batches) and the toy-language task of companion.data.toy_language."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from companion.data.toy_language import (
    CLASSES,
    WordTokenizer,
    corrupt_sentence,
    generate_documents,
    grammaticality_task,
    is_grammatical,
    word_classes,
)
from companion.models import BERT, BERTConfig, SequenceClassifier
from companion.objectives import (
    IGNORE_INDEX,
    SPECIAL_TOKENS,
    ClassificationBatches,
    PretrainingBatches,
    Specials,
    accuracy,
    classification_loss,
    encode_for_classification,
    mask_tokens,
    masked_lm_loss,
    mlm_loss,
    mlm_nsp_loss,
    nsp_loss,
    nsp_pairs,
    random_spans_mask,
    span_corruption,
)
from companion.train import TrainConfig, train

VOCAB, PAD, CLS, SEP, MASK = 50, 46, 47, 48, 49
SPECIAL_IDS = (PAD, CLS, SEP, MASK)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sample_ids(n_rows: int = 400, seq: int = 128, seed: int = 1) -> torch.Tensor:
    """Rows ``[CLS] tokens... [SEP] [PAD]...`` of random lengths: specials and padding included."""
    g = gen(seed)
    ids = torch.randint(0, PAD, (n_rows, seq), generator=g)
    lengths = torch.randint(seq // 2, seq + 1, (n_rows,), generator=g)
    ids[:, 0] = CLS
    for i, n in enumerate(lengths.tolist()):
        ids[i, n - 1] = SEP
        ids[i, n:] = PAD
    return ids


def corrupt(ids, seed=0, **kw):
    return mask_tokens(
        ids, gen(seed), mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL_IDS, **kw
    )


def within(count: int, n: int, p: float, sds: float = 5.0) -> bool:
    """``count`` out of ``n`` is within ``sds`` binomial standard deviations of ``n p``."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


# --- mask_tokens ---------------------------------------------------------------------------------


def test_rates_are_15_percent_then_80_10_10():
    ids = sample_ids()
    corrupted, labels = corrupt(ids)
    eligible = ~torch.isin(ids, torch.tensor(SPECIAL_IDS))
    selected = labels != IGNORE_INDEX
    n_eligible, n_selected = int(eligible.sum()), int(selected.sum())
    assert within(n_selected, n_eligible, 0.15)
    masked = int((selected & (corrupted == MASK)).sum())
    kept = int((selected & (corrupted == ids)).sum())
    replaced = n_selected - masked - kept
    assert within(masked, n_selected, 0.8)
    # a random draw hits the original token with probability 1/46: kept = 10% + 10%/46
    assert within(kept, n_selected, 0.1 + 0.1 / 46)
    assert within(replaced, n_selected, 0.1 - 0.1 / 46)


def test_other_rates():
    ids = sample_ids(seed=2)
    corrupted, labels = corrupt(ids, select_prob=0.4, mask_prob=0.5, random_prob=0.5)
    eligible = ~torch.isin(ids, torch.tensor(SPECIAL_IDS))
    selected = labels != IGNORE_INDEX
    assert within(int(selected.sum()), int(eligible.sum()), 0.4)
    assert within(int((corrupted[selected] == MASK).sum()), int(selected.sum()), 0.5)


def test_specials_and_padding_are_never_selected_nor_changed():
    ids = sample_ids()
    corrupted, labels = corrupt(ids, select_prob=1.0)
    special = torch.isin(ids, torch.tensor(SPECIAL_IDS))
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(corrupted[special], ids[special])
    assert (labels[~special] != IGNORE_INDEX).all()  # select_prob=1 selects every other token


def test_labels_are_the_originals_exactly_at_the_selected_positions():
    ids = sample_ids()
    corrupted, labels = corrupt(ids)
    selected = labels != IGNORE_INDEX
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(corrupted[~selected], ids[~selected])  # off the selection: untouched
    assert (labels[~selected] == IGNORE_INDEX).all()
    changed = corrupted != ids
    assert not (changed & ~selected).any()


def test_random_replacements_are_ordinary_tokens():
    ids = sample_ids()
    corrupted, labels = corrupt(ids, mask_prob=0.0, random_prob=1.0)
    selected = labels != IGNORE_INDEX
    assert not torch.isin(corrupted[selected], torch.tensor(SPECIAL_IDS)).any()
    assert corrupted.min() >= 0 and corrupted.max() < VOCAB
    # uniform over the 46 ordinary ids: every one of them appears
    assert len(corrupted[selected].unique()) == 46


def test_deterministic_given_the_generator_and_leaves_global_rng_alone():
    ids = sample_ids(20, 32)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    a, b = corrupt(ids, seed=7), corrupt(ids, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(torch.rand(3), expected)
    assert not torch.equal(corrupt(ids, seed=8)[1], a[1])
    assert a[0].dtype == torch.long and a[0].shape == ids.shape
    assert torch.equal(ids, sample_ids(20, 32))  # the input itself is not modified


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ids": torch.zeros(2, 3)}, TypeError, "integer tensor"),
        ({"ids": torch.zeros(3, dtype=torch.long)}, ValueError, "shape (batch, seq)"),
        ({"generator": 0}, TypeError, "torch.Generator"),
        ({"select_prob": 1.5}, ValueError, "select_prob=1.5"),
        ({"mask_prob": -0.1}, ValueError, "mask_prob=-0.1"),
        ({"mask_prob": 0.8, "random_prob": 0.3}, ValueError, "exceeds 1"),
        ({"mask_id": 3}, ValueError, "mask_id=3 must be one of special_ids"),
        (
            {"vocab_size": 4, "special_ids": (0, 1, 2, 3), "mask_id": 3},
            ValueError,
            "no non-special",
        ),
    ],
)
def test_mask_tokens_errors(kwargs, error, message):
    args = {
        "ids": torch.zeros(2, 3, dtype=torch.long),
        "generator": gen(),
        "mask_id": MASK,
        "vocab_size": VOCAB,
        "special_ids": SPECIAL_IDS,
    }
    args.update(kwargs)
    ids, g = args.pop("ids"), args.pop("generator")
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        mask_tokens(ids, g, **args)


# --- the MLM loss ----------------------------------------------------------------------------------


def test_masked_lm_loss_is_the_mean_over_selected_positions_only():
    g = gen(3)
    logits = torch.randn(3, 5, 7, generator=g, dtype=torch.float64)
    labels = torch.full((3, 5), IGNORE_INDEX)
    labels[0, 1], labels[0, 4], labels[2, 0] = 2, 6, 0
    log_p = torch.log_softmax(logits, -1)
    by_hand = -(log_p[0, 1, 2] + log_p[0, 4, 6] + log_p[2, 0, 0]) / 3
    torch.testing.assert_close(masked_lm_loss(logits, labels), by_hand, atol=1e-12, rtol=0)
    everywhere = F.cross_entropy(logits.reshape(15, 7), torch.zeros(15, dtype=torch.long))
    assert not torch.isclose(masked_lm_loss(logits, labels), everywhere)


def test_masked_lm_loss_errors():
    with pytest.raises(ValueError, match="select no position"):
        masked_lm_loss(torch.zeros(1, 2, 3), torch.full((1, 2), IGNORE_INDEX))
    with pytest.raises(ValueError, match="disagree"):
        masked_lm_loss(torch.zeros(1, 2, 3), torch.zeros(1, 3, dtype=torch.long))


# --- NSP pairs and pre-training batches ------------------------------------------------------------


def test_nsp_pairs_labels_are_exact_and_balanced():
    cut_document = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])  # 4 documents, 10 cuts
    a, b, labels = nsp_pairs(cut_document, 20_000, gen(4))
    assert torch.equal(labels, (cut_document[b] != cut_document[a]).long())
    assert torch.equal(b[labels == 0], a[labels == 0])  # IsNext: the continuation at A's cut
    assert within(int(labels.sum()), 20_000, 0.5)
    # A is uniform over the 10 cuts; a random B is uniform over the cuts of the other documents
    assert all(within(int((a == c).sum()), 20_000, 0.1) for c in range(10))
    b0 = b[(labels == 1) & (cut_document[a] == 0)]  # A in document 0: B among cuts 3 .. 9
    assert b0.min() == 3 and all(within(int((b0 == c).sum()), len(b0), 1 / 7) for c in range(3, 10))
    a, b, labels = nsp_pairs(cut_document, 1000, gen(4), random_prob=0.0)
    assert torch.equal(b, a) and (labels == 0).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 0, 0], 4), "holds 1 document"),
        (([0, 1], 0), "batch_size=0"),
        (([0, 1], 4, 2.0), "random_prob=2.0"),
        (([1, 0], 4), "non-decreasing"),
    ],
)
def test_nsp_pairs_errors(args, message):
    cuts, batch, *p = args
    with pytest.raises(ValueError, match=message):
        nsp_pairs(torch.tensor(cuts), batch, gen(), *p)


SPECIALS = Specials(pad=PAD, cls=CLS, sep=SEP, mask=MASK, vocab_size=VOCAB)


def numbered_documents(n_docs: int = 4, n_sentences: int = 4, length: int = 3) -> list:
    """Document d, sentence k holds ``length`` copies of the id ``10 d + k``: a token tells where it
    comes from."""
    return [[[10 * d + k] * length for k in range(n_sentences)] for d in range(n_docs)]


def segments(batch) -> list[tuple[list[int], list[int]]]:
    """(A, B) of each row of an uncorrupted batch, read back from ``[CLS] A [SEP] B [SEP] [PAD]...``."""
    out = []
    for row, types, keep in zip(batch.ids, batch.token_type_ids, batch.mask[:, 0], strict=True):
        real, types = row[keep].tolist(), types[keep].tolist()
        assert real[0] == CLS and real[-1] == SEP and real.count(SEP) == 2
        sep = real.index(SEP)
        assert types == [0] * (sep + 1) + [1] * (len(real) - sep - 1)
        out.append((real[1:sep], real[sep + 1 : -1]))
    return out


def test_pretraining_batches_layout_and_whole_sentences():
    batches = PretrainingBatches(numbered_documents(), SPECIALS, 200, 7, 0.0, select_prob=0.0)
    batch = batches(gen(5))
    assert batch.ids.shape == (200, 17) and batches.seq_len == 17 and len(batches) == 4 * 3
    assert batch.mask.shape == (200, 1, 17) and (batch.ids[~batch.mask[:, 0]] == PAD).all()
    assert (batch.nsp_labels == 0).all() and (batch.mlm_labels == IGNORE_INDEX).all()
    for a, b in segments(batch):
        # 7 tokens hold two sentences of 3: A is the last two before the cut (or the first
        # sentence alone), B the next two (or the last alone), all from one document
        sa, sb = sorted(set(a)), sorted(set(b))
        assert a == [t for t in sa for _ in range(3)] and b == [t for t in sb for _ in range(3)]
        assert len(sa) == min(2, sa[-1] % 10 + 1) and len(sb) == min(2, 4 - sb[0] % 10)
        assert sb[0] == sa[-1] + 1  # B starts with the sentence after A's last


def test_pretraining_batches_random_b_comes_from_another_document():
    batches = PretrainingBatches(numbered_documents(), SPECIALS, 2000, 7, 0.5, select_prob=0.0)
    batch = batches(gen(6))
    assert within(int(batch.nsp_labels.sum()), 2000, 0.5)
    for (a, b), label in zip(segments(batch), batch.nsp_labels.tolist(), strict=True):
        assert label == int(a[0] // 10 != b[0] // 10)
        assert b[0] % 10 >= 1  # either way B starts after a cut, never at a document's start
    again = batches(gen(6))
    assert torch.equal(again.ids, batch.ids) and torch.equal(again.nsp_labels, batch.nsp_labels)


def test_pretraining_batches_truncates_a_long_sentence_and_masks():
    docs = [[list(range(10)), [20, 21]], [[30, 31], [32, 33, 34]]]  # a sentence longer than 4
    batches = PretrainingBatches(docs, SPECIALS, 64, 4, 0.0, select_prob=0.0)
    pairs = {tuple(map(tuple, p)) for p in segments(batches(gen(7)))}
    assert pairs == {((6, 7, 8, 9), (20, 21)), ((30, 31), (32, 33, 34))}  # A keeps its end
    batch = PretrainingBatches(docs, SPECIALS, 64, 4, 0.5)(gen(8))
    assert batch.mlm_labels.ne(IGNORE_INDEX).any()
    assert (batch.mlm_labels[~batch.mask[:, 0]] == IGNORE_INDEX).all()  # padding never selected


def test_pretraining_batches_errors():
    with pytest.raises(ValueError, match="need at least 2"):
        PretrainingBatches([[[1, 2], [3]], [[4, 5]]], SPECIALS, 2, 4)  # one document has a cut
    with pytest.raises(ValueError, match="segment_len=0"):
        PretrainingBatches(numbered_documents(), SPECIALS, 2, 0)
    with pytest.raises(ValueError, match="nsp_random_prob=-1"):
        PretrainingBatches(numbered_documents(), SPECIALS, 2, 4, nsp_random_prob=-1)
    with pytest.raises(ValueError, match="empty sentence"):
        PretrainingBatches([[[1], []], [[2], [3]]], SPECIALS, 2, 4)
    with pytest.raises(TypeError, match="document 0"):
        PretrainingBatches([["a b", "c"], [[2], [3]]], SPECIALS, 2, 4)
    with pytest.raises(TypeError, match="not one token stream"):
        PretrainingBatches(torch.arange(40), SPECIALS, 2, 4)


# --- losses on a model, and a short training run -------------------------------------------------


def small_bert() -> BERT:
    torch.manual_seed(0)
    return BERT(BERTConfig(vocab_size=VOCAB, d_model=32, n_heads=4, n_layers=1, max_len=16))


def test_losses_on_a_model():
    model = small_bert().eval()
    batch = PretrainingBatches(numbered_documents(), SPECIALS, 8, 4, nsp_random_prob=0.5)(gen())
    out = model(batch.ids, mask=batch.mask, token_type_ids=batch.token_type_ids)
    mlm = masked_lm_loss(out.mlm_logits, batch.mlm_labels)
    nsp = F.cross_entropy(out.nsp_logits, batch.nsp_labels)
    torch.testing.assert_close(mlm_loss(model, batch), mlm)
    torch.testing.assert_close(nsp_loss(model, batch), nsp)
    torch.testing.assert_close(mlm_nsp_loss(model, batch), mlm + nsp)


def test_mlm_pretraining_learns_repeated_documents():
    model = small_bert()
    documents = [[[1, 2, 3], [4, 5, 6, 7]], [[8, 9], [10, 11, 12]]] * 5
    batches = PretrainingBatches(documents, SPECIALS, 16, 4)
    config = TrainConfig(max_steps=60, warmup_steps=5, lr=3e-3, progress=False)
    history = train(model, mlm_loss, batches, config)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


# --- fine-tuning helpers ---------------------------------------------------------------------------


class Letters:
    vocab_size = 30

    def encode(self, text):
        return [ord(c) - ord("a") for c in text]


def test_encode_for_classification_pads_and_truncates():
    s = Specials(pad=26, cls=27, sep=28, mask=29, vocab_size=30)
    ids, lengths = encode_for_classification(["abc", "a", "abcdefgh"], Letters(), s, max_len=6)
    assert lengths.tolist() == [5, 3, 6]
    assert ids.tolist() == [
        [27, 0, 1, 2, 28, 26],
        [27, 0, 28, 26, 26, 26],
        [27, 0, 1, 2, 3, 28],
    ]
    with pytest.raises(ValueError, match="max_len=2"):
        encode_for_classification(["a"], Letters(), s, max_len=2)
    with pytest.raises(ValueError, match="texts is empty"):
        encode_for_classification([], Letters(), s, max_len=5)


def test_classification_batches_loss_and_accuracy():
    s = Specials(pad=26, cls=27, sep=28, mask=29, vocab_size=30)
    ids, lengths = encode_for_classification(["ab", "ba", "abab", "b"], Letters(), s, 8)
    labels = torch.tensor([0, 1, 0, 1])
    data = ClassificationBatches(ids, lengths, labels, batch_size=5)
    x, mask, y = data(gen())
    assert x.shape == (5, 6) and mask.shape == (5, 1, 6) and y.shape == (5,)
    assert torch.equal(mask[:, 0].sum(-1), lengths[torch.tensor([int(r) for r in _rows(data)])])
    torch.manual_seed(0)
    bert = BERT(BERTConfig(vocab_size=30, d_model=16, n_heads=2, n_layers=1, max_len=8))
    clf = SequenceClassifier(bert.encoder, 2).eval()  # no dropout, to compare
    loss = classification_loss(clf, (x, mask, y))
    torch.testing.assert_close(loss, F.cross_entropy(clf(x, mask=mask), y))
    clf.train()
    acc = accuracy(clf, data)
    assert clf.training  # restored
    predictions = clf.eval()(ids, mask=data.mask).argmax(-1)
    assert acc == (predictions == labels).float().mean().item()
    with pytest.raises(ValueError, match="expected ids"):
        ClassificationBatches(ids, lengths[:2], labels, 2)


def _rows(data: ClassificationBatches) -> torch.Tensor:
    """The rows the first batch of ``gen()`` draws (the same draw ClassificationBatches makes)."""
    return torch.randint(len(data), (data.batch_size,), generator=gen())


# --- the toy language and its task ---------------------------------------------------------------


def test_generated_documents_are_grammatical():
    docs = generate_documents(50, gen(7))
    assert len(docs) == 50 and all(3 <= len(d) <= 6 for d in docs)
    assert all(is_grammatical(s) for d in docs for s in d)
    assert generate_documents(5, gen(7)) == docs[:5]


def test_is_grammatical():
    assert is_grammatical("the king sees a horse .")
    assert is_grammatical("the old king sees a fair horse near the river today .")
    assert not is_grammatical("the king sees a horse")  # no full stop
    assert not is_grammatical("the king a horse .")  # no verb
    assert not is_grammatical("king sees a horse .")  # no determiner
    assert not is_grammatical("the old old king sees a horse .")  # one adjective at most
    with pytest.raises(ValueError, match="'castle' is not a word"):
        is_grammatical("the castle sees a horse .")


def test_task_labels_are_exact():
    task = grammaticality_task(400, gen(8))
    assert len(task) == 400 and int(task.labels.sum()) == 200
    assert all(
        is_grammatical(t) == (y == 0) for t, y in zip(task.texts, task.labels.tolist(), strict=True)
    )
    assert grammaticality_task(400, gen(8)).texts == task.texts


def test_corruption_replaces_exactly_one_word_by_another_class():
    classes = word_classes()
    g = gen(9)
    for doc in generate_documents(30, g):
        for s in doc:
            bad = corrupt_sentence(s, g)
            diff = [(a, b) for a, b in zip(s.split(), bad.split(), strict=True) if a != b]
            assert len(bad.split()) == len(s.split()) and len(diff) == 1
            ((old, new),) = diff
            assert classes[old] != classes[new] and new != "."
            assert not is_grammatical(bad)


def test_task_errors():
    with pytest.raises(ValueError, match="n=3"):
        grammaticality_task(3, gen())
    with pytest.raises(ValueError, match="n_documents=0"):
        generate_documents(0, gen())
    with pytest.raises(ValueError, match="no word to replace"):
        corrupt_sentence(". .", gen())
    with pytest.raises(TypeError, match="torch.Generator"):
        generate_documents(3, 0)


def test_word_tokenizer():
    tok = WordTokenizer(SPECIAL_TOKENS)
    n_words = sum(len(w) for w in CLASSES.values())
    assert tok.vocab_size == n_words + 4
    ids = tok.encode("the king sees a horse .")
    assert tok.decode(ids) == "the king sees a horse ."
    s = Specials.of(tok)
    assert s.ids == tuple(range(n_words, n_words + 4)) and s.vocab_size == tok.vocab_size
    with pytest.raises(ValueError, match="'castle' is not a word"):
        tok.encode("the castle")
    with pytest.raises(ValueError, match=r"'\[MASK\]' is not a word"):
        tok.encode("the [MASK]")
    with pytest.raises(ValueError, match="not a special"):
        tok.token_to_id("king")
    with pytest.raises(ValueError, match="repeat"):
        WordTokenizer(["king"])


# --- span corruption (T5) ------------------------------------------------------------------------

SENTINELS = tuple(range(1000, 1100))  # ids outside the text's range


def spans_of(mask: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool mask."""
    lengths, run = [], 0
    for x in [*mask.tolist(), False]:
        if x:
            run += 1
        elif run:
            lengths.append(run)
            run = 0
    return lengths


def reconstruct(inputs: torch.Tensor, targets: torch.Tensor) -> list[int]:
    """Put each target span back in place of its sentinel."""
    spans, current = {}, None
    for t in targets.tolist():
        if t in SENTINELS:
            current = t
            spans[current] = []
        else:
            spans[current].append(t)
    out = []
    for t in inputs.tolist():
        out += spans[t] if t in SENTINELS else [t]
    return out


def test_span_mask_counts_and_mean_length():
    g, lengths, noise, total = gen(0), [], 0, 0
    for n in (20, 57, 100, 512):
        for _ in range(200):
            mask = random_spans_mask(n, g)
            assert mask.shape == (n,) and mask.dtype == torch.bool
            assert int(mask.sum()) == round(0.15 * n)  # T5 fixes the count per sequence
            assert not mask[0] and mask[-1]  # kept first, a span last
            lengths += spans_of(mask)
            noise, total = noise + int(mask.sum()), total + n
    assert abs(noise / total - 0.15) < 0.005
    assert abs(sum(lengths) / len(lengths) - 3.0) < 0.1


def test_span_lengths_vary_and_are_uniform_splits():
    g = gen(1)
    lengths = [x for _ in range(2000) for x in spans_of(random_spans_mask(100, g))]
    assert sum(lengths) / len(lengths) == 3.0  # 15 noise tokens in 5 spans, every time
    assert min(lengths) == 1 and max(lengths) >= 8  # not all of length 3
    # every split of 15 into 5 positive lengths is equally likely (C(14, 4) = 1001 of them); a given
    # span has length 1 in C(13, 3) = 286 (the other four split the remaining 14)
    share_of_length_1 = sum(x == 1 for x in lengths) / len(lengths)
    assert math.comb(14, 4) == 1001 and math.comb(13, 3) == 286
    assert abs(share_of_length_1 - 286 / 1001) < 0.02


def test_span_corruption_round_trip_and_sentinels_in_order():
    g = gen(2)
    for n in (2, 3, 10, 31, 200):
        for _ in range(50):
            ids = torch.randint(0, 500, (n,), generator=g)
            inputs, targets = span_corruption(ids, g, sentinel_ids=SENTINELS)
            assert reconstruct(inputs, targets) == ids.tolist()
            used_in = [t for t in inputs.tolist() if t in SENTINELS]
            used_out = [t for t in targets.tolist() if t in SENTINELS]
            k = len(used_in)
            assert used_in == list(SENTINELS[:k]) and used_out == list(SENTINELS[: k + 1])
            assert targets[0].item() == SENTINELS[0] and targets[-1].item() == SENTINELS[k]
            n_noise = len(targets) - k - 1
            assert len(inputs) == n - n_noise + k
            assert inputs.dtype == targets.dtype == torch.long


def test_span_corruption_one_span_exact_layout():
    ids = torch.arange(10)
    inputs, targets = span_corruption(ids, gen(3), sentinel_ids=SENTINELS, noise_density=0.3)
    # 3 noise tokens in 1 span (3 / 3), kept run first and the span last: the layout is fixed
    assert inputs.tolist() == [0, 1, 2, 3, 4, 5, 6, SENTINELS[0]]
    assert targets.tolist() == [SENTINELS[0], 7, 8, 9, SENTINELS[1]]


def test_span_corruption_of_a_batch_is_its_rows_drawn_in_turn():
    g = gen(4)
    batch = torch.randint(0, 500, (5, 64), generator=g)  # (5, 64)
    inputs, targets = span_corruption(batch, gen(11), sentinel_ids=SENTINELS)
    n_noise, n_spans = round(0.15 * 64), round(round(0.15 * 64) / 3)
    assert inputs.shape == (5, 64 - n_noise + n_spans) and targets.shape == (
        5,
        n_noise + n_spans + 1,
    )
    assert inputs.dtype == targets.dtype == torch.long
    one = gen(11)  # the same generator, row by row
    for row, x, y in zip(batch, inputs, targets, strict=True):
        assert reconstruct(x, y) == row.tolist()
        x1, y1 = span_corruption(row, one, sentinel_ids=SENTINELS)
        assert torch.equal(x, x1) and torch.equal(y, y1)
    masks = {tuple(t for t in y.tolist() if t not in SENTINELS) for y in targets}
    assert len(masks) > 1  # the rows get different spans


def test_span_corruption_is_deterministic_given_the_generator():
    ids = torch.arange(100)
    a = span_corruption(ids, gen(7), sentinel_ids=SENTINELS)
    b = span_corruption(ids, gen(7), sentinel_ids=SENTINELS)
    c = span_corruption(ids, gen(8), sentinel_ids=SENTINELS)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_span_corruption_keeps_the_input_untouched():
    ids = torch.arange(50)
    before = ids.clone()
    span_corruption(ids, gen(0), sentinel_ids=SENTINELS)
    assert torch.equal(ids, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ids": torch.arange(10.0)}, TypeError, "integer tensor"),
        ({"ids": torch.zeros(2, 3, 10, dtype=torch.long)}, ValueError, r"\(batch, seq\)"),
        ({"ids": torch.zeros(0, 10, dtype=torch.long)}, ValueError, "empty batch"),
        ({"sentinel_ids": (1000, 1001, 1000)}, ValueError, "more than once"),
        ({"ids": torch.tensor([5])}, ValueError, "at least 2"),
        ({"generator": None}, TypeError, "torch.Generator"),
        ({"noise_density": 0.0}, ValueError, "noise_density=0.0"),
        ({"noise_density": 1.0}, ValueError, "noise_density=1.0"),
        ({"mean_span_length": 0.5}, ValueError, "mean_span_length=0.5"),
        ({"sentinel_ids": (1000,)}, ValueError, "sentinel_ids has 1 ids"),
        ({"ids": torch.tensor([1, 2, 1000, 4])}, ValueError, "already contains a sentinel"),
    ],
)
def test_span_corruption_errors(kwargs, error, match):
    args = {"ids": torch.arange(40), "generator": gen(0), "sentinel_ids": SENTINELS}
    args.update(kwargs)
    ids, generator = args.pop("ids"), args.pop("generator")
    with pytest.raises(error, match=match):
        span_corruption(ids, generator, **args)


def test_random_spans_mask_errors():
    with pytest.raises(ValueError, match="length=1"):
        random_spans_mask(1, gen(0))
    with pytest.raises(ValueError, match="length=True"):
        random_spans_mask(True, gen(0))
