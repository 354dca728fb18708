"""The course wing's contract, once for every registered exercise: the reference solution gets full
marks and its report is printed once; a slightly wrong answer is rejected and its report never shows
an expected value; a stub scores zero; the learner's random state is left alone; the grader finds
every exercise of a notebook. Then the registry itself: its errors, and its agreement with the
notebooks. A new chapter's exercises are covered by the REFERENCES and OTHER_RIGHT_ANSWERS of its
tests/test_exercises_<slug>.py.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from pathlib import Path

import nbformat
import pytest
import torch
from IPython.core.formatters import DisplayFormatter

from companion.course import (
    code_exercises,
    exercise_table,
    grade_namespace,
    kernel_side,
    other_exercises,
)
from companion.course.core import hidden_cases
from companion.course.registry import Chapter

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# layer_norm_unbiased on d = 1 divides by d - 1 = 0: the NaN it returns is the point of that case.
pytestmark = pytest.mark.filterwarnings(r"ignore:var\(\). degrees of freedom is <= 0")

# Each chapter's checker tests (tests/test_exercises*.py, on sys.path: pytest's "prepend" import
# mode) hold its REFERENCES (label -> the notebook's solution: the learner's functions, in the order
# the checker takes them) and OTHER_RIGHT_ANSWERS (right answers written differently).
CHECKER_TESTS = [
    importlib.import_module(p.stem)
    for p in sorted(Path(__file__).parent.glob("test_exercises*.py"))
]
REFERENCES = {label: fns for m in CHECKER_TESTS for label, fns in m.REFERENCES.items()}
OTHER_RIGHT_ANSWERS = [pair for m in CHECKER_TESTS for pair in m.OTHER_RIGHT_ANSWERS]

EXERCISES = code_exercises()
LABELS = sorted(EXERCISES)
by_label = pytest.mark.parametrize("label", LABELS)


def perturbed(value):
    """A slightly wrong copy of a checker's expected kind of answer."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool:
            return ~value
        return value + (0.5 if value.is_floating_point() else 1)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):  # the report may quote the learner's answer: it must not hold ours
        return "?" * (len(value) + 1)
    if isinstance(value, list | tuple):
        return type(value)(perturbed(v) for v in value)
    return value


class Recorder:
    """Wraps a learner's function: records what the reference returns, returns it or a wrong copy."""

    def __init__(self, fn, wrong: bool):
        self.fn, self.wrong, self.returned = fn, wrong, []
        self.__signature__ = inspect.signature(fn)

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        self.returned.append(out)
        return perturbed(out) if self.wrong else out


def shown_values(value) -> list[str]:
    """The strings a report must not contain if it hid ``value``."""
    if isinstance(value, torch.Tensor):
        return [str(value.tolist())] if value.numel() > 1 else []
    if isinstance(value, str) and len(value) > 1:
        return [value, repr(value)]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000:
        return [str(value), f"{value:,}"]
    if isinstance(value, list | tuple):
        return [repr(value)] if len(value) > 1 else []
    return []


def test_every_exercise_has_a_reference_solution_here():
    assert set(REFERENCES) == set(EXERCISES), (
        "add the new exercise's solution to REFERENCES in its tests/test_exercises_<slug>.py"
    )
    for label, fns in REFERENCES.items():
        assert len(fns) == len(EXERCISES[label].names), label


@by_label
def test_the_reference_gets_full_marks_and_its_report_is_shown_once(label, capsys):
    exercise = EXERCISES[label]
    score = exercise.checker(*REFERENCES[label])
    assert score.passed == score.total > 0 and score.score == 1.0, str(score)
    assert all(m.endswith(": passed") for m in score.messages)
    printed = capsys.readouterr().out
    assert printed.strip() == str(score)
    assert printed.splitlines()[0] == f"{label}: {score.total}/{score.total} cases passed"
    assert DisplayFormatter().format(score) == ({}, {})  # the returned Score displays as nothing


@pytest.mark.parametrize(("label", "fns"), OTHER_RIGHT_ANSWERS)
def test_other_right_answers_get_full_marks(label, fns):
    score = EXERCISES[label].checker(*fns, verbose=False)
    assert score.passed == score.total > 0, str(score)


@by_label
def test_a_wrong_answer_is_rejected_without_showing_the_expected_value(label):
    recorders = [Recorder(fn, wrong=True) for fn in REFERENCES[label]]
    score = EXERCISES[label].checker(*recorders, verbose=False)
    assert score.score < 1, f"{label}: a perturbed reference passed every case\n{score}"
    failed = " ".join(m for m in score.messages if not m.endswith(": passed"))
    assert "tensor(" not in failed
    for recorder in recorders:
        for value in recorder.returned:
            for text in shown_values(value):
                assert text not in failed, f"{label}: the report shows {text!r}"


@by_label
def test_a_stub_scores_zero(label):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 2: write this function")

    exercise = EXERCISES[label]
    score = exercise.checker(*[stub] * len(exercise.names), verbose=False)
    assert score.passed == 0 and score.total > 0
    assert all(
        "raised NotImplementedError: Exercise 2: write this function" in m for m in score.messages
    )


@by_label
def test_the_learners_random_state_is_left_alone(label):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    EXERCISES[label].checker(*REFERENCES[label], verbose=False)
    EXERCISES[label].checker(*(Recorder(fn, wrong=True) for fn in REFERENCES[label]), verbose=False)
    assert torch.equal(torch.rand(3), expected)


@by_label
def test_the_grader_finds_it_by_its_functions_names(label, capsys):
    exercise = EXERCISES[label]
    namespace = dict(zip(exercise.names, REFERENCES[label], strict=True))
    scores = {s.exercise: s for s in grade_namespace(exercise.notebook, namespace)}
    assert scores[label].score == 1.0, str(scores[label])
    missing = {s.exercise: s for s in grade_namespace(exercise.notebook + ".ipynb", {})}[label]
    assert (missing.score, missing.total) == (0, 1)
    assert (
        missing.messages[0] == f"`{exercise.names[0]}` is not defined: run the cell that defines it"
    )
    assert capsys.readouterr().out == ""  # quiet


def test_grading_never_raises():
    def noisy(*args, **kwargs):
        print("debug output")
        raise SystemExit(1)  # a learner's sys.exit() fails the case, it does not stop grading

    ns = {
        "attention": 3,
        "my_causal_mask": REFERENCES["ex-masks-and-positions-masks"][0],
        "my_padding_mask": "text",
    }
    scores = grade_namespace("21_masks_and_positions", dict(ns, my_sinusoidal_encoding=noisy))
    assert [s.score for s in scores] == [0, 0]
    assert scores[0].messages == ["`my_padding_mask` is not defined: run the cell that defines it"]
    assert all("raised SystemExit: 1" in m for m in scores[1].messages)
    assert grade_namespace("20_attention", ns)[0].messages[0].startswith("`attention` is not")
    assert grade_namespace("99_unknown", {}) == []


# --- the registry ---------------------------------------------------------------------------------


def test_each_chapter_module_is_named_for_its_notebook():
    for exercise in [*EXERCISES.values(), *other_exercises().values()]:
        number, slug = exercise.notebook.split("_", 1)
        assert (REPO / "notebooks" / f"{exercise.notebook}.ipynb").exists(), exercise.label
        assert (REPO / "companion" / "course" / "exercises" / f"{slug}.py").exists(), exercise.label
    for exercise in EXERCISES.values():
        assert exercise.checker.__module__ == f"companion.course.exercises.{slug_of(exercise)}"


def slug_of(exercise) -> str:
    return exercise.notebook.split("_", 1)[1]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Chapter(100, "x"), "a notebook number from 0 to 99"),
        (lambda: Chapter(True, "x"), "a bool is not accepted"),
        (lambda: Chapter(98, "Not-a-slug"), "is not a lower-case identifier"),
        (lambda: Chapter(20, "attention_again"), "chapter 20 is already registered"),
        (
            lambda: Chapter(98, "scratch").other_exercise("ex-x", title="X", difficulty="trivial"),
            "difficulty='trivial' must be one of",
        ),
        (
            lambda: Chapter(98, "scratch").other_exercise("x-1", title="X", difficulty="easy"),
            "must start with 'ex-'",
        ),
        (
            lambda: Chapter(98, "scratch").other_exercise(
                "ex-attention-implement", title="X", difficulty="easy"
            ),
            "already registered by 20_attention",
        ),
        (
            lambda: Chapter(98, "scratch").exercise("ex-x", title="X", difficulty="easy", names=()),
            "must be a tuple of function names",
        ),
        (
            lambda: Chapter(98, "scratch").exercise(
                "ex-x", title="X", difficulty="easy", names=("f",), references=("causal_mask",)
            ),
            "must be dotted paths into companion",
        ),
    ],
)
def test_registration_errors_say_what_to_fix(make, message):
    code_exercises()  # every real chapter registered first
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        make()


def change_in_place(value) -> None:
    """Change a case's input the way a hostile function might: tensors, masks and weights."""
    if isinstance(value, torch.Tensor):
        with torch.no_grad():
            if value.dtype == torch.bool:
                value.fill_(True)
            elif value.is_floating_point():
                value.mul_(0.5).add_(0.25)
            elif value.numel():
                value.clamp_(max=int(value.min()))
    elif isinstance(value, torch.nn.Module):
        with torch.no_grad():
            for p in value.parameters():
                p.mul_(0.5)
    elif isinstance(value, list | tuple):
        for v in value:
            change_in_place(v)


@by_label
def test_changing_the_inputs_in_place_gains_nothing(label):
    """A function that changes its inputs in place and answers for the changed inputs scores what
    one that answers for changed *copies* scores: the checker's expected values come from inputs
    the learner cannot touch (the grader writes such changes back from the kernel)."""

    def in_place(fn):
        def call(*args, **kwargs):
            change_in_place([*args, *kwargs.values()])
            return fn(*args, **kwargs)

        return call

    def on_copies(fn):
        def call(*args, **kwargs):
            args, kwargs = copy.deepcopy((args, kwargs))
            change_in_place([*args, *kwargs.values()])
            return fn(*args, **kwargs)

        return call

    checker, fns = EXERCISES[label].checker, REFERENCES[label]
    cheat = checker(*map(in_place, fns), verbose=False)
    honest = checker(*map(on_copies, fns), verbose=False)
    assert cheat.passed <= honest.passed, f"{label}: changing the inputs in place passed {cheat}"


@by_label
def test_every_reference_resolves(label):
    """A reference the kernel cannot import would fail every honest submission's every case."""
    for ref in EXERCISES[label].references:
        assert callable(kernel_side._resolve(ref)), ref


def fingerprint(value) -> object:
    """Equal for equal inputs: tensors by their values, generators by their state, modules by
    their weights."""
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), str(value.dtype), value.tolist())
    if isinstance(value, torch.Generator):
        return fingerprint(value.get_state())
    if isinstance(value, torch.nn.Module):
        return [fingerprint(t) for t in value.state_dict().values()]
    if isinstance(value, list | tuple):
        return [fingerprint(v) for v in value]
    if isinstance(value, dict):
        return {k: fingerprint(v) for k, v in value.items()}
    return repr(value)


def inputs_seen(label: str, seed: int | None) -> tuple[list, float]:
    """The arguments the checker passes to the reference (as text), and its score, under
    ``hidden_cases(seed)``."""
    seen = []

    def recording(fn):
        def call(*args, **kwargs):
            seen.append(fingerprint((args, kwargs)))
            return fn(*args, **kwargs)

        return call

    with hidden_cases(seed):
        score = EXERCISES[label].checker(*map(recording, REFERENCES[label]), verbose=False)
    return seen, score.score


@by_label
def test_hidden_cases_are_new_and_still_right(label):
    """The instructor's seed changes the random cases (the fixed edge cases stay; a checker with
    only fixed cases adds random ones), and the reference still gets full marks on them; without
    a seed the public cases are unchanged."""
    public, score = inputs_seen(label, None)
    assert score == 1.0 and inputs_seen(label, None)[0] == public
    for seed in (1, 2027):
        hidden, score = inputs_seen(label, seed)
        assert score == 1.0, (label, seed)
        assert hidden != public, f"{label}: --seed {seed} left every case as it was"


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
    assert set(code) == set(EXERCISES), "a code exercise without a checker (or a stale one)"
    for label, (nb, title, names) in code.items():
        e = EXERCISES[label]
        assert (e.notebook, e.title, e.names) == (nb, title, tuple(names)), label


def test_exercise_table_lists_every_exercise():
    found = notebook_exercises()
    table = exercise_table()
    assert {r["label"] for r in table} == set(found)
    assert len(table) == len(found)
    for row in table:
        nb, title, names = found[row["label"]]
        assert (row["notebook"], row["title"]) == (nb, title)
        assert row["auto_checked"] == bool(names) == (row["label"] in EXERCISES)
        assert row["difficulty"] in ("easy", "medium", "hard")


def test_exercise_text_names_its_checker():
    """The exercise says which checker to call and where it lives; its solution cell calls it."""
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        for e in EXERCISES.values():
            if e.notebook == path.stem:
                call = f"{e.checker.__name__}({', '.join(e.names)})"
                assert text.count(call) >= 2, (
                    f"{path.name}: {call} not in the exercise and solution"
                )
                assert f"companion.course.exercises.{slug_of(e)}" in text, path.name
