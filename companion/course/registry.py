"""The book's exercises, registered beside their checkers.

Each chapter with exercises has one module in :mod:`companion.course.exercises`, named like its
notebook without the number (``attention.py`` for ``notebooks/20_attention.ipynb``). It opens with
a :class:`Chapter` and registers every exercise of that notebook with it::

    CHAPTER = Chapter(20, "attention")

    @CHAPTER.exercise("ex-attention-implement", title="Implement attention", difficulty="medium",
                      names=("attention",))
    def check_attention(fn, *, verbose=True) -> Score: ...

    CHAPTER.other_exercise("ex-attention-by-hand", title="Attention by hand", difficulty="easy")

:func:`code_exercises` and :func:`other_exercises` import every module of the package first, so adding
a chapter's exercises is one new file and no edit elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
from collections.abc import Callable
from pathlib import Path

from companion import validators as check
from companion.course.core import Exercise, Score, describe_exception

__all__ = [
    "DIFFICULTIES",
    "Chapter",
    "OtherExercise",
    "exercise_table",
    "code_exercises",
    "grade_namespace",
    "other_exercises",
]

DIFFICULTIES = ("easy", "medium", "hard")

_EXERCISES: dict[str, Exercise] = {}  # label -> auto-checked exercise
_OTHERS: dict[str, OtherExercise] = {}  # label -> exercise read by hand
_CHAPTERS: dict[int, Chapter] = {}  # notebook number -> chapter


class OtherExercise:
    """An exercise without a checker (pen and paper, predict-then-measure, explain)."""

    __slots__ = ("difficulty", "label", "notebook", "title")

    def __init__(self, label: str, notebook: str, title: str, difficulty: str) -> None:
        self.label, self.notebook, self.title, self.difficulty = label, notebook, title, difficulty


class Chapter:
    """The exercises of ``notebooks/{number}_{slug}.ipynb``."""

    def __init__(self, number: int, slug: str) -> None:
        if check.nonnegative_int("number", number) > 99:
            check.fail("number", number, "a notebook number from 0 to 99", "notebooks are NN_slug")
        if not slug.isidentifier() or not slug.islower():
            raise ValueError(
                f"slug={slug!r} is not a lower-case identifier; use the notebook's name without "
                "its number, e.g. 'attention' for notebooks/20_attention.ipynb"
            )
        if number in _CHAPTERS and _CHAPTERS[number].slug != slug:
            raise ValueError(
                f"chapter {number} is already registered as {_CHAPTERS[number].notebook!r}; "
                "each notebook number has one exercises module"
            )
        self.number, self.slug = number, slug
        self.notebook = f"{number:02d}_{slug}"
        _CHAPTERS[number] = self

    def _claim(self, label: str, title: str, difficulty: str) -> None:
        if not label.startswith("ex-"):
            raise ValueError(f"label={label!r} must start with 'ex-', as sphinx-exercise labels do")
        check.one_of("difficulty", difficulty, DIFFICULTIES)
        if not title:
            raise ValueError(f"{label}: title is empty; use the exercise's title in the notebook")
        owner = _EXERCISES.get(label) or _OTHERS.get(label)
        if owner is not None and owner.notebook != self.notebook:
            raise ValueError(f"label {label!r} is already registered by {owner.notebook}")

    def exercise(
        self,
        label: str,
        *,
        title: str,
        difficulty: str,
        names: tuple[str, ...],
        references: tuple[str, ...] = (),
    ) -> Callable[[Callable[..., Score]], Callable[..., Score]]:
        """Register the decorated checker for ``label``; ``names`` are the learner's functions it
        takes, in order; ``references`` are companion's implementations of the answer, as dotted
        paths (``"companion.masks.causal_mask"``): the grader flags a submission that calls one."""
        self._claim(label, title, difficulty)
        if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise ValueError(f"{label}: names={names!r} must be a tuple of function names")
        if not all(isinstance(r, str) and r.startswith("companion.") for r in references):
            raise ValueError(
                f"{label}: references={references!r} must be dotted paths into companion, "
                "e.g. ('companion.masks.causal_mask',)"
            )

        def register(checker: Callable[..., Score]) -> Callable[..., Score]:
            _EXERCISES[label] = Exercise(
                label, self.notebook, title, difficulty, tuple(names), checker, tuple(references)
            )
            return checker

        return register

    def other_exercise(self, label: str, *, title: str, difficulty: str) -> None:
        """Register an exercise that has no checker."""
        self._claim(label, title, difficulty)
        _OTHERS[label] = OtherExercise(label, self.notebook, title, difficulty)


def _discover() -> None:
    """Import every chapter module of :mod:`companion.course.exercises` (each registers itself)."""
    package = importlib.import_module("companion.course.exercises")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def code_exercises() -> dict[str, Exercise]:
    """label -> :class:`Exercise`, for every auto-checked exercise of the book."""
    _discover()
    return dict(_EXERCISES)


def other_exercises() -> dict[str, OtherExercise]:
    """label -> :class:`OtherExercise`, for every exercise read by hand."""
    _discover()
    return dict(_OTHERS)


def exercise_table() -> list[dict]:
    """Every exercise of the book, by notebook: label, notebook, title, difficulty, auto_checked."""
    rows = [
        {
            "label": e.label,
            "notebook": e.notebook,
            "title": e.title,
            "difficulty": e.difficulty,
            "auto_checked": auto,
        }
        for auto, registry in ((True, code_exercises()), (False, other_exercises()))
        for e in registry.values()
    ]
    return sorted(rows, key=lambda r: (r["notebook"], r["label"]))


def grade_namespace(notebook: str, namespace: dict) -> list[Score]:
    """Run every checker of ``notebook`` (a stem like ``"20_attention"``, or a path) on the
    functions of the same names in ``namespace``, quietly. Never raises: a missing function, or
    one that fails, scores 0 with a message saying why."""
    stem = Path(str(notebook)).stem
    scores = []
    for ex in code_exercises().values():
        if ex.notebook != stem:
            continue
        missing = [n for n in ex.names if not callable(namespace.get(n))]
        if missing:
            msgs = [f"`{n}` is not defined: run the cell that defines it" for n in missing]
            scores.append(Score(ex.label, 0, 1, msgs))
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                scores.append(ex.checker(*(namespace[n] for n in ex.names), verbose=False))
        except (Exception, SystemExit) as exc:  # grading goes on whatever the code does
            scores.append(Score(ex.label, 0, 1, [f"checker failed: {describe_exception(exc)}"]))
    return scores
