"""The checkers of chapter 60 (companion.course.exercises.systematicity): the notebook's solutions
and right answers written differently get full marks; plausible mistakes are rejected, on the
public cases and on the grader's hidden ones. The shared contract is tests/test_course.py."""

from __future__ import annotations

import pytest

from companion.course.core import hidden_cases
from companion.course.exercises.systematicity import check_add_primitive_split, check_interpret
from companion.data.scan import interpret

# --- interpret -----------------------------------------------------------------------------------

TURNS = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}
ACTS = {"walk": "I_WALK", "look": "I_LOOK", "run": "I_RUN", "jump": "I_JUMP", "turn": None}


def _phrase(words, around=4, opposite=2, thrice=3, turn_acts=False, act_first=False):
    times = {"twice": 2, "thrice": thrice}.get(words[-1], 1)
    words = words[:-1] if times > 1 else words
    act = [ACTS[words[0]]] if ACTS[words[0]] else (["I_TURN"] if turn_acts else [])
    if len(words) == 1:
        one = act
    else:
        turn = [TURNS[words[-1]]]
        step = act + turn if act_first else turn + act
        if len(words) == 2:
            one = step
        elif words[1] == "opposite":
            one = turn * opposite + act
        else:
            one = step * around
    return one * times


def make_interpret(**mistake):
    def interpret(command):
        parts = command.split(" and ")
        return " ".join(a for part in parts for a in _phrase(part.split(), **mistake))

    return interpret


def recursive_interpret(command):
    """Right, written another way: grammar rules as a table of functions."""
    if " and " in command:
        first, second = command.split(" and ")
        return f"{recursive_interpret(first)} {recursive_interpret(second)}"
    words = command.split()
    if words[-1] in ("twice", "thrice"):
        inner = recursive_interpret(" ".join(words[:-1]))
        return " ".join([inner] * (2 if words[-1] == "twice" else 3))
    if len(words) == 1:
        return ACTS[words[0]]
    x = [ACTS[words[0]]] if words[0] != "turn" else []
    t = TURNS[words[-1]]
    rule = {2: [t, *x], 3: {"opposite": [t, t, *x], "around": [t, *x] * 4}.get(words[1])}
    return " ".join(rule[len(words)])


RIGHT_INTERPRETS = [make_interpret(), recursive_interpret]
WRONG_INTERPRETS = {
    "around turns three times": make_interpret(around=3),
    "opposite turns once": make_interpret(opposite=1),
    "thrice repeats twice": make_interpret(thrice=2),
    "the action before the turn": make_interpret(act_first=True),
    "'turn' emits an action": make_interpret(turn_acts=True),
}


@pytest.mark.parametrize("fn", RIGHT_INTERPRETS)
@pytest.mark.parametrize("seed", [None, 7])
def test_right_interprets_pass(fn, seed):
    with hidden_cases(seed):
        score = check_interpret(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize("name", WRONG_INTERPRETS)
def test_wrong_interprets_fail(name):
    score = check_interpret(WRONG_INTERPRETS[name], verbose=False)
    assert score.passed < score.total, name


# --- add-primitive split -------------------------------------------------------------------------


def my_add_primitive_split(pairs, primitive):
    def composed(command):
        return f" {primitive} " in f" {command} " and command != primitive

    return [q for q in pairs if not composed(q[0])], [q for q in pairs if composed(q[0])]


def by_word_windows(pairs, primitive):
    """Right, written another way: look for the primitive's words as a window of the command."""
    p = primitive.split()
    train, test = [], []
    for q in pairs:
        w = q[0].split()
        inside = any(w[i : i + len(p)] == p for i in range(len(w) - len(p) + 1))
        (test if inside and w != p else train).append(q)
    return train, test


def primitive_alone_in_test(pairs, primitive):
    train, test = my_add_primitive_split(pairs, primitive)
    alone = [q for q in train if q[0] == primitive]
    return [q for q in train if q[0] != primitive], alone + test


def primitive_alone_dropped(pairs, primitive):
    train, test = my_add_primitive_split(pairs, primitive)
    return [q for q in train if q[0] != primitive], test


def one_word_at_a_time(pairs, primitive):
    # a phrase such as "turn left" never equals a single word: its test set comes out empty
    def composed(command):
        return primitive in command.split() and command != primitive

    return [q for q in pairs if not composed(q[0])], [q for q in pairs if composed(q[0])]


def by_actions(pairs, primitive):
    # test = the commands whose actions contain the primitive's: "walk left" holds I_TURN_LEFT too
    actions = interpret(primitive).split()

    def composed(q):
        return q[0] != primitive and all(a in q[1].split() for a in actions)

    return [q for q in pairs if not composed(q)], [q for q in pairs if composed(q)]


@pytest.mark.parametrize("fn", [my_add_primitive_split, by_word_windows])
@pytest.mark.parametrize("seed", [None, 3])
def test_right_splits_pass(fn, seed):
    with hidden_cases(seed):
        score = check_add_primitive_split(fn, verbose=False)
    assert score.passed == score.total, score


@pytest.mark.parametrize(
    "fn", [primitive_alone_in_test, primitive_alone_dropped, one_word_at_a_time, by_actions]
)
def test_wrong_splits_fail(fn):
    score = check_add_primitive_split(fn, verbose=False)
    assert score.passed < score.total, fn.__name__


REFERENCES = {
    "ex-systematicity-interpret": (make_interpret(),),
    "ex-systematicity-add-primitive": (my_add_primitive_split,),
}
OTHER_RIGHT_ANSWERS = [
    ("ex-systematicity-interpret", (recursive_interpret,)),
    ("ex-systematicity-add-primitive", (by_word_windows,)),
]
