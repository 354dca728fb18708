"""Exercises of the chapter "Training beyond one GPU" (notebooks/35_scaling_out)."""

from companion.course.registry import Chapter

CHAPTER = Chapter(35, "scaling_out")  # notebooks/35_scaling_out.ipynb

# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,
# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`
# (see attention.py): references are companion's own answers, which the grader flags; draw
# random cases from case_generator(i), so that the grader's --seed changes them.

# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-scaling-out-by-hand", title="By hand", difficulty="easy")
CHAPTER.other_exercise("ex-scaling-out-predict", title="Predict, then measure", difficulty="medium")
CHAPTER.other_exercise("ex-scaling-out-change", title="Change the model", difficulty="hard")
