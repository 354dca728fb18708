"""companion.pretraining (BERT's MLM and NSP objectives, fine-tuning batches) and the toy-language
task of companion.data.toy_language."""

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
from companion.pretraining import (
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
    a, b, labels = nsp_pairs(10, 20_000, gen(4))
    assert torch.equal(labels, (b != a + 1).long())
    assert a.min() >= 0 and a.max() <= 8 and b.min() >= 0 and b.max() <= 9
    assert within(int(labels.sum()), 20_000, 0.5)
    # a random B is uniform over the 9 segments other than a + 1 (a itself included)
    others = b[labels == 1] - a[labels == 1]
    assert (others != 1).all() and (others == 0).any()
    a, b, labels = nsp_pairs(10, 1000, gen(4), random_prob=0.0)
    assert torch.equal(b, a + 1) and (labels == 0).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [((2, 4), "n_segments=2"), ((10, 0), "batch_size=0"), ((10, 4, 2.0), "random_prob=2.0")],
)
def test_nsp_pairs_errors(args, message):
    n, batch, *p = args
    with pytest.raises(ValueError, match=message):
        nsp_pairs(n, batch, gen(), *p)


SPECIALS = Specials(pad=PAD, cls=CLS, sep=SEP, mask=MASK, vocab_size=VOCAB)


def test_pretraining_batches_layout():
    tokens = torch.arange(40) % PAD  # 10 segments of 4 ordinary tokens
    batches = PretrainingBatches(tokens, SPECIALS, batch_size=6, segment_len=4, select_prob=0.0)
    batch = batches(gen(5))
    assert batch.ids.shape == (6, 11) and batches.seq_len == 11
    assert (batch.ids[:, 0] == CLS).all() and (batch.ids[:, 5] == SEP).all()
    assert (batch.ids[:, 10] == SEP).all()
    assert torch.equal(batch.token_type_ids[0], torch.tensor([0] * 6 + [1] * 5))
    assert (batch.nsp_labels == 0).all() and (batch.mlm_labels == IGNORE_INDEX).all()
    a, b = batch.ids[:, 1:5], batch.ids[:, 6:10]
    assert torch.equal(b[:, 0], (a[:, 0] + 4) % PAD)  # contiguous: B is the segment after A


def test_pretraining_batches_nsp_and_masking():
    tokens = torch.arange(PAD)  # segment_len 1: segment k is the token k
    batches = PretrainingBatches(tokens, SPECIALS, 500, 1, nsp_random_prob=0.5)
    batch = batches(gen(6))
    assert within(int(batch.nsp_labels.sum()), 500, 0.5)
    assert batch.mlm_labels.ne(IGNORE_INDEX).any()
    originals = torch.where(batch.mlm_labels == IGNORE_INDEX, batch.ids, batch.mlm_labels)
    a, b = originals[:, 1], originals[:, 3]  # [CLS] A [SEP] B [SEP]
    assert torch.equal(batch.nsp_labels, (b != a + 1).long())  # 0 exactly when B continues A
    again = batches(gen(6))
    assert torch.equal(again.ids, batch.ids) and torch.equal(again.nsp_labels, batch.nsp_labels)


def test_pretraining_batches_errors():
    with pytest.raises(ValueError, match="fewer than 3 segments"):
        PretrainingBatches(torch.arange(8), SPECIALS, 2, 4)
    with pytest.raises(ValueError, match="segment_len=0"):
        PretrainingBatches(torch.arange(8), SPECIALS, 2, 0)
    with pytest.raises(ValueError, match="nsp_random_prob=-1"):
        PretrainingBatches(torch.arange(80), SPECIALS, 2, 4, nsp_random_prob=-1)


# --- losses on a model, and a short training run -------------------------------------------------


def small_bert() -> BERT:
    torch.manual_seed(0)
    return BERT(BERTConfig(vocab_size=VOCAB, d_model=32, n_heads=4, n_layers=1, max_len=16))


def test_losses_on_a_model():
    model = small_bert().eval()
    batch = PretrainingBatches(torch.arange(400) % PAD, SPECIALS, 8, 4, nsp_random_prob=0.5)(gen())
    out = model(batch.ids, batch.token_type_ids)
    mlm = masked_lm_loss(out.mlm_logits, batch.mlm_labels)
    nsp = F.cross_entropy(out.nsp_logits, batch.nsp_labels)
    torch.testing.assert_close(mlm_loss(model, batch), mlm)
    torch.testing.assert_close(nsp_loss(model, batch), nsp)
    torch.testing.assert_close(mlm_nsp_loss(model, batch), mlm + nsp)


def test_mlm_pretraining_learns_a_repeating_stream():
    model = small_bert()
    batches = PretrainingBatches(torch.arange(400) % 8, SPECIALS, 16, 4)
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
    torch.testing.assert_close(loss, F.cross_entropy(clf(x, mask), y))
    clf.train()
    acc = accuracy(clf, data)
    assert clf.training  # restored
    predictions = clf.eval()(ids, data.mask).argmax(-1)
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
