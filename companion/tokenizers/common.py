"""What the tokenizers share: argument checks and their JSON file format
(``{"type": ..., "format_version": 1, ...}``, written atomically)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from companion.files import atomic_write

FORMAT_VERSION = 1


def check_text(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")


def check_specials(specials: Sequence[str], reserved: set[str]) -> list[str]:
    """Specials as a list, checked to be distinct non-empty strings not in ``reserved``."""
    if isinstance(specials, str):
        raise TypeError(f"specials must be a sequence of strings, e.g. [{specials!r}], not a str")
    specials = list(specials)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise ValueError(f"each special must be a non-empty str, got {s!r}")
        if s in reserved:
            raise ValueError(f"special {s!r} is already a token of the vocabulary")
    if len(set(specials)) != len(specials):
        raise ValueError(f"specials must be distinct, got {specials!r}")
    return specials


def check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """``ids`` as a list, after checking each lies in ``0 .. vocab_size - 1``."""
    ids = list(ids)
    for i in ids:
        if not 0 <= i < vocab_size:
            raise ValueError(
                f"id {i} is out of range for vocab_size={vocab_size} (expected 0..{vocab_size - 1})"
            )
    return ids


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` as JSON, atomically (:func:`companion.files.atomic_write`)."""
    with atomic_write(path) as f:
        f.write(json.dumps(data).encode("utf-8"))


def read_json(path: str | os.PathLike[str], kind: str, keys: Sequence[str]) -> dict[str, Any]:
    """Read a tokenizer file and check its ``type``, ``format_version`` and required ``keys``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); was it written by save()?") from None
    if not isinstance(data, dict) or data.get("type") != kind:
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} is not a {kind!r} tokenizer file (its type is {found!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version={data.get('format_version')!r}; "
            f"this version of companion reads format_version={FORMAT_VERSION}"
        )
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{path} lacks the key(s) {missing} that a {kind!r} file must have")
    return data
