"""Exercises of the chapter "Translation, summaries, and how to score them" (notebooks/42_translation_and_summaries)."""

from companion.course.registry import Chapter

CHAPTER = Chapter(42, "translation_and_summaries")  # notebooks/42_translation_and_summaries.ipynb

# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,
# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`
# (see attention.py): references are companion's own answers, which the grader flags; draw
# random cases from case_generator(i), so that the grader's --seed changes them.

# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-translation-and-summaries-by-hand", title="By hand", difficulty="easy")
CHAPTER.other_exercise("ex-translation-and-summaries-predict", title="Predict, then measure", difficulty="medium")
CHAPTER.other_exercise("ex-translation-and-summaries-change", title="Change the model", difficulty="hard")
