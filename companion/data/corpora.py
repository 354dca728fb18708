"""Text corpora, downloaded once into a cache folder and verified by their sha256.

    from companion.data import tiny_shakespeare
    text = tiny_shakespeare()        # 1,115,394 characters; downloads on first use

The cache folder is ``$COMPANION_DATA`` if set, else ``companion`` under the user's cache
(``$XDG_CACHE_HOME`` or ``~/.cache``). A file already there is used when its sha256 matches; a
download goes to a temporary file next to it and replaces it only once its checksum is right, so
an interrupted or corrupted download never leaves a bad file under the real name. With
``COMPANION_OFFLINE=1`` nothing is downloaded: a missing file is an error that says where to put
it (the tests run this way, with ``COMPANION_DATA`` pointing at the copy in ``tests/data``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion.files import atomic_write

__all__ = ["TINY_SHAKESPEARE", "Corpus", "data_dir", "fetch", "tiny_shakespeare"]

DATA_ENV = "COMPANION_DATA"
OFFLINE_ENV = "COMPANION_OFFLINE"
CHUNK = 1 << 16


@dataclass(frozen=True)
class Corpus:
    """A downloadable text file: where it comes from and what its bytes must hash to."""

    filename: str
    url: str
    sha256: str
    n_bytes: int
    description: str


TINY_SHAKESPEARE = Corpus(
    filename="tinyshakespeare.txt",
    # The file char-rnn distributes and nanoGPT's data/shakespeare_char/prepare.py downloads.
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    n_bytes=1_115_394,
    description="Tiny Shakespeare (Karpathy 2015): 40,000 lines of Shakespeare's plays",
)


def data_dir() -> Path:
    """The cache folder: ``$COMPANION_DATA``, else ``$XDG_CACHE_HOME/companion`` or ``~/.cache/companion``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "companion"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def fetch(
    corpus: Corpus, folder: str | os.PathLike[str] | None = None, progress: bool = True
) -> Path:
    """The path of ``corpus`` in ``folder`` (default :func:`data_dir`), downloading it if needed.

    Raises:
        ConnectionError: the download failed (offline, or the server refused), or
            ``COMPANION_OFFLINE`` forbids it; the message says where to put the file by hand.
        ValueError: the downloaded bytes do not have the expected sha256 (nothing is written).
    """
    folder = Path(folder) if folder is not None else data_dir()
    path = folder / corpus.filename
    if path.is_file():
        if _sha256(path) == corpus.sha256:
            return path
        stale = f"{path} exists but its sha256 is not {corpus.sha256} (a partial or different file)"
    else:
        stale = f"{path} does not exist"
    by_hand = (
        f"download {corpus.url} on a machine with network access and copy it to {path}, "
        f"or set {DATA_ENV} to a folder that holds a correct {corpus.filename}"
    )
    if _offline():
        raise ConnectionError(
            f"{stale}, and {OFFLINE_ENV} is set, so it is not downloaded; {by_hand}"
        )
    try:
        # atomic: the real name only ever holds a verified file
        with atomic_write(path) as out, urllib.request.urlopen(corpus.url, timeout=30) as response:
            digest = hashlib.sha256()
            total = int(response.headers.get("Content-Length") or corpus.n_bytes)
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=corpus.filename, disable=not progress
            ) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
            if digest.hexdigest() != corpus.sha256:
                raise ValueError(
                    f"the file downloaded from {corpus.url} has sha256 {digest.hexdigest()}, not "
                    f"{corpus.sha256}: the server sent something else (a proxy's error page?); "
                    f"nothing was written to {path}. Try again later, or {by_hand}"
                )
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)  # a disk error (OSError) is raised as it is
        raise ConnectionError(
            f"could not download {corpus.description} from {corpus.url} ({reason}); {by_hand}"
        ) from e
    return path


def tiny_shakespeare(folder: str | os.PathLike[str] | None = None, progress: bool = True) -> str:
    """The text of Tiny Shakespeare (1,115,394 ASCII characters), from the cache or downloaded."""
    return fetch(TINY_SHAKESPEARE, folder, progress).read_text(encoding="utf-8")
