"""companion.exercises: every checker passes the reference, rejects typical mistakes, never shows
expected values, and every code exercise of the notebooks has a checker."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import nbformat
import pytest
import test_exercises_bert  # tests/ is on sys.path: pytest's default "prepend" import mode
import test_exercises_build
import test_exercises_pretrained
import test_exercises_seq2seq
import test_exercises_train_gpt
import torch
import torch.nn.functional as F
from IPython.core.formatters import DisplayFormatter

from companion import exercises as ex
from companion.attention import causal_mask, padding_mask, scaled_dot_product_attention
from companion.positional import sinusoidal_encoding

REPO = Path(__file__).resolve().parents[1]
# layer_norm_unbiased on d = 1 divides by d - 1 = 0: the NaN it returns is the point of that case.
pytestmark = pytest.mark.filterwarnings(r"ignore:var\(\). degrees of freedom is <= 0")
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


# --- references (the notebooks' solutions) and plausible wrong implementations -------------------


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_scale_by_dk(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_wrong_axis(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights


def attention_reversed_mask(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_transposed_weights(q, k, v, mask=None):
    out, weights = attention(q, k, v, mask)
    return out, weights.transpose(-2, -1)


def my_causal_mask(n):
    i = torch.arange(n)
    return i[None, :] <= i[:, None]


def my_padding_mask(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, :]


def causal_strict(n):
    i = torch.arange(n)
    return i[None, :] < i[:, None]


def causal_reversed(n):
    return ~my_causal_mask(n)


def padding_reversed(lengths, max_len):
    return ~my_padding_mask(lengths, max_len)


def padding_2d(lengths, max_len):
    return my_padding_mask(lengths, max_len)[:, 0, :]


def my_sinusoidal_encoding(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000 ** (two_i / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


def sinusoidal_float32(max_len, d_model):  # right, computed in float32 throughout
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    angle = pos * torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def sinusoidal_swapped(max_len, d_model):
    pe = my_sinusoidal_encoding(max_len, d_model)
    return pe.reshape(max_len, d_model // 2, 2).flip(-1).reshape(max_len, d_model)


def sinusoidal_pos_i_swapped(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)[None, :]
    angle = two_i / 10000 ** (pos / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def layer_norm_unbiased(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps) + beta


def layer_norm_eps_outside(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return gamma * (x - mu) / (torch.sqrt(var) + eps) + beta


def layer_norm_wrong_axis(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def encoder_layer_forward(x, layer, norm_first, mask=None):
    if norm_first:
        h = x + layer.self_attn(layer.norm1(x), mask=mask)
        return h + layer.ffn(layer.norm2(h))
    h = layer.norm1(x + layer.self_attn(x, mask=mask))
    return layer.norm2(h + layer.ffn(h))


def encoder_swapped(x, layer, norm_first, mask=None):
    return encoder_layer_forward(x, layer, not norm_first, mask)


def encoder_no_residual(x, layer, norm_first, mask=None):
    if norm_first:
        h = layer.self_attn(layer.norm1(x), mask=mask)
        return layer.ffn(layer.norm2(h))
    h = layer.norm1(layer.self_attn(x, mask=mask))
    return layer.norm2(layer.ffn(h))


def encoder_norm_before_add(x, layer, norm_first, mask=None):  # wrong in post-LN only
    if norm_first:
        return encoder_layer_forward(x, layer, norm_first, mask)
    h = x + layer.norm1(layer.self_attn(x, mask=mask))
    return h + layer.norm2(layer.ffn(h))


def encoder_ignores_mask(x, layer, norm_first, mask=None):
    return encoder_layer_forward(x, layer, norm_first)


def encoder_no_mask_argument(x, layer, norm_first):
    return encoder_layer_forward(x, layer, norm_first)


def not_implemented(*args, **kwargs):
    raise NotImplementedError("Exercise 2: write this function")


REFERENCES = {
    "attention": attention,
    "my_causal_mask": my_causal_mask,
    "my_padding_mask": my_padding_mask,
    "my_sinusoidal_encoding": my_sinusoidal_encoding,
    "layer_norm": layer_norm,
    "encoder_layer_forward": encoder_layer_forward,
    # the other chapters' solutions live in their own test modules
    "causal_self_attention": test_exercises_build.causal_self_attention,
    "encoder_decoder_parameters": test_exercises_build.encoder_decoder_parameters,
    "mean_pooling": test_exercises_pretrained.mean_pooling,
    "wordpiece_word": test_exercises_pretrained.wordpiece_word,
    "ngram_cross_entropy": test_exercises_train_gpt.ngram_dense,
    "next_token_probs": test_exercises_train_gpt.next_token_probs,
    "my_chinese_numeral": test_exercises_seq2seq.my_chinese_numeral,
    "my_greedy_decode": test_exercises_seq2seq.my_greedy_decode,
    "my_mask_tokens": test_exercises_bert.my_mask_tokens,
    "my_mlm_loss": test_exercises_bert.my_mlm_loss,
}


# --- full marks for the references ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("checker", "fns"),
    [
        (ex.check_attention, (attention,)),
        (ex.check_attention, (scaled_dot_product_attention,)),
        (ex.check_masks, (my_causal_mask, my_padding_mask)),
        (ex.check_masks, (causal_mask, padding_mask)),
        (ex.check_sinusoidal_encoding, (my_sinusoidal_encoding,)),
        (ex.check_sinusoidal_encoding, (sinusoidal_encoding,)),
        (ex.check_sinusoidal_encoding, (sinusoidal_float32,)),
        (ex.check_layer_norm, (layer_norm,)),
        (
            ex.check_layer_norm,
            (lambda x, g, b, eps=1e-5: F.layer_norm(x, x.shape[-1:], g, b, eps),),
        ),
        (ex.check_encoder_layer_forward, (encoder_layer_forward,)),
    ],
)
def test_reference_gets_full_marks(checker, fns, capsys):
    score = checker(*fns)
    assert score.passed == score.total > 0 and score.score == 1.0, str(score)
    printed = capsys.readouterr().out
    assert f"{score.total}/{score.total} cases passed" in printed.splitlines()[0]
    assert all(m.endswith(": passed") for m in score.messages)


# --- the wrong implementations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checker", "fns", "message"),
    [
        (ex.check_attention, (attention_unscaled,), "weights differs (max error"),
        (ex.check_attention, (attention_scale_by_dk,), "weights differs (max error"),
        (ex.check_attention, (attention_wrong_axis,), "weights differs (max error"),
        (ex.check_attention, (attention_reversed_mask,), "contains NaN"),
        (ex.check_attention, (attention_transposed_weights,), "weights has shape (6, 4)"),
        (ex.check_masks, (causal_strict, my_padding_mask), "mask differs in"),
        (ex.check_masks, (causal_reversed, my_padding_mask), "mask differs in"),
        (ex.check_masks, (my_causal_mask, padding_reversed), "mask differs in"),
        (ex.check_masks, (my_causal_mask, padding_2d), "mask has shape (3, 4), expected (3, 1, 4)"),
        (ex.check_masks, (lambda n: my_causal_mask(n).int(), my_padding_mask), "dtype torch.int"),
        (ex.check_sinusoidal_encoding, (sinusoidal_swapped,), "encoding differs (max error"),
        (ex.check_sinusoidal_encoding, (sinusoidal_pos_i_swapped,), "encoding differs (max error"),
        (
            ex.check_sinusoidal_encoding,
            (lambda n, d: my_sinusoidal_encoding(n, d).double(),),
            "dtype torch.float64, expected torch.float32",
        ),
        (ex.check_layer_norm, (layer_norm_unbiased,), "output differs (max error"),
        (ex.check_layer_norm, (layer_norm_eps_outside,), "output differs (max error"),
        (ex.check_layer_norm, (layer_norm_wrong_axis,), "output differs (max error"),
        (ex.check_encoder_layer_forward, (encoder_swapped,), "output differs (max error"),
        (ex.check_encoder_layer_forward, (encoder_no_residual,), "output differs (max error"),
        (ex.check_encoder_layer_forward, (encoder_norm_before_add,), "output differs (max error"),
        (ex.check_encoder_layer_forward, (encoder_ignores_mask,), "output differs (max error"),
        (ex.check_encoder_layer_forward, (encoder_no_mask_argument,), "raised TypeError"),
    ],
)
def test_wrong_implementation_is_rejected(checker, fns, message):
    score = checker(*fns, verbose=False)
    assert score.score < 1, str(score)
    assert any(message in m for m in score.messages), str(score)


def test_encoder_checker_blames_only_the_wrong_cases():
    score = ex.check_encoder_layer_forward(encoder_norm_before_add, verbose=False)
    assert all(("passed" in m) == ("pre-LN" in m) for m in score.messages), str(score)
    score = ex.check_encoder_layer_forward(encoder_ignores_mask, verbose=False)
    assert all(("passed" in m) == ("mask" not in m or "no mask" in m) for m in score.messages)


def test_not_implemented_scores_zero():
    for exercise in ex.EXERCISES.values():
        fns = [not_implemented] * len(exercise.names)
        score = exercise.checker(*fns, verbose=False)
        assert score.passed == 0 and score.total > 0
        assert all(
            "raised NotImplementedError: Exercise 2: write this function" in m
            for m in score.messages
        )


def test_messages_never_show_expected_values():
    """A wrong answer's report gives shapes and error sizes, never a tensor's entries."""
    score = ex.check_attention(attention_unscaled, verbose=False)
    text = str(score)
    assert "tensor(" not in text and "[" not in text
    assert re.search(r"max error \d\.\de[-+]\d\d > 1e-06", text)
    assert str(score).splitlines()[0] == f"ex-attention-implement: {score.passed}/8 cases passed"


def test_a_checkers_report_is_shown_once_in_a_notebook(capsys):
    """The checker prints its report; the Score it returns displays as nothing in IPython, so a
    cell ending in ``check_...(fn)`` does not repeat the report under it."""
    score = ex.check_attention(attention)
    assert capsys.readouterr().out.strip() == str(score)
    assert DisplayFormatter().format(score) == ({}, {})
    assert repr(score) == "Score('ex-attention-implement', passed=8, total=8)"


def test_checker_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    ex.check_encoder_layer_forward(encoder_layer_forward, verbose=False)
    assert torch.equal(torch.rand(3), expected)


# --- grade_namespace ------------------------------------------------------------------------------


def test_grade_namespace_full_marks_missing_and_one_wrong(capsys):
    notebooks = sorted({e.notebook for e in ex.EXERCISES.values()})
    for nb in notebooks:
        for s in ex.grade_namespace(nb, dict(REFERENCES)):
            assert s.score == 1.0, str(s)
        empty = ex.grade_namespace(nb + ".ipynb", {})
        assert empty and all(s.score == 0 and s.total == 1 for s in empty)
        assert all("is not defined: run the cell that defines it" in s.messages[0] for s in empty)
    wrong = dict(REFERENCES, layer_norm=layer_norm_unbiased)
    scores = {s.exercise: s.score for s in ex.grade_namespace("22_encoder_layer", wrong)}
    assert scores["ex-encoder-layer-forward"] == 1.0 and scores["ex-encoder-layer-layer-norm"] < 1
    assert capsys.readouterr().out == ""  # quiet


def test_grade_namespace_never_raises():
    def noisy(*args, **kwargs):
        print("debug output")
        raise SystemExit(1)  # a learner's sys.exit() fails the case, it does not stop grading

    ns = {"attention": 3, "my_causal_mask": my_causal_mask, "my_padding_mask": "text"}
    scores = ex.grade_namespace("21_masks_and_positions", dict(ns, my_sinusoidal_encoding=noisy))
    assert [s.score for s in scores] == [0, 0]
    assert scores[0].messages == ["`my_padding_mask` is not defined: run the cell that defines it"]
    assert all("raised SystemExit: 1" in m for m in scores[1].messages)
    assert ex.grade_namespace("20_attention", ns)[0].messages[0].startswith("`attention` is not")
    assert ex.grade_namespace("99_unknown", {}) == []


# --- the registry against the notebooks -----------------------------------------------------------

EXERCISE = re.compile(
    r"```\{exercise\}\s*(?P<title>[^\n]*)\n:label:\s*(?P<label>\S+)\n(?P<text>.*?)```", re.S
)


def notebook_exercises(paths=NOTEBOOKS):
    """label -> (notebook stem, title, the functions its statement asks for and its solution
    cells define). A function the statement names as `name(...)` is the learner's to write; one
    the solution defines for its own use (a helper) is not."""
    found, asked = {}, {}
    for path in paths:
        current = None
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "markdown":
                for m in EXERCISE.finditer(src):
                    current = m["label"]
                    found[current] = (path.stem, m["title"].strip(), [])
                    asked[current] = set(re.findall(r"`(\w+)\(", m["text"]))
            elif current and "solution" in cell.get("metadata", {}).get("tags", []):
                defined = re.findall(r"^def (\w+)\(", src, flags=re.M)
                found[current][2].extend(name for name in defined if name in asked[current])
    return found


def test_a_helper_in_a_solution_does_not_make_a_code_exercise(tmp_path):
    md = nbformat.v4.new_markdown_cell
    solution = nbformat.v4.new_code_cell(
        "def my_mask(n):\n    return helper(n)\n\n\ndef helper(n):\n    return n\n",
        metadata={"tags": ["solution"]},
    )
    nb = nbformat.v4.new_notebook(
        cells=[md("```{exercise} Masks\n:label: ex-x\nWrite `my_mask(n)`.\n```"), solution]
    )
    nbformat.write(nb, tmp_path / "99_x.ipynb")
    assert notebook_exercises([tmp_path / "99_x.ipynb"]) == {"ex-x": ("99_x", "Masks", ["my_mask"])}


def test_every_code_exercise_has_a_checker():
    found = notebook_exercises()
    assert found, "no exercises found in the notebooks"
    code = {label: v for label, v in found.items() if v[2]}
    assert set(code) == set(ex.EXERCISES), "a code exercise without a checker (or a stale one)"
    for label, (nb, title, names) in code.items():
        e = ex.EXERCISES[label]
        assert (e.notebook, e.title, e.names) == (nb, title, tuple(names)), label


def test_exercise_table_lists_every_exercise():
    found = notebook_exercises()
    table = ex.exercise_table()
    assert {r["label"] for r in table} == set(found)
    assert len(table) == len(found)
    for row in table:
        nb, title, names = found[row["label"]]
        assert (row["notebook"], row["title"]) == (nb, title)
        assert row["auto_checked"] == bool(names) == (row["label"] in ex.EXERCISES)
        assert row["difficulty"] in ("easy", "medium", "hard")


def test_exercise_text_names_its_checker():
    """The exercise says which checker to call; its solution cell calls it."""
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        for e in ex.EXERCISES.values():
            if e.notebook == path.stem:
                call = f"{e.checker.__name__}({', '.join(e.names)})"
                assert text.count(call) >= 2, (
                    f"{path.name}: {call} not in the exercise and solution"
                )
