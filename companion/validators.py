"""Argument checks with one message style: ``name=value must be <what was expected>[; how to fix]``.

Every config and public function of companion checks its arguments with these, so a bad value is
reported where it is passed, naming the argument, the value received and what would be accepted,
instead of surfacing later as a raw Python error or a NaN:

>>> positive_int("n_layers", True)
Traceback (most recent call last):
TypeError: n_layers=True must be a positive int (a bool is not accepted)

A value of the wrong type raises ``TypeError``; a value of the right type outside its range
raises ``ValueError``. ``bool`` is never accepted as a number: ``True`` is an ``int`` to Python,
and ``n_heads=True`` is always a mistake.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

__all__ = [
    "boolean",
    "divisible",
    "fail",
    "nonnegative_int",
    "number",
    "one_of",
    "optional",
    "positive_int",
    "sequence_of_numbers",
]

T = TypeVar("T")


def fail(name: str, value: Any, expected: str, hint: str = "", error: type = ValueError) -> None:
    """Raise ``error("name=value must be <expected>[; <hint>]")``."""
    raise error(f"{name}={value!r} must be {expected}" + (f"; {hint}" if hint else ""))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive_int(name: str, value: Any, hint: str = "") -> int:
    """``value`` if it is an ``int`` (not a bool) >= 1."""
    return _int_at_least(name, value, 1, "a positive int", hint)


def nonnegative_int(name: str, value: Any, hint: str = "") -> int:
    """``value`` if it is an ``int`` (not a bool) >= 0."""
    return _int_at_least(name, value, 0, "an int >= 0", hint)


def _int_at_least(name: str, value: Any, low: int, expected: str, hint: str) -> int:
    if not _is_int(value):
        why = " (a bool is not accepted)" if isinstance(value, bool) else ""
        fail(name, value, expected + why, hint, TypeError)
    if value < low:
        fail(name, value, expected, hint)
    return value


def number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """``value`` if it is a finite real number (not a bool) in the interval given.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``: ``number("dropout", p, 0, 1,
    high_open=True)`` accepts ``[0, 1)``.
    """
    interval = _interval(low, high, low_open, high_open)
    expected = f"a number {interval}" if interval else "a finite number"
    if not _is_number(value):
        fail(name, value, expected, hint, TypeError)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        fail(name, value, expected, hint)
    return value


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def boolean(name: str, value: Any, hint: str = "") -> bool:
    """``value`` if it is ``True`` or ``False`` (``"no"``, ``0`` or ``None`` are not)."""
    if not isinstance(value, bool):
        fail(name, value, "True or False", hint, TypeError)
    return value


def one_of(name: str, value: T, choices: Collection[T], hint: str = "") -> T:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        fail(name, value, f"one of {tuple(choices)!r}", hint)
    return value


def sequence_of_numbers(
    name: str, value: Any, length: int, low: float, high: float, *, high_open: bool, hint: str = ""
) -> tuple[float, ...]:
    """``tuple(value)`` if it is a sequence of ``length`` numbers in ``[low, high]`` (or ``high)``)."""
    expected = f"{length} numbers {_interval(low, high, False, high_open)}"
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != length:
        fail(name, value, expected, hint, TypeError)
    for v in value:
        if not _is_number(v):
            fail(name, value, expected, hint, TypeError)
        if not (math.isfinite(v) and low <= v and (v < high if high_open else v <= high)):
            fail(name, value, expected, hint)
    return tuple(value)


def divisible(name: str, value: int, by_name: str, by: int) -> None:
    """Raise unless ``by`` divides ``value``; the message lists divisors of ``value`` to choose."""
    if value % by:
        divisors = [h for h in range(1, min(value, 16) + 1) if value % h == 0]
        raise ValueError(
            f"{name}={value} is not divisible by {by_name}={by}; choose {by_name} that divides "
            f"{name} (e.g. one of {divisors})"
        )


def optional(check, name: str, value: Any, *args: Any, **kwargs: Any) -> Any:
    """``None``, or ``check(name, value, ...)``: for arguments where ``None`` means "off"."""
    return None if value is None else check(name, value, *args, **kwargs)
