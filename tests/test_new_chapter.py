"""`make chapter` (tools/new_chapter.py) on a scratch copy of the repository: the chapter it makes
passes the checks that read notebooks, the toc, the map, the exercise registry and the instructor
table, and nbval, with no other edit. Also: bad arguments are refused before anything is written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import new_chapter  # tools/ is on sys.path (pyproject's pythonpath)
import pytest

REPO = Path(__file__).resolve().parents[1]


def scratch_copy(tmp_path: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    root = tmp_path / "repo"
    for name in files:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, PYTHONPATH=str(root), COMPANION_DATA=os.environ.get("COMPANION_DATA", "")
    )
    return subprocess.run(
        [sys.executable, *args], cwd=root, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_a_new_chapter_passes_the_checks_as_it_stands(tmp_path):
    root = scratch_copy(tmp_path)
    made = run(
        root, "tools/new_chapter.py", "--number", "100", "--slug", "scratch", "--title", "Scratch"
    )
    assert made.returncode == 2 and "outside the book's map (0-99)" in made.stderr  # no part
    # the last free number of part IX (99 unless this checkout already made a chapter there)
    number = next(n for n in range(99, 79, -1) if not list(root.glob(f"notebooks/{n}_*.ipynb")))
    taken = {p.stem.split("_", 1)[1] for p in root.glob("notebooks/*.ipynb")}
    slug = next(s for s in ("scratch", "scratch_two") if s not in taken)
    made = run(
        root, "tools/new_chapter.py", "--number", str(number), "--slug", slug, "--title", "Scratch"
    )
    assert made.returncode == 0, made.stdout + made.stderr
    stem = f"{number}_{slug}"
    assert (root / "notebooks" / f"{stem}.ipynb").exists()
    toc = (root / "book" / "_toc.yml").read_text(encoding="utf-8")
    assert "caption: Appendices" in toc and f"notebooks/{stem}" in toc
    assert toc.index("Appendices") < toc.index("caption: Reference")
    assert f"[Scratch](../notebooks/{stem}.ipynb)" in (root / "book" / "intro.md").read_text()
    checks = run(
        root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "",
        "tests/test_notebooks.py", "tests/test_glossary.py",
        "tests/test_course.py::test_each_chapter_module_is_named_for_its_notebook",
        "tests/test_course.py::test_exercise_table_lists_every_exercise",
        "tests/test_course.py::test_every_code_exercise_has_a_checker",
        "tests/test_student.py::test_instructor_guide_table_matches_exercise_table",
    )  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-3000:]
    nbval = run(
        root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
        "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", f"notebooks/{stem}.ipynb",
    )  # fmt: skip
    assert nbval.returncode == 0, nbval.stdout[-3000:]
    again = run(
        root, "tools/new_chapter.py", "--number", str(number), "--slug", "other", "--title", "X"
    )
    assert again.returncode == 2 and f"N={number} is taken by {stem}.ipynb" in again.stderr


@pytest.mark.parametrize(
    ("number", "slug", "title", "message"),
    [
        (100, "x", "X", "outside the book's map"),
        (20, "x", "X", "N=20 is taken by 20_attention.ipynb"),
        (29, "Bad-Slug", "X", "must be lower-case letters"),
        (29, "attention", "X", "SLUG='attention' is taken"),
        (29, "x", " ", "TITLE is empty"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    number, slug, title, message, tmp_path, monkeypatch
):
    # A copy of the files make chapter edits, so that a refusal that fails to happen cannot
    # write a chapter into the repository.
    for name in ("_config.yml", "book/_toc.yml", "book/intro.md", "book/instructors.md",
                 "notebooks/20_attention.ipynb", "companion/course/exercises/attention.py"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.setattr(new_chapter, "REPO", tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=message):
        new_chapter.new_chapter(number, slug, title, execute=False)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_every_setup_cell_is_the_templates():
    """The setup cell is written once, in tools/new_chapter.py: every notebook's equals it."""
    stale = new_chapter.sync_setup_cells(check=True)
    assert not stale, (
        f"{[p.name for p in stale]}: run `python tools/new_chapter.py --sync-setup-cells`"
    )
