"""companion.data.corpora: the cache, the checksum, and every way a download can fail. Nothing here
touches the network: downloads are served from file:// URLs of the test data folder (tests/data), and a failing
network is simulated by replacing urlopen."""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.error
import urllib.request

import pytest

from companion.data import corpora
from companion.data.corpora import TINY_SHAKESPEARE, data_dir, fetch, tiny_shakespeare


@pytest.fixture
def local_copy(test_data):
    return test_data / TINY_SHAKESPEARE.filename


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a URL fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"the network was used: urlopen{args}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv(corpora.OFFLINE_ENV, raising=False)


def served_from(path, **changes) -> corpora.Corpus:
    """TINY_SHAKESPEARE as if its URL served the file ``path``."""
    return dataclasses.replace(TINY_SHAKESPEARE, url=path.resolve().as_uri(), **changes)


def test_the_local_copy_is_the_published_file(local_copy):
    data = local_copy.read_bytes()
    assert len(data) == TINY_SHAKESPEARE.n_bytes
    assert hashlib.sha256(data).hexdigest() == TINY_SHAKESPEARE.sha256


def test_a_cached_file_is_used_without_the_network(no_network, test_data):
    text = tiny_shakespeare(test_data)
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")


def test_the_cache_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(corpora.DATA_ENV, str(tmp_path / "data"))
    assert data_dir() == tmp_path / "data"
    monkeypatch.delenv(corpora.DATA_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "companion"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "companion"


def test_download_writes_the_verified_file_and_no_temporary(online, tmp_path, local_copy):
    folder = tmp_path / "cache" / "nested"  # created on demand
    path = fetch(served_from(local_copy), folder, progress=False)
    assert path == folder / TINY_SHAKESPEARE.filename
    assert path.read_bytes() == local_copy.read_bytes()
    assert [p.name for p in folder.iterdir()] == [TINY_SHAKESPEARE.filename]


def test_a_corrupted_cache_file_is_downloaded_again(online, tmp_path, local_copy):
    stale = tmp_path / TINY_SHAKESPEARE.filename
    stale.write_bytes(local_copy.read_bytes()[:1000])  # an interrupted copy
    fetch(served_from(local_copy), tmp_path, progress=False)
    assert stale.read_bytes() == local_copy.read_bytes()


def test_wrong_bytes_are_refused_and_the_cache_is_untouched(online, tmp_path, local_copy):
    impostor = tmp_path / "impostor.txt"
    impostor.write_text("<html>proxy error</html>", encoding="utf-8")
    cache = tmp_path / "cache"
    cache.mkdir()
    previous = cache / TINY_SHAKESPEARE.filename
    previous.write_bytes(b"an older partial copy")
    with pytest.raises(ValueError, match="has sha256 .* not 86c4e6aa.*nothing was written"):
        fetch(served_from(impostor), cache, progress=False)
    assert previous.read_bytes() == b"an older partial copy"  # not replaced by the bad download
    assert sorted(p.name for p in cache.iterdir()) == [TINY_SHAKESPEARE.filename]  # no temp


def test_offline_mode_says_where_to_put_the_file(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv(corpora.OFFLINE_ENV, "1")
    with pytest.raises(ConnectionError) as err:
        fetch(TINY_SHAKESPEARE, tmp_path)
    message = str(err.value)
    assert f"{tmp_path / TINY_SHAKESPEARE.filename} does not exist" in message
    assert TINY_SHAKESPEARE.url in message and corpora.DATA_ENV in message
    assert not any(tmp_path.iterdir())


def test_a_failed_connection_is_a_clear_error(online, monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(ConnectionError, match="could not download Tiny Shakespeare") as err:
        fetch(TINY_SHAKESPEARE, tmp_path / "cache", progress=False)
    assert "name resolution" in str(err.value) and "copy it to" in str(err.value)
    assert not any((tmp_path / "cache").iterdir())  # the temporary file is gone
