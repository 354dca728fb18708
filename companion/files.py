"""Writing a file so that a crash never leaves a half-written one under its name.

Checkpoints, tokenizer files and downloaded corpora are all written through :func:`atomic_write`:
the bytes go to a temporary file in the same folder, are flushed and fsync'ed, and only then is
the temporary file renamed over the real name with ``os.replace`` (atomic on POSIX and Windows).
If anything fails before that, including a check the caller makes inside the ``with`` block, the
temporary file is removed and the real name still holds the previous file, or nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary binary file beside ``path``; on a clean exit, move it to ``path``.

    >>> with atomic_write("weights.safetensors") as f:   # doctest: +SKIP
    ...     f.write(data)

    Raise inside the block (e.g. a failed checksum) to discard what was written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); folders cannot be opened on Windows."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
