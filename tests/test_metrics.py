"""companion.metrics against the libraries the field reports with: sacrebleu (BLEU, chrF) and
rouge-score (ROUGE), to 1e-6, on pairs that include empty and one-word hypotheses, punctuation,
numbers, HTML entities and Chinese. The reference libraries are test dependencies only."""

from __future__ import annotations

import math
import re

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from companion import metrics
from companion.metrics import (
    bleu,
    bleu_score,
    brevity_penalty,
    chrf,
    lcs_length,
    modified_precision,
    rouge,
    rouge_tokenize,
    tokenize,
)

# (hypothesis, reference): one reference per hypothesis.
PAIRS = [
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("the cat is on the mat", "there is a cat on the mat"),
    ("the the the the the the the", "the cat is on the mat"),
    ("", "a reference with several words"),  # empty hypothesis
    ("cat", "the cat sat on the mat"),  # one word
    ("mat", "mat"),  # one word, exact
    ("hello", "goodbye"),  # one word, no match
    ("It's 3.5 km, roughly.", "It is 3.5 kilometres, roughly."),
    ("Prices rose by 1,000 dollars (about 5%).", "Prices rose 1,000 dollars, or about 5 %."),
    (
        "The 1990-1995 period saw &quot;growth&quot; &amp; change.",
        'The period 1990-1995 saw "growth" & change.',
    ),
    ("He said: stop! Then... nothing?", "He said, 'stop!' and then nothing."),
    ("well-known state-of-the-art models", "well known state of the art models"),
    (
        "A long hypothesis that keeps going and going well past the length of its reference",
        "A short reference",
    ),
    ("short", "A reference that is a great deal longer than the hypothesis is"),
    ("Attention is all you need.", "Attention Is All You Need."),  # case matters in BLEU
    ("  spaces   around  words  ", "spaces around words"),
    ("line one\nline two", "line one line two"),
    ("一千零七", "一千零七"),  # Chinese, unspaced: one 13a token
    ("一千七", "一千零七"),
    ("一 千 零 七", "一 千 零 七"),  # Chinese, spaced
    ("今天天气很好，我们去公园散步。", "今天天气不错，我们去公园走走。"),  # full-width punctuation
    ("模型在 2023 年发布了 GPT-4。", "GPT-4 模型于 2023 年发布。"),  # mixed scripts
    ("“引号”和——破折号", "“引号”与破折号"),  # general punctuation (U+201C, U+2014)
    ("naïve café déjà vu", "naive cafe deja vu"),  # accents: dropped by ROUGE's tokenizer
    ("x", "x y z w v"),
    ("", ""),  # both empty
]
HYPS, REFS = [h for h, _ in PAIRS], [r for _, r in PAIRS]
CHINESE = [(h, r) for h, r in PAIRS if any("\u4e00" <= c <= "\u9fff" for c in h + r)]
ATOL = 1e-6

SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


def test_the_test_set_is_as_promised():
    assert len(PAIRS) >= 20
    assert any(h == "" for h in HYPS) and any(len(h.split()) == 1 for h in HYPS)
    assert len(CHINESE) >= 5


@pytest.mark.parametrize("kind", ["13a", "zh", "char", "none"])
def test_tokenizers_equal_sacrebleus(kind):
    theirs = BLEU(tokenize=kind).tokenizer
    extra = [
        "a&lt;b&gt;c",
        "x<skipped>y",
        "end-\nof-line",
        "3-4 a.b 3.b a,1 .5 ,",
        "𠀀字",
        "\u2000",
    ]
    for text in [*HYPS, *REFS, *extra]:
        assert tokenize(text, kind) == theirs(text.rstrip()).split(), (kind, text)


def test_13a_leaves_unspaced_chinese_as_one_token():
    assert tokenize("一千零七") == ["一千零七"]
    assert tokenize("一千零七", "zh") == ["一", "千", "零", "七"] == tokenize("一千零七", "char")
    assert tokenize("今天很好，我们走。") == ["今天很好，我们走。"]  # full-width punctuation stays
    # sacrebleu's zh ranges written with five hex digits cover U+2001..U+2A6D, not Extension B
    assert tokenize("“a”—b", "zh") == ["“", "a", "”", "—", "b"]
    assert tokenize("𠀀字", "zh") == ["𠀀", "字"]  # 𠀀 (U+20000) is not split off; 字 is


def test_corpus_bleu_equals_sacrebleu():
    ours = bleu_score(HYPS, REFS)
    theirs = sacrebleu.corpus_bleu(HYPS, [REFS])
    assert math.isclose(ours.score, theirs.score, abs_tol=ATOL)
    assert 0 < ours.score < 100
    assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    assert list(ours.matches) == list(theirs.counts) and list(ours.totals) == list(theirs.totals)
    assert math.isclose(ours.bp, theirs.bp, abs_tol=1e-12)
    for a, b in zip(ours.precisions, theirs.precisions, strict=True):
        assert math.isclose(a, b, abs_tol=ATOL)


@pytest.mark.parametrize(("hyp", "ref"), PAIRS)
def test_bleu_of_each_pair_equals_sacrebleu(hyp, ref):
    assert math.isclose(
        bleu([hyp], [ref]), sacrebleu.corpus_bleu([hyp], [[ref]]).score, abs_tol=ATOL
    )
    sentence = sacrebleu.sentence_bleu(hyp, [ref]).score  # effective order, exp smoothing
    assert math.isclose(bleu([hyp], [ref], effective_order=True), sentence, abs_tol=ATOL)


@pytest.mark.parametrize("kind", ["zh", "char", "none"])
@pytest.mark.parametrize("smooth", ["exp", "none"])
def test_bleu_options_equal_sacrebleu(kind, smooth):
    for effective_order in (False, True):
        theirs = BLEU(tokenize=kind, smooth_method=smooth, effective_order=effective_order)
        ours = bleu(HYPS, REFS, tokenize=kind, smooth=smooth, effective_order=effective_order)
        assert math.isclose(ours, theirs.corpus_score(HYPS, [REFS]).score, abs_tol=ATOL)
        for hyp, ref in CHINESE:  # one at a time
            one = bleu([hyp], [ref], tokenize=kind, smooth=smooth, effective_order=effective_order)
            assert math.isclose(one, theirs.corpus_score([hyp], [[ref]]).score, abs_tol=ATOL)


def test_bleu_max_order():
    for order in (1, 2, 3, 6):
        theirs = BLEU(max_ngram_order=order).corpus_score(HYPS, [REFS]).score
        assert math.isclose(bleu(HYPS, REFS, max_order=order), theirs, abs_tol=ATOL)


def test_chrf_equals_sacrebleu():
    assert math.isclose(chrf(HYPS, REFS), sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs_tol=ATOL)
    for hyp, ref in PAIRS:
        theirs = sacrebleu.corpus_chrf([hyp], [[ref]]).score
        assert math.isclose(chrf([hyp], [ref]), theirs, abs_tol=ATOL), (hyp, ref)
    for order, beta in [(1, 1), (3, 2), (6, 3)]:
        theirs = CHRF(char_order=order, beta=beta).corpus_score(HYPS, [REFS]).score
        assert math.isclose(chrf(HYPS, REFS, char_order=order, beta=beta), theirs, abs_tol=ATOL)


@pytest.mark.parametrize(("hyp", "ref"), PAIRS)
def test_rouge_equals_rouge_score(hyp, ref):
    theirs = SCORER.score(ref, hyp)  # rouge-score takes the reference (target) first
    for measure in ("fmeasure", "precision", "recall"):
        ours = rouge(hyp, ref, measure=measure)
        assert set(ours) == {"rouge1", "rouge2", "rougeL"}
        for key, value in ours.items():
            assert math.isclose(value, getattr(theirs[key], measure), abs_tol=ATOL), (key, measure)


def test_rouge_sees_no_chinese():
    """rouge-score's tokenizer keeps [a-z0-9] only: Chinese gives no tokens, so the score is 0."""
    assert rouge_tokenize("今天天气很好") == [] and rouge_tokenize("GPT-4 模型") == ["gpt", "4"]
    assert rouge("今天天气很好", "今天天气很好") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert SCORER.score("今天天气很好", "今天天气很好")["rouge1"].fmeasure == 0.0


def test_the_parts_by_hand():
    hyp, ref = "the the the the the the the".split(), "the cat is on the mat".split()
    assert modified_precision(hyp, ref, 1) == (2, 7)  # Papineni et al.'s example: 2/7, not 7/7
    assert modified_precision(hyp, ref, 2) == (0, 6)
    assert modified_precision(["a"], ["a"], 2) == (0, 0)
    assert brevity_penalty(7, 6) == 1.0 and brevity_penalty(6, 6) == 1.0
    assert math.isclose(brevity_penalty(3, 6), math.exp(-1.0))
    assert brevity_penalty(0, 5) == 0.0 and brevity_penalty(0, 0) == 1.0
    assert lcs_length("abcbdab", "bdcaba") == 4 and lcs_length([], ["a"]) == 0
    # by hand: p1 = 6/6; no bigram, trigram or 4-gram matches: exp smoothing gives 1/(2*5),
    # 1/(4*4), 1/(8*3); c = 6 < r = 7: BP = exp(1 - 7/6)
    by_hand = 100 * math.exp(1 - 7 / 6) * (6 / 6 * 1 / 10 * 1 / 16 * 1 / 24) ** 0.25
    assert math.isclose(bleu(["the cat is on a mat"], ["there is a cat on the mat"]), by_hand)
    assert bleu(["a b c"], ["a b c"]) == 0.0  # no 4-gram in the corpus: 0 without effective order
    assert math.isclose(bleu(["a b c"], ["a b c"], effective_order=True), 100.0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: bleu("a b", ["a b"]), TypeError, "hypotheses='a b' must be a list of strings"),
        (lambda: bleu(["a"], ["a", "b"]), ValueError, "pass one reference per hypothesis"),
        (lambda: bleu([], []), ValueError, "hypotheses is empty"),
        (lambda: bleu(["a"], [1]), TypeError, "a list holding a int"),
        (
            lambda: bleu(["a"], ["a"], tokenize="zh-cn"),
            ValueError,
            "tokenize='zh-cn' must be one of",
        ),
        (lambda: bleu(["a"], ["a"], smooth="add-k"), ValueError, "smooth='add-k' must be one of"),
        (lambda: bleu(["a"], ["a"], max_order=0), ValueError, "max_order=0 must be a positive int"),
        (lambda: chrf(["a"], ["a"], beta=0), ValueError, "beta=0 must be a number > 0"),
        (lambda: chrf(("a",), "a"), TypeError, "references='a' must be a list of strings"),
        (lambda: rouge(["a"], "a"), TypeError, "hypothesis=['a'] must be a str"),
        (lambda: rouge("a", "a", measure="f1"), ValueError, "measure='f1' must be one of"),
        (lambda: tokenize(3), TypeError, "text=3 must be a str"),
        (lambda: brevity_penalty(-1, 3), ValueError, "hyp_len=-1 must be an int >= 0"),
    ],
)
def test_errors_say_what_to_fix(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_metrics_imports_no_reference_library():
    source = metrics.__file__
    with open(source, encoding="utf-8") as f:
        text = f.read()
    assert "import sacrebleu" not in text and "rouge_score import" not in text
    assert "import torch" not in text
