"""Checkers of the chapter notebooks/33_bert_pretraining."""

from __future__ import annotations

from companion.exercises.core import Exercise

NOTEBOOK = "33_bert_pretraining"

EXERCISES: list[Exercise] = []

OTHER_EXERCISES: dict[str, tuple[str, str]] = {}
