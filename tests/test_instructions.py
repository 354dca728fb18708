"""companion.data.instructions: the task family, the chat template, the checkers, the pairs."""

from __future__ import annotations

import random

import pytest
import torch

from companion.data.instructions import (
    ASSISTANT,
    END,
    FILLER_WORDS,
    PAD,
    RAMBLES,
    TASKS,
    USER,
    Example,
    chat_batch,
    chat_tokenizer,
    encode_chat,
    encode_prompt,
    examples,
    has_filler,
    is_concise,
    is_correct,
    is_held_out,
    make_example,
    parse_answer,
    plain_text,
    preference_batch,
    preference_pair,
    ramble,
    render_chat,
    wrong_answer,
)

TOK = chat_tokenizer()


def right_answer(ex: Example) -> str:
    """The answer recomputed from the prompt's text, independently of the generator."""
    words = ex.prompt.rstrip("?").split()
    if ex.task == "add":
        a, b = words[-1].split("+")
        return str(int(a) + int(b))
    if ex.task == "reverse":
        return words[-1][::-1]
    return str(words[-1].count(words[2]))


@pytest.mark.parametrize("task", TASKS)
def test_examples_are_right_and_their_plain_line_ends_with_the_answer(task):
    rng = random.Random(0)
    for _ in range(200):
        ex = make_example(task, rng)
        assert ex.answer == right_answer(ex)
        assert ex.plain == ex.plain_prompt + ex.answer and "\n" not in ex.plain
        assert parse_answer(ex.answer) == ex.answer  # no answer is a filler word


def test_the_split_is_fixed_disjoint_and_about_a_fifth():
    train, test = examples(600, "train", seed=0), examples(300, "test", seed=0)
    assert not {e.prompt for e in train} & {e.prompt for e in test}
    assert examples(600, "train", seed=0) == train and examples(600, "train", seed=1) != train
    rng = random.Random(5)
    drawn = [make_example(TASKS[i % 3], rng) for i in range(3000)]
    share = sum(map(is_held_out, drawn)) / len(drawn)
    assert 0.15 < share < 0.25
    assert [e.task for e in train[:6]] == list(TASKS) * 2
    assert examples(4, "test", seed=0, tasks=("add",))[0].task == "add"


def test_plain_text_holds_one_fact_per_line():
    text = plain_text(30, seed=0)
    lines = text.splitlines()
    assert len(lines) == 30 and text.endswith("\n")
    assert lines[0].startswith("q: what is ") and lines[1].startswith("q: reverse ")
    assert lines[2].startswith("q: how many ") and all(" a: " in line for line in lines)
    assert plain_text(30, seed=0) == text
    TOK.encode(text)  # every character is in the vocabulary


def test_rambles_are_correct_but_not_concise():
    rng = random.Random(0)
    ex = Example("reverse", "reverse abc", "cba", "q: reverse abc a: cba")
    for template in RAMBLES:
        response = template.format(a=ex.answer)
        assert is_correct(ex, response) and not is_concise(ex, response)
    assert ramble("7", rng).count("7") == 1
    for word in FILLER_WORDS:  # no filler word can be mistaken for an answer
        assert not any(c.isdigit() for c in word) and not set(word) <= set("abcdefgh")


def test_has_filler_judges_the_style_alone():
    for template in RAMBLES:
        assert has_filler(template.format(a="7")) and has_filler(template.format(a="8"))
    for response in ("7", "8", "hbe", "", "7.", "dcba dcba"):  # right or wrong, no filler
        assert not has_filler(response)
    assert has_filler("i") and has_filler("well") and not has_filler("swell")


def test_correct_and_concise_judge_what_they_say():
    ex = Example("add", "what is 3+4?", "7", "q: what is 3+4? a: 7")
    assert is_correct(ex, "7") and is_concise(ex, "7")
    assert not is_correct(ex, "8") and not is_concise(ex, "8")
    assert not is_correct(ex, "7 7") and not is_correct(ex, "") and not is_correct(ex, "17")
    assert is_correct(ex, "sure! the answer is 7.") and not is_concise(ex, "7.")
    assert not is_correct(ex, "sure! the answer is 7<|end|>")


@pytest.mark.parametrize("task", TASKS)
def test_wrong_answers_are_wrong_and_plausible(task):
    rng = random.Random(1)
    for _ in range(200):
        ex = make_example(task, rng)
        wrong = wrong_answer(ex, rng)
        assert not is_correct(ex, wrong)
        if task == "reverse":
            assert sorted(wrong) == sorted(ex.answer) or wrong == ex.answer + "a"
        else:
            assert 1 <= abs(int(wrong) - int(ex.answer)) <= 2


def test_preference_pairs():
    rng = random.Random(2)
    ex = make_example("add", rng)
    chosen, rejected = preference_pair(ex, "style", rng)
    assert chosen == ex.answer and is_correct(ex, rejected) and not is_concise(ex, rejected)
    chosen, rejected = preference_pair(ex, "correctness", rng)
    assert chosen == ex.answer and not is_correct(ex, rejected)
    with pytest.raises(ValueError, match="kind"):
        preference_pair(ex, "length", rng)


def test_the_chat_template_uses_special_tokens():
    ids, mask = encode_chat(TOK, "what is 3+4?", "7")
    specials = [TOK.token_to_id(t) for t in (USER, ASSISTANT, END)]
    assert ids[0] == specials[0] and ids[-3] == specials[1] and ids[-1] == specials[2]
    assert ids[-2] == TOK.encode("7")[0]
    assert mask == [False] * (len(ids) - 2) + [True, True]  # the answer and <|end|>
    assert (
        TOK.decode(ids)
        == render_chat("what is 3+4?", "7")
        == "<|user|>what is 3+4?<|assistant|>7<|end|>"
    )
    assert encode_prompt(TOK, "what is 3+4?") == ids[:-2]
    assert render_chat("hi") == "<|user|>hi<|assistant|>"
    # typing the template as text does not make the special tokens
    with pytest.raises(ValueError, match="not in the vocabulary"):
        TOK.encode("<|user|>")
    assert TOK.vocab_size == 49 and TOK.token_to_id(PAD) == 48


def test_chat_batch_pads_on_the_right_and_masks_the_padding():
    pairs = [("what is 1+1?", "2"), ("reverse abcde", "sure! the answer is edcba.")]
    batch = chat_batch(TOK, pairs)
    pad = TOK.token_to_id(PAD)
    assert (
        batch.ids.shape
        == batch.response_mask.shape
        == (2, max(len(encode_chat(TOK, *p)[0]) for p in pairs))
    )
    n0 = len(encode_chat(TOK, *pairs[0])[0])
    assert (batch.ids[0, n0:] == pad).all() and not batch.response_mask[0, n0:].any()
    assert batch.response_mask.sum(1).tolist() == [2, len(pairs[1][1]) + 1]
    with pytest.raises(ValueError, match="empty"):
        chat_batch(TOK, [])


def test_preference_batch_rows_share_their_prompt():
    rng = random.Random(3)
    batch = examples(40, "train", seed=3)
    pb = preference_batch(TOK, batch, rng, style_share=0.5)
    assert len(pb.kinds) == 40 and {"style", "correctness"} == set(pb.kinds)
    for i, ex in enumerate(batch):
        head = len(encode_prompt(TOK, ex.prompt))
        assert torch.equal(pb.chosen.ids[i, :head], pb.rejected.ids[i, :head])
        assert not pb.chosen.response_mask[i, :head].any()
    only_style = preference_batch(TOK, batch, random.Random(0), style_share=1.0)
    assert set(only_style.kinds) == {"style"}
    with pytest.raises(ValueError, match="style_share"):
        preference_batch(TOK, batch, rng, style_share=1.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_example("multiply", random.Random(0)), "task"),
        (lambda: examples(0, "train", 0), "n"),
        (lambda: examples(3, "validation", 0), "split"),
        (lambda: plain_text(-1, 0), "n"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
