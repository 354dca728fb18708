"""companion.data.scan: SCAN's grammar, its meaning function and the paper's splits."""

from __future__ import annotations

import pytest

from companion.data.scan import ACTIONS, commands, interpret, split

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
    assert len(test) == 7_706 and len(train) == 20_910 - 7_706
    assert ("jump", "I_JUMP") in train
    assert not any("jump" in c.split() for c, _ in train if c != "jump")
    assert all("jump" in c.split() for c, _ in test)


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
