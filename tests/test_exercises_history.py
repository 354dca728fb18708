"""The checkers of chapter 00 (companion.course.exercises.history): the notebook's solutions get
full marks, plausible wrong versions are rejected, and the timeline the checker holds is the
notebook's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from companion.course.core import hidden_cases
from companion.course.exercises.history import (
    EVENTS,
    _not_separable,
    _perceptron,
    _separable,
    check_perceptron,
    check_timeline_order,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_history.ipynb"


# --- the perceptron: the notebook's solution, another right one, and wrong ones ----------------


def my_perceptron(X, y, epochs, lr):
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    b = 0.0
    for _ in range(epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y, strict=True):
            y_hat = 1.0 if float(x_i @ w + b) > 0 else 0.0
            if y_hat != float(y_i):
                w = w + lr * (float(y_i) - y_hat) * x_i
                b = b + lr * (float(y_i) - y_hat)
                mistakes += 1
        if mistakes == 0:
            return w, b, True
    return w, b, False


def perceptron_augmented(X, y, epochs, lr):  # right: the bias as a weight on a constant input 1
    xa = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)  # (n, d + 1)
    wa = torch.zeros(xa.shape[1], dtype=X.dtype)
    for _ in range(epochs):
        wrong = 0
        for i in range(len(xa)):
            err = float(y[i]) - float(xa[i] @ wa > 0)
            if err:
                wa += lr * err * xa[i]
                wrong += 1
        if not wrong:
            return wa[:-1], float(wa[-1]), True
    return wa[:-1], float(wa[-1]), False


def perceptron_wrong_sign(X, y, epochs, lr):
    return my_perceptron(X, y, epochs, -lr)


def perceptron_no_bias(X, y, epochs, lr):
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    for _ in range(epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y, strict=True):
            y_hat = float(float(x_i @ w) > 0)
            if y_hat != float(y_i):
                w = w + lr * (float(y_i) - y_hat) * x_i
                mistakes += 1
        if mistakes == 0:
            return w, 0.0, True
    return w, 0.0, False


def perceptron_always_converged(X, y, epochs, lr):  # trains for all epochs, then claims success
    w, b, _ = my_perceptron(X, y, epochs, lr)
    return w, b, True


def perceptron_plus_minus_rule(X, y, epochs, lr):  # w += lr y x on mistakes, with y in {0, 1}
    w, b = torch.zeros(X.shape[1], dtype=X.dtype), 0.0
    for _ in range(epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y, strict=True):
            if float(float(x_i @ w + b) > 0) != float(y_i):
                w, b, mistakes = w + lr * float(y_i) * x_i, b + lr * float(y_i), mistakes + 1
        if mistakes == 0:
            return w, b, True
    return w, b, False


def perceptron_one_epoch_flag(X, y, epochs, lr):  # converged = "the last example was right"
    w, b, _ = my_perceptron(X, y, epochs, lr)
    return w, b, bool(float(X[-1] @ w + b > 0) == float(y[-1]))


def perceptron_off_by_one(X, y, epochs, lr):  # runs one epoch fewer than allowed
    return my_perceptron(X, y, epochs - 1, lr)


def perceptron_one_extra_epoch(X, y, epochs, lr):  # runs one epoch more than allowed
    return my_perceptron(X, y, epochs + 1, lr)


def perceptron_ignores_epochs(X, y, epochs, lr):  # loops until clean, up to 2,000 epochs
    return my_perceptron(X, y, 2_000, lr)  # (more than any case allows: the mistake is the same)


def perceptron_final_check_flag(X, y, epochs, lr):  # converged = "the final w, b are all right"
    w, b, _ = my_perceptron(X, y, epochs, lr)
    return w, b, bool(((X @ w + b > 0).double() == y).all())


@pytest.mark.parametrize(
    "wrong",
    [
        perceptron_off_by_one,
        perceptron_one_extra_epoch,
        perceptron_ignores_epochs,
        perceptron_final_check_flag,
        perceptron_wrong_sign,
        perceptron_no_bias,
        perceptron_always_converged,
        perceptron_plus_minus_rule,
        perceptron_one_epoch_flag,
    ],
)
def test_perceptron_checker_rejects(wrong):
    score = check_perceptron(wrong, verbose=False)
    assert score.passed < score.total, str(score)


def test_perceptron_checker_accepts_tensor_flags_and_tensor_bias():
    def tensor_outputs(X, y, epochs, lr):
        w, b, ok = my_perceptron(X, y, epochs, lr)
        return w, torch.tensor(b), torch.tensor(ok)

    assert check_perceptron(tensor_outputs, verbose=False).score == 1.0


def test_perceptron_checker_messages():
    score = check_perceptron(perceptron_no_bias, verbose=False)
    assert any("misclassify" in m or "converged flag is wrong" in m for m in score.messages)
    score = check_perceptron(lambda X, y, e, lr: (torch.zeros(3), 0.0, True), verbose=False)
    assert any("w has shape (3,), expected (2,)" in m for m in score.messages)
    score = check_perceptron(lambda X, y, e, lr: (X, y), verbose=False)
    assert all("did not return a tuple (w, b, converged)" in m for m in score.messages)
    score = check_perceptron(lambda X, y, e, lr: (torch.zeros(X.shape[1]), 0.0, 1), verbose=False)
    assert all("converged is 'int', not a bool" in m for m in score.messages)


@pytest.mark.parametrize("seed", range(12))
def test_random_sets_are_what_they_claim(seed):
    g = torch.Generator().manual_seed(seed)
    x, y, epochs = _separable(g, 30, 4)
    assert _perceptron(x, y, epochs, 1.0)[2]  # separable: converges within the bound
    x, y = _not_separable(g, 4)
    assert not _perceptron(x, y, 50, 1.0)[2]


def test_hidden_perceptron_cases_pass_for_a_right_answer():
    for seed in (1, 7, 2027, 31337):
        with hidden_cases(seed):
            assert check_perceptron(perceptron_augmented, verbose=False).score == 1.0


@pytest.mark.parametrize(
    "wrong",
    [
        perceptron_off_by_one,
        perceptron_one_extra_epoch,
        perceptron_ignores_epochs,
        perceptron_final_check_flag,
    ],
)
def test_hidden_edge_cases_reject_the_epoch_limit_mistakes(wrong):
    """The random cases at the edge of the epoch limit alone (the fixed AND/OR edges aside)
    catch these: the last two cases, under any instructor's seed."""
    for seed in (1, 7, 2027):
        with hidden_cases(seed):
            score = check_perceptron(wrong, verbose=False)
        assert any(not m.endswith("passed") for m in score.messages[-2:]), (seed, str(score))


# --- the timeline ----------------------------------------------------------------------------------

YEARS = {event: year for year, event in EVENTS}


def my_timeline_order(events):  # the notebook's solution writes the years out by hand
    years = {
        "McCulloch-Pitts neuron": 1943,
        "Hebb's learning postulate": 1949,
        "Rosenblatt's perceptron": 1958,
        "Minsky-Papert's Perceptrons": 1969,
        "reverse-mode differentiation": 1970,
        "backpropagation for networks": 1974,
        "learning representations by backpropagation": 1986,
        "convolutional network for digits": 1989,
        "LSTM": 1997,
        "neural probabilistic language model": 2003,
        "deep belief nets": 2006,
        "AlexNet": 2012,
        "word2vec": 2013,
        "attention for translation": 2014,
        "sequence to sequence learning": 2014,
        "ResNet": 2015,
        "the Transformer": 2017,
        "GPT": 2018,
        "BERT": 2018,
        "GPT-2": 2019,
        "T5": 2019,
        "scaling laws": 2020,
        "GPT-3": 2020,
        "InstructGPT": 2022,
        "Chinchilla": 2022,
        "ChatGPT": 2022,
        "LLaMA": 2023,
        "GPT-4": 2023,
        "Llama 3": 2024,
        "DeepSeek-R1": 2025,
    }
    return sorted(events, key=years.get)


def timeline_in_place(events):  # right: sorts the list it was given and returns it
    events.sort(key=YEARS.__getitem__)
    return events


def timeline_reversed(events):
    return sorted(events, key=YEARS.__getitem__, reverse=True)


def timeline_alphabetical(events):
    return sorted(events)


def timeline_swapped_1969_1970(events):
    years = dict(
        YEARS, **{"Minsky-Papert's Perceptrons": 1970, "reverse-mode differentiation": 1969}
    )
    return sorted(events, key=years.__getitem__)


def timeline_as_given(events):
    return list(events)


def timeline_drops_one(events):
    return sorted(events, key=YEARS.__getitem__)[1:]


def timeline_bert_before_transformer(events):
    years = dict(YEARS, BERT=2016)
    return sorted(events, key=years.__getitem__)


@pytest.mark.parametrize(
    "wrong",
    [
        timeline_reversed,
        timeline_alphabetical,
        timeline_swapped_1969_1970,
        timeline_as_given,
        timeline_drops_one,
        timeline_bert_before_transformer,
    ],
)
def test_timeline_checker_rejects(wrong):
    score = check_timeline_order(wrong, verbose=False)
    assert score.passed < score.total, str(score)


def test_timeline_messages_do_not_give_the_order():
    score = check_timeline_order(timeline_reversed, verbose=False)
    failed = [m for m in score.messages if not m.endswith("passed")]
    assert failed and all("events are in the wrong place" in m for m in failed)
    for m in failed:
        assert not any(event in m for _, event in EVENTS)


def notebook_timeline() -> list[tuple]:
    """The notebook's TIMELINE literal: rows (year, event, people, citation key)."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    src = next("".join(c["source"]) for c in cells if "TIMELINE = [" in "".join(c["source"]))
    start = src.index("TIMELINE = [")
    namespace: dict = {}
    exec(src[start : src.index("\n]\n", start) + 2], namespace)
    return namespace["TIMELINE"]


def test_the_checkers_timeline_is_the_notebooks():
    """EVENTS holds the notebook's TIMELINE rows (year, event), in the same order."""
    assert [(row[0], row[1]) for row in notebook_timeline()] == list(EVENTS)


def test_hidden_timeline_cases_pass_for_a_right_answer():
    events = [e for _, e in EVENTS]
    assert len(events) == len(set(events))
    for seed in (1, 7, 2027):
        with hidden_cases(seed):
            assert check_timeline_order(timeline_in_place, verbose=False).score == 1.0


REFERENCES = {
    "ex-history-perceptron": (my_perceptron,),
    "ex-history-timeline": (my_timeline_order,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-history-perceptron", (perceptron_augmented,)),
    ("ex-history-timeline", (timeline_in_place,)),
]


def test_every_timeline_citation_is_in_the_bibliography():
    """The notebook does not read repository files (it runs on Colab); this checks its table."""
    bib = (NOTEBOOK.parents[1] / "book" / "references.bib").read_text(encoding="utf-8")
    missing = [key for *_, key in notebook_timeline() if f"{{{key}," not in bib]
    assert not missing, f"add these keys to book/references.bib: {missing}"


def test_the_solutions_list_the_events_in_the_tables_order():
    """The timeline solution (here and in the notebook) writes its years in the table's order,
    same-year events included (within a year, by date of first appearance)."""
    import inspect
    import re

    pairs = re.compile(r'^\s+"([^"]+)": (\d{4}),$', re.M)
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    solution = next(
        "".join(c["source"]) for c in cells if "def my_timeline_order" in "".join(c["source"])
    )
    table = [(year, event) for year, event in EVENTS]
    for src in (solution, inspect.getsource(my_timeline_order)):
        assert [(int(y), e) for e, y in pairs.findall(src)] == table
