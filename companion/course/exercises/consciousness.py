"""Exercises of the chapter "Does consciousness need carbon?" (notebooks/70_consciousness)."""

from companion.course.registry import Chapter

CHAPTER = Chapter(70, "consciousness")  # notebooks/70_consciousness.ipynb

# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,
# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`
# (see attention.py): references are companion's own answers, which the grader flags; draw
# random cases from case_generator(i), so that the grader's --seed changes them.

# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise(
    "ex-consciousness-by-hand",
    title="By hand: integrated information of two units",
    difficulty="easy",
)
CHAPTER.other_exercise(
    "ex-consciousness-predict",
    title="Predict, then measure: where the network is fragile",
    difficulty="medium",
)
CHAPTER.other_exercise("ex-consciousness-debate", title="A debate worksheet", difficulty="medium")
