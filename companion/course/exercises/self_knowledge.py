"""Exercises of the chapter "Does the model know what it knows?" (notebooks/71_self_knowledge)."""

from companion.course.registry import Chapter

CHAPTER = Chapter(71, "self_knowledge")  # notebooks/71_self_knowledge.ipynb

# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,
# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`
# (see attention.py): references are companion's own answers, which the grader flags; draw
# random cases from case_generator(i), so that the grader's --seed changes them.

# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-self-knowledge-by-hand", title="By hand", difficulty="easy")
CHAPTER.other_exercise("ex-self-knowledge-predict", title="Predict, then measure", difficulty="medium")
CHAPTER.other_exercise("ex-self-knowledge-change", title="Change the model", difficulty="hard")
