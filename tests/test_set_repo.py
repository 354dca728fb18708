"""`make set-repo URL=...` (tools/set_repo.py) on a scratch copy of the repository: every place that
names the repository changes, the setup cells stay equal to the template (the consistency check of
tests/test_notebooks.py), and a bad URL changes nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NEW = "https://github.com/ada-lovelace/llm-book"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of what set-repo reads and writes: the config, the book pages, the notebooks, tools."""
    for name in ("_config.yml", "CITATION.cff", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("book", "notebooks", "tools"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("_build"))
    return tmp_path


def run(root: Path, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / "tools" / "set_repo.py"), url, "--root", str(root)],
        capture_output=True,
        text=True,
    )


def texts(root: Path) -> dict[Path, str]:
    files = [
        root / "_config.yml",
        root / "CITATION.cff",
        root / "README.md",
        *root.glob("book/*.md"),
        *root.glob("notebooks/*.ipynb"),
    ]
    return {path: path.read_text(encoding="utf-8") for path in files}


def test_set_repo_changes_every_place(scratch):
    old = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert old != NEW
    before = texts(scratch)
    assert sum(old in text for text in before.values()) >= len(
        list(scratch.glob("notebooks/*.ipynb"))
    )

    result = run(scratch, NEW)
    assert result.returncode == 0, result.stderr
    after = texts(scratch)
    assert not [
        p.name for p, text in after.items() if old in text
    ]  # the old URL is gone everywhere
    config = yaml.safe_load(after[scratch / "_config.yml"])
    assert config["repository"]["url"] == NEW and config["repository"]["branch"] == "main"
    for path in scratch.glob("notebooks/*.ipynb"):
        assert f'REPO = \\"{NEW}\\"' in after[path], path.name
    assert f"git push --force {NEW} student" in after[scratch / "book" / "instructors.md"]
    assert f'repository-code: "{NEW}"' in after[scratch / "CITATION.cff"]
    assert f'pip install "llm-textbook-companion @ git+{NEW}@v' in after[scratch / "README.md"]
    # only the URL changed: put the old one back and every file is as it was
    assert {p: t.replace(NEW, old) for p, t in after.items()} == before
    check = subprocess.run(
        [
            sys.executable,
            str(scratch / "tools" / "new_chapter.py"),
            "--sync-setup-cells",
            "--check",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr  # setup cells equal the template


@pytest.mark.parametrize(
    "url",
    [
        "github.com/ada/llm-book",
        "https://github.com/ada/llm-book/",
        "https://github.com/ada/llm-book.git",
        "https://gitlab.com/ada/llm-book",
        "https://github.com/ada",
        "",
    ],
)
def test_a_bad_url_is_refused_and_nothing_changes(scratch, url):
    before = texts(scratch)
    result = run(scratch, url)
    assert result.returncode == 2
    assert "must be https://github.com/OWNER/NAME" in result.stderr
    assert texts(scratch) == before
