"""Exercises of the chapter "Semantic search and question answering" (notebooks/41_search_and_qa)."""

from companion.course.registry import Chapter

CHAPTER = Chapter(41, "search_and_qa")  # notebooks/41_search_and_qa.ipynb

# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,
# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`
# (see attention.py): references are companion's own answers, which the grader flags; draw
# random cases from case_generator(i), so that the grader's --seed changes them.

# The chapter's other exercises: pen and paper, predict-then-measure, explain.
CHAPTER.other_exercise("ex-search-and-qa-by-hand", title="By hand", difficulty="easy")
CHAPTER.other_exercise("ex-search-and-qa-predict", title="Predict, then measure", difficulty="medium")
CHAPTER.other_exercise("ex-search-and-qa-change", title="Change the model", difficulty="hard")
