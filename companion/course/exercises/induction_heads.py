"""Exercises of the chapter "Induction heads: in-context learning has a circuit" (notebooks/52_induction_heads)."""

from companion.course.registry import Chapter

CHAPTER = Chapter(52, "induction_heads")  # notebooks/52_induction_heads.ipynb

# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,
# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`
# (see attention.py): references are companion's own answers, which the grader flags; draw
# random cases from case_generator(i), so that the grader's --seed changes them.

# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-induction-heads-by-hand", title="By hand", difficulty="easy")
CHAPTER.other_exercise("ex-induction-heads-predict", title="Predict, then measure", difficulty="medium")
CHAPTER.other_exercise("ex-induction-heads-change", title="Change the model", difficulty="hard")
