"""Checkers of the chapter notebooks/32_seq2seq_numbers."""

from __future__ import annotations

from companion.exercises.core import Exercise

NOTEBOOK = "32_seq2seq_numbers"

EXERCISES: list[Exercise] = []

OTHER_EXERCISES: dict[str, tuple[str, str]] = {}
