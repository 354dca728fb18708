"""companion.mlc: the grammar's meaning on hand-worked examples of every rule, episodes that are
reproducible and keep what they promise (the focus shown only alone, hidden primitives never
composed, held-out pairings kept out), and clear errors."""

from __future__ import annotations

import random

import pytest
import torch

from companion.mlc import (
    COLOURS,
    PAPER_ASSIGNMENT,
    PRIMITIVES,
    all_assignments,
    focus_attention,
    interpret,
    make_episode,
    mlc_tokenizers,
    random_command,
)

A = PAPER_ASSIGNMENT  # dax RED, wif GREEN, lug BLUE, zup YELLOW
B = {"dax": "PINK", "wif": "RED", "lug": "BLACK", "zup": "GREEN"}


@pytest.mark.parametrize(
    ("command", "meaning"),
    [
        ("dax", "RED"),  # u
        ("zup", "YELLOW"),
        ("lug fep", "BLUE BLUE BLUE"),  # u fep -> u u u
        ("wif blicket dax", "GREEN RED GREEN"),  # u1 blicket u2 -> u1 u2 u1
        ("dax blicket dax", "RED RED RED"),
        ("lug kiki wif", "GREEN BLUE"),  # x1 kiki x2 -> x2 x1
        ("dax fep kiki lug", "BLUE RED RED RED"),  # kiki joins whole phrases
        ("zup blicket wif kiki dax fep", "RED RED RED YELLOW GREEN YELLOW"),
        ("dax kiki wif kiki lug", "BLUE GREEN RED"),  # several kiki: the phrases reversed
    ],
)
def test_every_rule_by_hand(command, meaning):
    assert interpret(command, A) == meaning


def test_meanings_follow_the_assignment():
    assert interpret("dax fep kiki lug", B) == "BLACK PINK PINK PINK"
    assert interpret("wif blicket zup", B) == "RED GREEN RED"


def test_kiki_is_associative():
    # x1 kiki (x2 kiki x3) and (x1 kiki x2) kiki x3 both mean x3 x2 x1
    first = interpret("lug kiki wif", A)
    assert interpret("dax kiki lug kiki wif", A) == f"{first} RED"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("dax twice", "not a word of the grammar"),
        ("fep dax", "not a phrase"),
        ("dax kiki", "not a phrase"),
        ("kiki dax", "not a phrase"),
        ("dax blicket", "not a phrase"),
        ("dax lug", "not a phrase"),
        ("dax blicket lug fep", "not a phrase"),
        ("", "not a phrase"),
    ],
)
def test_malformed_commands_raise(command, message):
    with pytest.raises(ValueError, match=message):
        interpret(command, A)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ({"dax": "RED", "wif": "GREEN", "lug": "BLUE"}, "each of"),
        ({"dax": "RED", "wif": "RED", "lug": "BLUE", "zup": "PINK"}, "one-to-one"),
        ({"dax": "TEAL", "wif": "RED", "lug": "BLUE", "zup": "PINK"}, "not one of COLOURS"),
    ],
)
def test_bad_assignments_raise(assignment, message):
    with pytest.raises(ValueError, match=message):
        interpret("dax", assignment)


def test_assignments_count_and_hold_out():
    held = list(A.items())
    assert len(all_assignments()) == 8 * 7 * 6 * 5
    train, test = all_assignments(excluded_pairs=held), all_assignments(required_pairs=held)
    assert len(train) + len(test) == 1680
    assert not any(a[u] == A[u] for a in train for u in PRIMITIVES)
    assert all(any(a[u] == A[u] for u in PRIMITIVES) for a in test)


def _episodes(seed, n=200, **kwargs):
    rng = random.Random(seed)
    pool = all_assignments(excluded_pairs=A.items())
    return [make_episode(rng.choice(pool), rng, **kwargs) for _ in range(n)]


def test_episodes_are_reproducible():
    assert _episodes(3) == _episodes(3)
    assert _episodes(3) != _episodes(4)


def test_an_episode_keeps_its_promises():
    for ep in _episodes(0, 300):
        study = dict(ep.study)
        assert all(study[u] == ep.assignment[u] for u in PRIMITIVES)  # every primitive alone
        composed = [c for c in study if c not in PRIMITIVES]
        words = {w for c in composed for w in c.split()}
        assert len(composed) == 3 and {"fep", "blicket", "kiki"} <= words
        assert all(ep.focus not in c.split() for c in composed)  # the focus: only alone
        assert ep.focus in ep.query.split() and ep.query not in PRIMITIVES
        assert ep.answer == interpret(ep.query, ep.assignment)
        assert all(m == interpret(c, ep.assignment) for c, m in ep.study)
        assert ep.source.split().count(ep.assignment[ep.focus]) == 1  # its colour: once
        assert not any(ep.assignment[u] == A[u] for u in PRIMITIVES)  # drawn from the pool


def test_hidden_primitives_are_never_composed():
    for ep in _episodes(1, 300, hidden=("zup",)):
        assert "zup" not in ep.query.split() and ep.focus != "zup"
        assert all("zup" not in c.split() for c, _ in ep.study if c != "zup")
        assert ("zup", ep.assignment["zup"]) in ep.study


def test_unshuffled_study_lists_the_primitives_first_in_order():
    rng = random.Random(0)
    for _ in range(20):
        ep = make_episode(B, rng, n_composed=2, shuffle=False)
        assert ep.study[:4] == tuple((u, B[u]) for u in PRIMITIVES) and len(ep.study) == 6
        assert ep.source.startswith("dax PINK ; wif RED ; lug BLACK ; zup GREEN ;")
    bare = make_episode(B, rng, n_composed=0, shuffle=False)
    assert bare.source.split("|")[0] == "dax PINK ; wif RED ; lug BLACK ; zup GREEN "


def test_focus_is_respected():
    assert {ep.focus for ep in _episodes(2, 50, focus="lug")} == {"lug"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(focus="jump"), "not one of PRIMITIVES"),
        (dict(hidden=("walk",)), "not one of PRIMITIVES"),
        (dict(focus="zup", hidden=("zup",)), "is hidden"),
        (dict(focus="dax", hidden=("wif", "lug")), "need two primitives"),
    ],
)
def test_bad_episode_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_episode(A, random.Random(0), **kwargs)


def test_random_commands_are_composed_and_well_formed():
    rng = random.Random(0)
    for _ in range(200):
        c = random_command(rng, PRIMITIVES)
        assert c not in PRIMITIVES and len(interpret(c, A).split()) <= 6


def test_tokenizers_cover_every_episode():
    src, tgt = mlc_tokenizers()
    assert (src.vocab_size, tgt.vocab_size) == (17 + 3, len(COLOURS) + 3)
    for ep in _episodes(5, 50):
        assert src.decode(src.encode(ep.source)) == ep.source
        assert tgt.decode(tgt.encode(ep.answer)) == ep.answer


def test_focus_attention_reads_the_focus_colour():
    episodes = _episodes(6, 4)
    src_len = max(len(ep.source.split()) for ep in episodes)
    cross = torch.zeros(4, 2, 6, src_len)
    for i, ep in enumerate(episodes):  # head 0 looks at the focus colour, head 1 at token 0
        cross[i, 0, :, ep.source.split().index(ep.assignment[ep.focus])] = 1.0
        cross[i, 1, :, 0] = 1.0
    share = focus_attention(cross, episodes)
    assert share.shape == (2,)
    assert share[0] == 1.0 and share[1] < 1.0
    with pytest.raises(ValueError, match="batch = len"):
        focus_attention(cross[:3], episodes)
