"""companion.data.scan: SCAN's grammar, its meaning function and the paper's splits."""

from __future__ import annotations

import pytest

from companion.data import scan
from companion.data.scan import (
    ACTIONS,
    add_primitive_split,
    commands,
    interpret,
    scan_tokenizers,
    split,
)

WORDS = {"I_WALK": "W", "I_LOOK": "L", "I_RUN": "R", "I_JUMP": "J"}


def short(actions: str) -> str:
    """'I_TURN_LEFT I_JUMP' -> 'lJ': hand-worked answers stay readable."""
    return "".join(WORDS[a] if a in WORDS else a[7].lower() for a in actions.split())


@pytest.mark.parametrize(
    "command, expected",
    [
        ("walk", "W"),  # a primitive
        ("turn left", "l"),  # turn only turns
        ("look right", "rL"),  # x T: turn, then act
        ("run opposite left", "llR"),  # opposite: turn round, then act
        ("turn opposite right", "rr"),
        ("jump around left", "lJlJlJlJ"),  # around: act after each of four quarter turns
        ("turn around right", "rrrr"),
        ("walk twice", "WW"),
        ("look left thrice", "lLlLlL"),
        ("jump around left twice", "lJlJlJlJ" * 2),  # the docstring's example: eight jumps
        ("walk and run", "WR"),  # and: in order
        ("walk after run", "RW"),  # after: the second first
        ("jump opposite right twice after turn left thrice", "lll" + "rrJrrJ"),
        ("run around right and walk opposite left twice", "rRrRrRrR" + "llWllW"),
    ],
)
def test_every_rule_on_hand_worked_commands(command, expected):
    assert short(interpret(command)) == expected


def test_the_grammar_has_20910_commands_in_a_fixed_order():
    all_commands = commands()
    assert len(all_commands) == len(set(all_commands)) == 20_910  # 102 + 2 * 102^2
    assert all_commands[:3] == ["walk", "walk twice", "walk thrice"]
    assert all_commands == commands()
    assert {a for c in all_commands[:102] for a in interpret(c).split()} == set(ACTIONS)


def test_split_sizes_are_the_papers():
    train, test = split("length")
    assert (len(train), len(test)) == (16_990, 3_920)
    assert (
        max(len(a.split()) for _, a in train) == 22 and min(len(a.split()) for _, a in test) == 24
    )
    train, test = split("addprim_jump")
    # the released files: 13,203 other commands, and "jump" alone as 10% of the training pairs
    assert (len(train), len(test)) == (14_670, 7_706)
    assert train.count(("jump", "I_JUMP")) == 1_467 and len(set(train)) == 20_910 - 7_706
    assert not any("jump" in c.split() for c, _ in train if c != "jump")
    assert all("jump" in c.split() for c, _ in test)
    train, test = split("addprim_turn_left")
    assert (len(train), len(test)) == (21_890, 1_208)
    assert train.count(("turn left", "I_TURN_LEFT")) == 2_189


def test_the_simple_split_is_a_seeded_80_20_partition():
    train, test = split("simple", seed=3)
    assert (len(train), len(test)) == (16_728, 4_182)
    assert {c for c, _ in train}.isdisjoint(c for c, _ in test)
    assert split("simple", seed=3) == (train, test) and split("simple", seed=4) != (train, test)
    assert all(interpret(c) == a for c, a in test[:200])


@pytest.mark.parametrize(
    "bad",
    ["", "jump jump", "walk left left", "turn", "turn twice", "fly", "walk around", "and walk"],
)
def test_what_the_grammar_does_not_generate_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="not a SCAN phrase"):
        interpret(bad)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="command"):
        interpret(3)
    with pytest.raises(ValueError, match="name"):
        split("add_jump")


def test_add_primitive_turn_left_is_the_papers_1208():
    """Lake and Baroni's second add-primitive split, with the two-word primitive "turn left": its
    test set has their 1,208 commands; "turn left" alone stays in training."""
    pairs = [(c, interpret(c)) for c in commands()]
    train, test = add_primitive_split(pairs, "turn left")
    assert (len(train), len(test)) == (20_910 - 1_208, 1_208)
    assert ("turn left", "I_TURN_LEFT") in train
    assert all("turn left" in c and c != "turn left" for c, _ in test)
    assert all(c == "turn left" or " turn left " not in f" {c} " for c, _ in train)


def test_tokenizers_cover_the_language_and_round_trip():
    src, tgt = scan_tokenizers()
    assert {w for c in commands() for w in c.split()} == set(scan.WORDS)
    assert (src.vocab_size, tgt.vocab_size) == (13 + 3, 6 + 3)
    command = "jump around left twice after turn opposite right"
    assert src.decode(src.encode(command)) == command
    assert tgt.decode(tgt.encode(interpret(command))) == interpret(command)
    with pytest.raises(ValueError, match="'fly' is not a word of SCAN's commands"):
        src.encode("fly twice")
