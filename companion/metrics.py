"""Scores written from their formulas: BLEU, chrF and ROUGE for generated text; expected
calibration error and AUROC for a classifier's confidence; bootstrap intervals for any of them.

Each equals the implementation the field reports with (tests/test_metrics.py checks it to 1e-6):

* :func:`bleu` — Papineni et al. (2002) as ``sacrebleu.corpus_bleu(hypotheses, [references])``
  computes it by default: the ``13a`` tokenization of mteval-v13a, n-grams up to 4, clipped
  counts summed over the corpus, the brevity penalty ``exp(1 - r/c)``, and the ``exp`` smoothing
  of mteval (an order with no match counts as ``1 / (2^k total)``), on a 0-100 scale;
* :func:`chrf` — Popović (2015) as ``sacrebleu.corpus_chrf`` computes it by default: character
  n-grams up to 6 with whitespace removed, no word n-grams, ``beta = 2``, on a 0-100 scale;
* :func:`rouge` — Lin (2004) as ``rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2",
  "rougeL"], use_stemmer=False)`` computes it: lower-cased ``[a-z0-9]+`` tokens, F-measures on a
  0-1 scale.

The text scores take one reference per hypothesis and work on strings. Nothing here imports torch.

For confidences (chapter 71; tests/test_metrics_calibration.py checks them):

* :func:`expected_calibration_error` — the top-label form of Guo et al. (2017), with equal-width
  bins: the confidence of the predicted class in ``(lo, hi]`` bins, the gap between accuracy and
  mean confidence per bin, weighted by the bin's share of the inputs (Naeini et al. 2015 defined
  the ECE for binary classifiers); :func:`reliability_bins` gives the bins;
* :func:`auroc` — the area under the ROC curve as the Mann-Whitney statistic with tied scores
  given their average rank, equal to ``sklearn.metrics.roc_auc_score(labels, scores)``;
* :func:`bootstrap_interval` — a percentile bootstrap over the rows of any statistic's arrays.

These take NumPy arrays, lists or CPU tensors (anything ``numpy.asarray`` reads).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from companion import validators as check

__all__ = [
    "BLEUScore",
    "Interval",
    "ReliabilityBins",
    "TOKENIZERS",
    "auroc",
    "bleu",
    "bleu_score",
    "bootstrap_interval",
    "brevity_penalty",
    "chrf",
    "expected_calibration_error",
    "lcs_length",
    "modified_precision",
    "ngrams",
    "reliability_bins",
    "rouge",
    "rouge_tokenize",
    "tokenize",
]

TOKENIZERS = ("13a", "zh", "char", "none")

# --- tokenization ---------------------------------------------------------------------------------

# mteval-v13a's language-dependent rules, applied in this order to " line ":
# 1. split off every ASCII punctuation mark except ' , - . (and the space itself):
_PUNCTUATION = re.compile(r"""([ !"#$%&()*+/:;<=>?@\[\\\]^_`{|}~])""")
# 2. split off "." and "," unless a digit precedes them (3.5 and 1,000 stay whole) ...
_DOT_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
# 3. ... or unless a digit follows them;
_DOT_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
# 4. split off "-" after a digit.
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")

# sacrebleu's "zh" tokenizer puts spaces around the characters of these code-point ranges. Two of
# its ranges are written with five hex digits ("\u20000"-"\u2a6d6", "\u2f800"-"\u2fa1d"), which
# Python reads as two-character strings: compared with one character they cover U+2001-U+2A6D
# (general punctuation such as "—" and "“" included) and U+2F81-U+2FA1, not CJK Extension B.
# We reproduce what it does, since that is what published zh BLEU scores mean.
_ZH_RANGES = (
    (0x3400, 0x4DB5), (0x4E00, 0x9FA5), (0x9FA6, 0x9FBB), (0xF900, 0xFA2D), (0xFA30, 0xFA6A),
    (0xFA70, 0xFAD9), (0x2001, 0x2A6D), (0x2F81, 0x2FA1), (0xFF00, 0xFFEF), (0x2E80, 0x2EFF),
    (0x3000, 0x303F), (0x31C0, 0x31EF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF), (0x3100, 0x312F),
    (0x31A0, 0x31BF), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F), (0x2600, 0x26FF), (0x2700, 0x27BF),
    (0x3200, 0x32FF), (0x3300, 0x33FF),
)  # fmt: skip


def _western_rules(line: str) -> list[str]:
    """mteval-v13a's language-dependent rules (1-4 above), then split on whitespace."""
    line = _PUNCTUATION.sub(r" \1 ", line)
    line = _DOT_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
    line = _DOT_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return line.split()


def _is_zh(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _ZH_RANGES)


def tokenize(text: str, kind: str = "13a") -> list[str]:
    """The tokens BLEU counts in ``text``, as sacreBLEU's tokenizer ``kind`` makes them.

    * ``"13a"`` (the default, mteval-v13a): drop ``<skipped>``, join lines, unescape ``&quot;
      &amp; &lt; &gt;``, split off ASCII punctuation (not ``'``; ``-`` only after a digit; ``.``
      and ``,`` unless they stand between two digits, as in 3.5), split on whitespace. Chinese
      has no spaces, so a Chinese sentence without punctuation stays **one token**.
    * ``"zh"``: each Chinese character (see ``_ZH_RANGES``) is a token; other text as 13a's rules.
    * ``"char"``: every character that is not whitespace is a token.
    * ``"none"``: split on whitespace only.

    Trailing whitespace is removed first, as sacreBLEU does.

    >>> tokenize("It's 3.5 km, (roughly).")
    ["It's", '3.5', 'km', ',', '(', 'roughly', ')', '.']
    """
    if not isinstance(text, str):
        check.fail("text", text, "a str", error=TypeError)
    check.one_of("kind", kind, TOKENIZERS)
    text = text.rstrip()
    if kind == "none":
        return text.split()
    if kind == "char":
        return [c for c in text if not c.isspace()]
    if kind == "zh":
        return _western_rules("".join(f" {c} " if _is_zh(c) else c for c in text.strip()))
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for escaped, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
        text = text.replace(escaped, char)
    return _western_rules(f" {text} ")


# --- BLEU -----------------------------------------------------------------------------------------


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """The n-grams of ``tokens`` with their counts: ``len(tokens) - n + 1`` of them (or none)."""
    check.positive_int("n", n)
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(
    hypothesis: Sequence[str], reference: Sequence[str], n: int
) -> tuple[int, int]:
    """BLEU's modified n-gram precision of one tokenized hypothesis, as (numerator, denominator).

    Each hypothesis n-gram counts at most as often as it occurs in the reference ("clipping"), so
    "the the the the" does not score 4/4 against "the cat":

    .. math:: p_n = \\frac{\\sum_g \\min(\\mathrm{count}_{hyp}(g), \\mathrm{count}_{ref}(g))}
                         {\\sum_g \\mathrm{count}_{hyp}(g)}

    Returned as the two integer sums, since corpus BLEU adds them over all sentences before it
    divides. ``(0, 0)`` when the hypothesis has fewer than ``n`` tokens.
    """
    hyp, ref = ngrams(hypothesis, n), ngrams(reference, n)
    clipped = sum(min(count, ref[g]) for g, count in hyp.items())  # sum_g min(c_hyp, c_ref)
    return clipped, sum(hyp.values())  # sum_g c_hyp(g)


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """BLEU's brevity penalty for ``hyp_len`` hypothesis tokens against ``ref_len`` reference
    tokens (corpus totals in corpus BLEU):

    .. math:: BP = 1 \\text{ if } c \\ge r, \\quad e^{1 - r/c} \\text{ if } 0 < c < r,
              \\quad 0 \\text{ if } c = 0.

    Precision alone rewards saying little; the penalty takes back what a short output gained.
    """
    c, r = check.nonnegative_int("hyp_len", hyp_len), check.nonnegative_int("ref_len", ref_len)
    if c >= r:
        return 1.0
    return math.exp(1 - r / c) if c > 0 else 0.0


@dataclass(frozen=True)
class BLEUScore:
    """Corpus BLEU and its parts: ``score`` (0-100), ``precisions`` (the smoothed p_n, 0-100),
    ``bp``, the corpus lengths ``hyp_len`` (c) and ``ref_len`` (r), and per order the clipped
    ``matches`` and the ``totals`` of hypothesis n-grams."""

    score: float
    precisions: tuple[float, ...]
    bp: float
    hyp_len: int
    ref_len: int
    matches: tuple[int, ...]
    totals: tuple[int, ...]

    def __str__(self) -> str:
        p = "/".join(f"{x:.1f}" for x in self.precisions)
        return f"BLEU = {self.score:.2f} {p} (BP = {self.bp:.3f}, c = {self.hyp_len}, r = {self.ref_len})"


def _check_pairs(hypotheses: object, references: object) -> None:
    for name, value in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(value, str) or not isinstance(value, Sequence):
            check.fail(
                name, value, "a list of strings", f"wrap a single sentence: [{name}]", TypeError
            )
        if not all(isinstance(s, str) for s in value):
            bad = next(type(s).__name__ for s in value if not isinstance(s, str))
            check.fail(name, f"<a list holding a {bad}>", "a list of strings", error=TypeError)
    if len(hypotheses) != len(references):  # type: ignore[arg-type]
        raise ValueError(
            f"len(hypotheses)={len(hypotheses)} != len(references)={len(references)}; "  # type: ignore[arg-type]
            "pass one reference per hypothesis"
        )
    if not hypotheses:
        raise ValueError("hypotheses is empty; pass at least one hypothesis/reference pair")


def bleu_score(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    tokenize: str = "13a",
    max_order: int = 4,
    smooth: str = "exp",
    effective_order: bool = False,
) -> BLEUScore:
    """Corpus BLEU of ``hypotheses`` against one reference each, with its parts (see :func:`bleu`).

    .. math:: \\mathrm{BLEU} = 100 \\cdot BP \\cdot \\exp\\Big(\\frac1N \\sum_{n=1}^N \\log p_n\\Big),
              \\qquad p_n = \\frac{\\sum_s \\mathrm{matches}_n(s)}{\\sum_s \\mathrm{totals}_n(s)}

    Smoothing (``smooth``): ``"exp"`` (sacreBLEU's default, mteval's): the k-th order with no
    match gets ``p_n = 1 / (2^k totals_n)``; ``"none"``: such an order makes BLEU 0. An order
    with no hypothesis n-gram at all (every hypothesis shorter than n) makes BLEU 0, unless
    ``effective_order`` (sacreBLEU's ``sentence_bleu`` default), which averages over the orders
    up to the last one that has n-grams. No match at all gives 0.
    """
    _check_pairs(hypotheses, references)
    check.one_of("tokenize", tokenize, TOKENIZERS)
    check.positive_int("max_order", max_order)
    check.one_of("smooth", smooth, ("exp", "none"))
    check.boolean("effective_order", effective_order)
    matches, totals = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for hyp_text, ref_text in zip(hypotheses, references, strict=True):
        hyp, ref = _tokens(hyp_text, tokenize), _tokens(ref_text, tokenize)
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)  # c and r: corpus totals
        for n in range(1, max_order + 1):
            m, t = modified_precision(hyp, ref, n)
            matches[n - 1] += m
            totals[n - 1] += t
    bp = brevity_penalty(hyp_len, ref_len)
    precisions = [0.0] * max_order
    if not any(matches):
        return BLEUScore(
            0.0, tuple(precisions), bp, hyp_len, ref_len, tuple(matches), tuple(totals)
        )
    orders, halvings = max_order, 0
    for n in range(max_order):
        if totals[n] == 0:  # no hypothesis n-gram of this order anywhere
            orders = n if effective_order else max_order
            break
        if matches[n] > 0:
            precisions[n] = matches[n] / totals[n]
        elif smooth == "exp":
            halvings += 1
            precisions[n] = 1 / (2**halvings * totals[n])  # p_n = 1 / (2^k totals_n)
    if any(p == 0 for p in precisions[:orders]):  # log 0: the geometric mean is 0
        score = 0.0
    else:
        score = 100 * bp * math.exp(sum(math.log(p) for p in precisions[:orders]) / orders)
    percent = tuple(100 * p for p in precisions)
    return BLEUScore(score, percent, bp, hyp_len, ref_len, tuple(matches), tuple(totals))


def _tokens(text: str, kind: str) -> list[str]:
    # bleu_score's keyword argument ``tokenize`` (sacreBLEU's name for it) shadows the function
    # :func:`tokenize` inside bleu_score, so it calls the function through this alias.
    return tokenize(text, kind)


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    tokenize: str = "13a",
    max_order: int = 4,
    smooth: str = "exp",
    effective_order: bool = False,
) -> float:
    """Corpus BLEU (0-100) of ``hypotheses``, one reference string each.

    With the defaults it equals ``sacrebleu.corpus_bleu(hypotheses, [references]).score``; with
    ``effective_order=True`` on one pair, ``sacrebleu.sentence_bleu(h, [r]).score``. For Chinese
    pass ``tokenize="zh"`` (or ``"char"``): the default 13a leaves an unspaced Chinese sentence as
    one token. See :func:`bleu_score` for the formula and the parts.

    Args:
        hypotheses: system outputs, ``list[str]``.
        references: one reference per hypothesis, ``list[str]`` of the same length.
        tokenize: ``"13a"``, ``"zh"``, ``"char"`` or ``"none"`` (see :func:`tokenize`).
        max_order: the longest n-gram, N (4).
        smooth: ``"exp"`` or ``"none"``.
        effective_order: average only over the orders the hypotheses have n-grams of.

    Raises:
        TypeError: if either argument is not a list of strings.
        ValueError: if the lists differ in length or are empty, or for an unknown option.
    """
    return bleu_score(
        hypotheses,
        references,
        tokenize=tokenize,
        max_order=max_order,
        smooth=smooth,
        effective_order=effective_order,
    ).score


# --- chrF -----------------------------------------------------------------------------------------


def chrf(
    hypotheses: Sequence[str], references: Sequence[str], *, char_order: int = 6, beta: float = 2
) -> float:
    """Corpus chrF (0-100): an F-score over character n-grams, one reference per hypothesis.

    Whitespace is removed, then for each order n = 1..``char_order`` the n-gram counts are
    clipped and summed over the corpus; precision and recall are averaged over the orders that
    occur in both hypotheses and references, and combined with recall weighted ``beta`` times:

    .. math:: \\mathrm{chrF}_\\beta = 100\\,\\frac{(1+\\beta^2)\\,\\overline{P}\\,\\overline{R}}
              {\\beta^2\\,\\overline{P} + \\overline{R}}

    With the defaults it equals ``sacrebleu.corpus_chrf(hypotheses, [references]).score``. It
    needs no tokenizer, so it works on Chinese as is.

    Raises:
        TypeError, ValueError: as :func:`bleu`; for ``char_order < 1`` or ``beta <= 0``.
    """
    _check_pairs(hypotheses, references)
    check.positive_int("char_order", char_order)
    check.number("beta", beta, 0, low_open=True)
    hyp_counts, ref_counts, matches = [0] * char_order, [0] * char_order, [0] * char_order
    for hyp_text, ref_text in zip(hypotheses, references, strict=True):
        hyp_chars, ref_chars = "".join(hyp_text.split()), "".join(ref_text.split())
        for n in range(1, char_order + 1):
            hyp, ref = ngrams(hyp_chars, n), ngrams(ref_chars, n)
            # an order the reference lacks counts no hypothesis n-grams either (as sacreBLEU)
            hyp_counts[n - 1] += sum(hyp.values()) if ref else 0
            ref_counts[n - 1] += sum(ref.values())
            matches[n - 1] += sum(min(c, ref[g]) for g, c in hyp.items())
    both = [n for n in range(char_order) if hyp_counts[n] > 0 and ref_counts[n] > 0]
    if not both:
        return 0.0
    p = sum(matches[n] / hyp_counts[n] for n in both) / len(both)  # mean character precision
    r = sum(matches[n] / ref_counts[n] for n in both) / len(both)  # mean character recall
    if p + r == 0:
        return 0.0
    return 100 * (1 + beta**2) * p * r / (beta**2 * p + r)


# --- ROUGE ----------------------------------------------------------------------------------------

_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokenize(text: str) -> list[str]:
    """rouge-score's default tokens: lower-case, then the runs of ``[a-z0-9]``; everything else
    separates tokens and is dropped. Chinese (or any non-ASCII letter) gives no tokens at all,
    so ROUGE of Chinese text is 0 unless it is transliterated or mapped to ids first."""
    if not isinstance(text, str):
        check.fail("text", text, "a str", error=TypeError)
    return _ROUGE_TOKEN.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest common subsequence of ``a`` and ``b`` (tokens in the same order,
    not necessarily adjacent), by dynamic programming in O(len(a) len(b))."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            # L[i][j] = L[i-1][j-1] + 1 if a_i = b_j else max(L[i-1][j], L[i][j-1])
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _f1(overlap: int, hyp_count: int, ref_count: int) -> dict[str, float]:
    p, r = overlap / max(hyp_count, 1), overlap / max(ref_count, 1)
    return {"precision": p, "recall": r, "fmeasure": 2 * p * r / (p + r) if p + r > 0 else 0.0}


def rouge(hypothesis: str, reference: str, *, measure: str = "fmeasure") -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L (0-1) of one hypothesis against one reference.

    ROUGE-n counts overlapping n-grams (clipped), ROUGE-L the longest common subsequence:

    .. math:: P = \\frac{\\mathrm{overlap}}{|\\mathrm{hyp}|}, \\quad
              R = \\frac{\\mathrm{overlap}}{|\\mathrm{ref}|}, \\quad F = \\frac{2PR}{P + R}

    on the tokens of :func:`rouge_tokenize` (no stemming). Returns ``{"rouge1", "rouge2",
    "rougeL"}`` -> the ``measure`` (``"fmeasure"``, ``"precision"`` or ``"recall"``), equal to
    ``RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False).score(reference,
    hypothesis)[key].<measure>`` (note rouge-score takes the reference first).
    """
    for name, value in (("hypothesis", hypothesis), ("reference", reference)):
        if not isinstance(value, str):
            check.fail(name, value, "a str", "score one pair at a time", TypeError)
    check.one_of("measure", measure, ("fmeasure", "precision", "recall"))
    hyp, ref = rouge_tokenize(hypothesis), rouge_tokenize(reference)
    out = {}
    for n in (1, 2):
        h, r = ngrams(hyp, n), ngrams(ref, n)
        overlap = sum(min(c, r[g]) for g, c in h.items())
        out[f"rouge{n}"] = _f1(overlap, sum(h.values()), sum(r.values()))[measure]
    if hyp and ref:
        out["rougeL"] = _f1(lcs_length(ref, hyp), len(hyp), len(ref))[measure]
    else:
        out["rougeL"] = 0.0
    return out


# --- calibration and ranking of confidences --------------------------------------------------------


def _probabilities_and_labels(probs: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` as a float ``(n, n_classes)`` array and ``labels`` as an int ``(n,)`` array."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        check.fail(
            "probs",
            f"<an array of shape {p.shape}>",
            "shape (n, n_classes) with n >= 1 and n_classes >= 2",
            "pass softmax(logits, dim=-1), one row per input",
        )
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        check.fail("probs", "<an array with values outside [0, 1]>", "probabilities in [0, 1]")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        check.fail(
            "labels",
            f"<an array of dtype {y.dtype} and shape {y.shape}>",
            f"integer class ids of shape ({p.shape[0]},), one per row of probs",
        )
    if y.min() < 0 or y.max() >= p.shape[1]:
        check.fail("labels", f"<ids from {y.min()} to {y.max()}>", f"ids in [0, {p.shape[1]})")
    return p, y


@dataclass(frozen=True)
class ReliabilityBins:
    """The bins of a reliability diagram, each an array of ``n_bins``: ``edges`` has
    ``n_bins + 1``; ``count`` inputs whose confidence falls in ``(edges[m], edges[m + 1]]``,
    their ``accuracy`` and mean ``confidence`` (NaN for an empty bin)."""

    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray


def reliability_bins(probs: object, labels: object, n_bins: int = 15) -> ReliabilityBins:
    """Group the inputs by confidence into ``n_bins`` equal-width bins (Guo et al. 2017).

    The confidence of an input is its largest probability, :math:`\\hat p_i = \\max_k p_{ik}`, and
    the prediction its arg max :math:`\\hat y_i`. Bin :math:`B_m` holds the inputs with
    :math:`\\hat p_i \\in (\\frac{m-1}{M}, \\frac{m}{M}]`; for each,

    .. math:: \\mathrm{acc}(B_m) = \\frac{1}{|B_m|} \\sum_{i \\in B_m} [\\hat y_i = y_i], \\qquad
              \\mathrm{conf}(B_m) = \\frac{1}{|B_m|} \\sum_{i \\in B_m} \\hat p_i.

    Args:
        probs: ``(n, n_classes)`` probabilities (rows of a softmax).
        labels: ``(n,)`` integer true classes.
        n_bins: M, the number of bins.
    """
    p, y = _probabilities_and_labels(probs, labels)
    check.positive_int("n_bins", n_bins)
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)  # (n,) each
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # the bin m with edges[m] < confidence <= edges[m + 1] (a confidence of 0 joins the first)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)  # (n,)
    count = np.bincount(which, minlength=n_bins)  # (n_bins,)
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty bin: 0 / 0 = NaN
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
        mean_confidence = np.bincount(which, weights=confidence, minlength=n_bins) / count
    return ReliabilityBins(edges, count, accuracy, mean_confidence)


def expected_calibration_error(probs: object, labels: object, n_bins: int = 15) -> float:
    """The expected calibration error (ECE) of ``probs`` against the true ``labels``.

    .. math:: \\mathrm{ECE} = \\sum_{m=1}^{M} \\frac{|B_m|}{n}\\,
              \\bigl|\\mathrm{acc}(B_m) - \\mathrm{conf}(B_m)\\bigr|

    over the equal-width confidence bins of :func:`reliability_bins` (empty bins count 0): 0 for a
    perfectly calibrated model, up to 1. Naeini et al. (2015) defined it for binary classifiers,
    on the predicted probability of the positive class; Guo et al. (2017) wrote this top-label
    form for many classes, on the confidence of the predicted class, with M = 15 equal bins (the
    default here). For two classes the two coincide when class 1 is every input's prediction.

    Args:
        probs: ``(n, n_classes)`` probabilities; labels: ``(n,)`` integer classes; n_bins: M.

    Raises:
        ValueError: for probabilities outside [0, 1], a wrong shape, or labels out of range.
    """
    bins = reliability_bins(probs, labels, n_bins)
    full = bins.count > 0
    weight = bins.count[full] / bins.count.sum()  # |B_m| / n
    return float(np.sum(weight * np.abs(bins.accuracy[full] - bins.confidence[full])))


def auroc(scores: object, labels: object) -> float:
    """The area under the ROC curve of ``scores`` for telling positives (``labels`` 1 or True) from
    negatives: the probability that a random positive scores above a random negative, ties
    counting one half. Computed as the Mann-Whitney statistic from ranks,

    .. math:: \\mathrm{AUROC} = \\frac{\\sum_{i:\\,y_i = 1} r_i - n_+(n_+ + 1)/2}{n_+\\, n_-},

    where :math:`r_i` is the rank of score i among all n (1 = lowest; tied scores share the average
    of their ranks). Equal to ``sklearn.metrics.roc_auc_score(labels, scores)``.

    Args:
        scores: ``(n,)`` real scores, higher = more likely positive.
        labels: ``(n,)`` 0/1 or bool; both classes must occur.

    Raises:
        ValueError: for shapes that differ, non-finite scores, labels other than 0/1, or only
            one class (the ROC curve is then undefined, as scikit-learn also says).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape:
        check.fail("scores", f"<shape {s.shape}, labels {y.shape}>", "two 1-D arrays of one length")
    if not np.all(np.isfinite(s)):
        check.fail("scores", "<an array with NaN or inf>", "finite numbers")
    if not np.isin(y, (0, 1)).all():
        check.fail("labels", f"<values {np.unique(y)[:5].tolist()}>", "0/1 or bool")
    positive = y.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"labels hold only one class ({n_pos} positives, {n_neg} negatives); AUROC needs "
            "both, so score a set that has positives and negatives"
        )
    order = np.argsort(s, kind="stable")
    sorted_scores = s[order]
    first = np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]  # (n,) starts of tie groups
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)]  # each group holds sorted positions starts..ends-1
    group_rank = (starts + 1 + ends) / 2  # the average of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(s))
    ranks[order] = group_rank[np.cumsum(first) - 1]  # (n,) each score's (average) rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Interval:
    """A statistic on the data (``estimate``) and its bootstrap interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    level: float

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_interval(
    statistic: Callable[..., float],
    *arrays: object,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """A percentile bootstrap interval of ``statistic(*arrays)``.

    Each resample draws n row indices with replacement and applies the **same** indices to every
    array, so a statistic of paired arrays (two scores of one input, and its label) keeps the
    pairs: the paired bootstrap. The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2``
    quantiles of the resampled statistics.

    Args:
        statistic: ``statistic(*resampled_arrays) -> float``, e.g. :func:`auroc`.
        arrays: one or more arrays with the same first dimension n (NumPy, lists or CPU tensors).
        n_resamples: how many resamples.
        level: the coverage, e.g. 0.95.
        seed: seeds NumPy's generator for the indices.
    """
    if not arrays:
        raise ValueError(
            "pass at least one array to resample, e.g. bootstrap_interval(auroc, s, y)"
        )
    data = [np.asarray(a) for a in arrays]
    n = len(data[0])
    if n == 0 or any(a.ndim == 0 or len(a) != n for a in data):
        lengths = [a.shape[0] if a.ndim else None for a in data]
        check.fail("arrays", f"<first dimensions {lengths}>", "non-empty arrays of one length")
    check.positive_int("n_resamples", n_resamples)
    check.number("level", level, 0, 1, low_open=True, high_open=True, hint="e.g. 0.95")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for b in range(n_resamples):
        rows = rng.integers(0, n, size=n)  # (n,) drawn with replacement
        values[b] = statistic(*(a[rows] for a in data))
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(statistic(*data)), float(low), float(high), level)
