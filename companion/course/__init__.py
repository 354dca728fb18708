"""The course wing: the exercises' checkers, the student edition and the grader.

- :mod:`companion.course.exercises` — one module of checkers per chapter. Each code exercise names
  a function for the learner to write; ``check_<name>(fn)`` runs it on hidden cases generated from
  a fixed seed, compares it with companion's reference, prints a short report and returns a
  :class:`Score`. A failing case says what kind of case it was and how it failed (a shape, a dtype,
  the size of the error, or the exception raised), never the expected tensor.
- :mod:`companion.course.registry` — :class:`~companion.course.registry.Chapter` registers each
  exercise beside its checker; :func:`code_exercises`, :func:`exercise_table` (the instructor guide's
  table) and :func:`grade_namespace` (all of a notebook's checkers on a namespace, in-process)
  read the registry.
- :mod:`companion.course.core` — what every checker shares (cases, comparisons, the score, the
  instructor's hidden cases).
- ``python -m companion.course.student`` writes the solution-free student edition;
  ``python -m companion.course.grade`` grades a folder of submitted notebooks: each runs in a
  sandboxed kernel (:mod:`~companion.course.sandbox`), the checkers run in the grader on stand-ins
  (:mod:`~companion.course.remote`) that call the learner's functions in the kernel
  (:mod:`~companion.course.kernel_side`), and the two exchange data only
  (:mod:`~companion.course.wire`: JSON and safetensors).
"""

from companion.course.core import Exercise, Score
from companion.course.registry import (
    code_exercises,
    exercise_table,
    grade_namespace,
    other_exercises,
)

__all__ = [
    "Exercise",
    "Score",
    "exercise_table",
    "code_exercises",
    "grade_namespace",
    "other_exercises",
]
