"""Checkers of the chapter notebooks/31_train_gpt."""

from __future__ import annotations

from companion.exercises.core import Exercise

NOTEBOOK = "31_train_gpt"

EXERCISES: list[Exercise] = []

OTHER_EXERCISES: dict[str, tuple[str, str]] = {}
