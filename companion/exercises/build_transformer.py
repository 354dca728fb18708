"""Checkers of the chapter notebooks/30_build_transformer."""

from __future__ import annotations

from companion.exercises.core import Exercise

NOTEBOOK = "30_build_transformer"

EXERCISES: list[Exercise] = []

OTHER_EXERCISES: dict[str, tuple[str, str]] = {}
