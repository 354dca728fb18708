"""Checkers of the chapter notebooks/34_pretrained_minilm."""

from __future__ import annotations

from companion.exercises.core import Exercise

NOTEBOOK = "34_pretrained_minilm"

EXERCISES: list[Exercise] = []

OTHER_EXERCISES: dict[str, tuple[str, str]] = {}
