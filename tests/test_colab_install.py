"""How a reader gets companion: the distribution's name (pip's name for the package imported as
`companion`, which on PyPI is another project), the release the setup cells pin, and the setup
cell itself run as Colab runs it: in a fresh environment that already holds torch, installing from
a git clone of this repository (``git+file://``), which must leave that torch as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import new_chapter  # tools/ is on sys.path (pyproject's pythonpath)
import pytest

import companion

REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the Makefile's pin: the CPU build pip finds on these machines


def test_the_distribution_is_named_once():
    """pyproject's name and its extras' references to itself are ``companion.DISTRIBUTION``."""
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.findall(r'^name = "([^"]+)"', pyproject, flags=re.MULTILINE) == [
        companion.DISTRIBUTION
    ]
    assert companion.DISTRIBUTION != "companion"  # PyPI's `companion` is another project
    with_extras = re.findall(r'"([\w.-]+)\[[\w,]+\]"', pyproject)  # "NAME[test,book]"
    assert with_extras and set(with_extras) == {companion.DISTRIBUTION}, with_extras


def test_readme_names_the_distribution_and_how_releases_are_tagged():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    install = (
        f'pip install "{companion.DISTRIBUTION} @ git+{new_chapter.repository_url()}'
        f'@v{companion.__version__}"'
    )
    assert install in readme, f"README.md must say how to install the release: {install}"
    releases = readme[readme.index("## Releases") :]
    releases = releases[: releases.index("\n## ", 1)]
    for step in ("__version__", "--sync-setup-cells", "git tag vX.Y.Z", "git push origin vX.Y.Z"):
        assert step in releases, f"README's Releases section does not say `{step}`"


# --- the setup cell, run in a fresh environment that already holds torch ------------------------

# torch's version and the sha256 and modification time of every file its RECORD lists, as the
# environment's python sees them (a reinstall of the same wheel keeps the hashes, not the times).
TORCH_SNAPSHOT = """
import hashlib, importlib.metadata, json
d = importlib.metadata.distribution("torch")
files = {str(f): [hashlib.sha256(f.locate().read_bytes()).hexdigest(), f.locate().stat().st_mtime_ns]
         for f in d.files if f.locate().is_file()}
print(json.dumps({"version": d.version, "files": files}))
"""


def python(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the environment's python outside the checkout (so that `companion` is not importable
    from the working directory), without PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(venv / "bin" / "python"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def setup_cell(repo: str, ref: str) -> str:
    """The template's setup cell, installing from ``repo`` at ``ref`` instead of the book's."""
    src = new_chapter.setup_cell_source()
    src, repos = re.subn(r'^REPO = "[^"]*"', f'REPO = "{repo}"', src, flags=re.MULTILINE)
    src, refs = re.subn(r'^REF = "[^"]*"', f'REF = "{ref}"', src, flags=re.MULTILINE)
    assert repos == refs == 1, "the setup cell must hold one REPO line and one REF line"
    return src


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def torch_env(tmp_path_factory) -> Iterator[tuple[Path, dict]]:
    """A fresh virtual environment holding only torch 2.13.0, and torch's snapshot; removed after
    the tests (it takes about 900 MB)."""
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = python(venv, "-m", "pip", "install", "-q", TORCH, cwd=venv)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    yield venv, json.loads(python(venv, "-c", TORCH_SNAPSHOT, cwd=venv).stdout)
    shutil.rmtree(venv)


@pytest.mark.slow
def test_setup_cell_installs_and_upgrades_companion_and_never_touches_torch(torch_env, tmp_path):
    venv, torch_before = torch_env
    assert len(torch_before["files"]) > 1000, "torch's RECORD was not read"
    clone = tmp_path / "clone"
    git("clone", "--quiet", str(REPO), str(clone))  # what is committed, as GitHub would serve it
    book = f"v{companion.__version__}"
    git("-C", str(clone), "tag", "-f", book)
    # pip's URLs need a host: file://localhost/PATH is git's file:///PATH
    repo = f"file://localhost{clone}"

    first = python(venv, "-c", setup_cell(repo, book), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"companion {companion.__version__}" in first.stdout  # describe(), from the new install
    again = python(venv, "-c", setup_cell(f"{repo}-missing", book), cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the release is there: nothing is downloaded

    # A newer release of the book, in a session that imported the older companion: it is upgraded,
    # and the reader is told to restart; after the restart the cell runs the new one.
    init = clone / "companion" / "__init__.py"
    newer = f"{companion.__version__}.1"
    init.write_text(
        init.read_text(encoding="utf-8").replace(
            f'__version__ = "{companion.__version__}"', f'__version__ = "{newer}"'
        ),
        encoding="utf-8",
    )
    git("-C", str(clone), "commit", "-qam", f"release {newer}")
    git("-C", str(clone), "tag", f"v{newer}")
    upgrade = python(venv, "-c", "import companion\n" + setup_cell(repo, f"v{newer}"), cwd=tmp_path)
    assert upgrade.returncode == 1 and "Traceback" not in upgrade.stderr, upgrade.stderr
    assert f"companion {newer} is installed: restart the runtime" in upgrade.stderr
    restarted = python(venv, "-c", setup_cell(repo, f"v{newer}"), cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr
    assert f"companion {newer}" in restarted.stdout

    imported = python(venv, "-c", "import companion; print(companion.__version__)", cwd=tmp_path)
    assert imported.stdout.strip() == newer, imported.stderr
    torch_after = json.loads(python(venv, "-c", TORCH_SNAPSHOT, cwd=tmp_path).stdout)
    assert torch_after["version"] == torch_before["version"]
    assert torch_before["version"].startswith(TORCH.split("==")[1])
    changed = [
        f for f in torch_before["files"] if torch_after["files"].get(f) != torch_before["files"][f]
    ]
    assert not changed and torch_after["files"].keys() == torch_before["files"].keys(), changed[:5]


@pytest.mark.slow
def test_a_failed_download_says_what_to_do_without_a_traceback(torch_env, tmp_path):
    venv, _ = torch_env
    repo = f"file://localhost{tmp_path}/no-such-repository"
    failed = python(venv, "-c", setup_cell(repo, "v9.9.9"), cwd=tmp_path)
    assert failed.returncode == 1 and failed.stdout == ""
    message = failed.stderr
    assert "Traceback" not in message and len(message.splitlines()) <= 10, message
    assert f"pip could not install {companion.DISTRIBUTION} @ git+{repo}@v9.9.9" in message
    assert "does not appear to be a git repository" in message  # git's reason, from pip's output
    assert "Check the internet connection and run this cell again" in message
    assert f"pip install '{companion.DISTRIBUTION} @ git+{repo}@v9.9.9'" in message
