"""Checkers of the chapter notebooks/33_bert_pretraining: the 80/10/10 corruption and the MLM loss.

The corruption is random, so :func:`check_mask_tokens` cannot compare the learner's output with
a reference: it checks the rates on a large sample against binomial bands (five standard
deviations: a correct version fails a case about once in a million runs), and the rules that
hold for every draw (specials untouched, labels -100 off the selection, determinism).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from companion.course.core import Case, Score, case_generator, compare, run_cases
from companion.course.registry import Chapter

CHAPTER = Chapter(33, "bert_pretraining")  # notebooks/33_bert_pretraining.ipynb


# A vocabulary of 46 ordinary ids and 4 specials, as in the chapter's toy language.
VOCAB_SIZE, PAD, CLS, SEP, MASK = 50, 46, 47, 48, 49
SPECIAL_IDS = (PAD, CLS, SEP, MASK)
N_ORDINARY = VOCAB_SIZE - len(SPECIAL_IDS)
BAND_SDS = 5.0


def _rows(case: int, n_rows: int = 400, seq: int = 128) -> Tensor:
    """``[CLS] ordinary tokens [SEP] [PAD] ...`` rows of random lengths: ``(n_rows, seq)`` int64."""
    g = case_generator(case)
    ids = torch.randint(0, N_ORDINARY, (n_rows, seq), generator=g)
    lengths = torch.randint(seq // 2, seq + 1, (n_rows,), generator=g)
    for i, n in enumerate(lengths.tolist()):
        ids[i, 0], ids[i, n - 1] = CLS, SEP
        ids[i, n:] = PAD
    return ids


def _band(count: int, n: int, p: float, what: str) -> str | None:
    """None if ``count / n`` is within :data:`BAND_SDS` binomial standard deviations of ``p``."""
    if n == 0:
        return f"{what}: no token to count (nothing was selected)"
    sd = math.sqrt(p * (1 - p) / n)
    rate = count / n
    if abs(rate - p) > BAND_SDS * sd:
        return f"{what} is {rate:.3f}, outside the band {p:.3f} +/- {BAND_SDS * sd:.3f}"
    return None


@CHAPTER.exercise(
    "ex-bert-mask-tokens",
    title="Implement the 80/10/10 corruption",
    difficulty="medium",
    names=("my_mask_tokens",),
    references=("companion.objectives.mask_tokens",),
)
def check_mask_tokens(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-bert-mask-tokens: ``my_mask_tokens(ids, generator, mask_id, vocab_size, special_ids,
    select_prob=0.15) -> (corrupted, labels)``, BERT's 80/10/10 corruption."""

    def call(case: int, seed: int, **kw) -> tuple[Tensor, Tensor, Tensor]:
        ids = _rows(case)
        out = fn(
            ids.clone(),
            torch.Generator().manual_seed(seed),
            mask_id=MASK,
            vocab_size=VOCAB_SIZE,
            special_ids=SPECIAL_IDS,
            **kw,
        )
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise TypeError(f"expected a pair (corrupted, labels), got {type(out).__name__}")
        corrupted, labels = out
        for name, t in (("corrupted", corrupted), ("labels", labels)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name} is a {type(t).__name__}, not a torch.Tensor")
            if t.shape != ids.shape or t.dtype != torch.long:
                raise TypeError(
                    f"{name} has shape {tuple(t.shape)} and dtype {t.dtype}, expected "
                    f"{tuple(ids.shape)} and torch.int64"
                )
        return ids, corrupted, labels

    def rates(case: int, what: str, select_prob: float | None = None) -> Callable[[], str | None]:
        def run():
            kw = {} if select_prob is None else {"select_prob": select_prob}
            ids, corrupted, labels = call(case, case, **kw)
            selected = labels != -100
            n_sel = int(selected.sum())
            if what == "selected":
                ordinary = ~torch.isin(ids, torch.tensor(SPECIAL_IDS))
                p = 0.15 if select_prob is None else select_prob
                count = int((selected & ordinary).sum())
                return _band(count, int(ordinary.sum()), p, "the share of ordinary tokens selected")
            masked = int((selected & (corrupted == MASK)).sum())
            kept = int((selected & (corrupted == ids)).sum())
            if what == "mask":
                return _band(masked, n_sel, 0.8, "the share of selected tokens set to [MASK]")
            if what == "random":  # a random draw equals the original with probability 1/46
                replaced = n_sel - masked - kept
                p = 0.1 * (1 - 1 / N_ORDINARY)
                return _band(replaced, n_sel, p, "the share replaced by a different token")
            return _band(kept, n_sel, 0.1 + 0.1 / N_ORDINARY, "the share left unchanged")

        return run

    def specials() -> str | None:
        ids, corrupted, labels = call(5, 5, select_prob=1.0)
        special = torch.isin(ids, torch.tensor(SPECIAL_IDS))
        if (labels[special] != -100).any():
            return f"{int((labels[special] != -100).sum())} special or padding tokens were selected"
        if not torch.equal(corrupted[special], ids[special]):
            return "a special or padding token was changed"
        if (labels[~special] == -100).any():
            return "with select_prob=1.0 some ordinary tokens were not selected"
        return None

    def labels_rule() -> str | None:
        ids, corrupted, labels = call(6, 6)
        selected = labels != -100
        if not torch.equal(labels[selected], ids[selected]):
            return "labels at the selected positions are not the original tokens"
        if not torch.equal(corrupted[~selected], ids[~selected]):
            wrong = int((corrupted[~selected] != ids[~selected]).sum())
            return f"{wrong} tokens whose label is -100 were changed (only selected ones may be)"
        return None

    def replacements() -> str | None:
        ids, corrupted, labels = call(7, 7)
        changed = (corrupted != ids) & (corrupted != MASK)
        bad = corrupted[changed]
        if ((bad < 0) | (bad >= VOCAB_SIZE)).any():
            return "a random replacement lies outside the vocabulary"
        if torch.isin(bad, torch.tensor(SPECIAL_IDS)).any():
            return "a random replacement is a special token ([PAD], [CLS], [SEP] or [MASK])"
        return None

    def determinism() -> str | None:
        _, c1, l1 = call(8, 123)
        _, c2, l2 = call(8, 123)
        if not (torch.equal(c1, c2) and torch.equal(l1, l2)):
            return "two calls with generators seeded alike differ: draw from `generator` only"
        _, _, l3 = call(8, 124)
        if torch.equal(l1, l3):
            return "generators with different seeds give the same selection"
        return None

    def input_untouched() -> str | None:
        ids = _rows(9)
        before = ids.clone()
        fn(
            ids,
            torch.Generator().manual_seed(9),
            mask_id=MASK,
            vocab_size=VOCAB_SIZE,
            special_ids=SPECIAL_IDS,
        )
        return None if torch.equal(ids, before) else "ids was modified in place; work on a copy"

    cases: list[Case] = [
        ("15% of the ordinary tokens are selected", rates(1, "selected")),
        ("80% of the selected become [MASK]", rates(2, "mask")),
        ("10% of the selected become a random token", rates(3, "random")),
        ("10% of the selected are left unchanged", rates(4, "kept")),
        ("select_prob=0.3 selects 30%", rates(10, "selected", select_prob=0.3)),
        ("specials and padding are never selected", specials),
        ("labels: the original where selected, -100 elsewhere", labels_rule),
        ("random replacements are ordinary tokens", replacements),
        ("the same generator seed gives the same output", determinism),
        ("the input tensor is not modified", input_untouched),
    ]
    return run_cases("ex-bert-mask-tokens", cases, verbose)


MLM_ATOL = 1e-10


@CHAPTER.exercise(
    "ex-bert-mlm-loss",
    title="The loss on the selected positions",
    difficulty="easy",
    names=("my_mlm_loss",),
    references=("companion.objectives.masked_lm_loss",),
)
def check_mlm_loss(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-bert-mlm-loss: ``my_mlm_loss(logits, labels)``, the mean cross-entropy over the positions
    whose label is not -100, against :func:`torch.nn.functional.cross_entropy` (float64)."""

    def case(seed, batch, seq, vocab, counts, scale=1.0, grads=False):
        def run():
            g = case_generator(seed)
            logits = scale * torch.randn(batch, seq, vocab, generator=g, dtype=torch.float64)
            labels = torch.full((batch, seq), -100)
            for b, k in enumerate(counts):
                where = torch.randperm(seq, generator=g)[:k]
                labels[b, where] = torch.randint(vocab, (k,), generator=g)
            want_logits = logits.clone().requires_grad_(grads)
            got_logits = logits.clone().requires_grad_(grads)
            with torch.enable_grad():
                got = fn(got_logits, labels.clone())
                want = F.cross_entropy(
                    want_logits.reshape(-1, vocab), labels.reshape(-1), ignore_index=-100
                )
                problem = compare(got, want, "loss", MLM_ATOL)
                if problem or not grads:
                    return problem
                if not got.requires_grad:
                    return "the loss has no gradient (was it computed outside autograd?)"
                (got_g,) = torch.autograd.grad(got, got_logits)
                (want_g,) = torch.autograd.grad(want, want_logits)
            return compare(got_g, want_g, "gradient with respect to the logits", 1e-10)

        return run

    cases: list[Case] = [
        ("one selected position per sequence", case(1, 2, 5, 7, [1, 1])),
        ("different numbers of selected positions per sequence", case(2, 3, 8, 11, [1, 5, 2])),
        ("a sequence with no selected position", case(3, 3, 6, 5, [2, 0, 3])),
        ("every position selected", case(4, 2, 4, 6, [4, 4])),
        ("large logits (scale 1000): numerically stable", case(5, 2, 6, 9, [3, 2], scale=1000.0)),
        ("gradients with respect to the logits", case(6, 2, 7, 8, [3, 4], grads=True)),
    ]
    return run_cases("ex-bert-mlm-loss", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-bert-by-hand", title="What the model sees, by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-bert-freeze", title="Freeze the encoder: predict, then measure", difficulty="medium"
)
