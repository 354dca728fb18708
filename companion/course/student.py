"""The student edition: every notebook without its solutions, and a book built from them.

    python -m companion.course.student [--out student] [--no-build]      # what `make student` runs

For each notebook in ``notebooks/`` it writes ``<out>/notebooks/<name>.ipynb`` where

- every code cell tagged ``solution`` (and any code cell inside a gated solution region) becomes
  a stub, tagged ``stub`` and ``raises-exception`` (so nbval expects its error), whose source
  raises ``NotImplementedError("Exercise N: <title> — write your solution here, ...")``;
- everything between a ```` ```{solution-start} ```` fence and the end of its
  ```` ```{solution-end} ```` block is removed from the markdown (a cell left empty is dropped),
  and so is every plain ```` ```{solution} ```` block;
- the outputs of stubbed cells are cleared; every other cell, and its outputs, is unchanged.

It then copies ``_config.yml`` (with ``sphinx.config.hide_solutions: true`` and
``repository.branch`` set to ``student_edition.branch``) and ``book/`` next to the notebooks and
builds the student book into ``<out>/_build/html`` (warnings fail, as in ``make book``). The
instructor publishes ``<out>/`` (without ``_build``) on that branch, so that the book's Colab
buttons open solution-free notebooks; see book/instructors.md. The old ``<out>/`` is removed
first, so a second run gives the same result.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]  # companion/course/student.py -> the repository

STUB_TAGS = ["stub", "raises-exception"]
STUB_TEMPLATE = (
    'raise NotImplementedError("Exercise {n}: {title} — write your solution here, '
    'then run its checker (see the exercise text)")'
)

# An opening fence of a MyST directive: ``` or ::: (three or more), then {name} and its argument.
_DIRECTIVE = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w-]+)\}\s*(?P<arg>.*?)\s*$")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _is_close(line: str, fence: str) -> bool:
    """Whether ``line`` closes a block opened by ``fence`` (CommonMark: same character, at least
    as long, nothing after it)."""
    s = line.strip()
    return bool(s) and set(s) == {fence[0]} and len(s) >= len(fence)


class _Scanner:
    """Walks a notebook's markdown line by line, removing gated solution regions (which may span
    cells) and plain ``{solution}`` blocks, and numbering the ``{exercise}`` blocks it passes."""

    def __init__(self) -> None:
        self.exercises: dict[str, tuple[int, str]] = {}  # label -> (number, title)
        self.last: tuple[int, str] | None = None  # the most recent exercise
        self.in_region: str | None = None  # label of the open gated solution, if any
        self.skip_fence: str | None = None  # closing fence of a block being removed
        self.end_after_skip = False  # the block being removed is the {solution-end}
        self.region_exercise: tuple[int, str] | None = None

    def _open_exercise(self, lines: list[str], i: int, arg: str) -> None:
        title = arg
        label = None
        for line in lines[i + 1 :]:
            m = re.match(r"^\s*:label:\s*(\S+)", line)
            if m:
                label = m.group(1)
                break
            if not line.strip().startswith(":"):
                break
        number = len(self.exercises) + 1
        self.last = (number, title)
        self.exercises[label or f"#{number}"] = self.last

    def markdown(self, text: str) -> str:
        """``text`` without the solution parts; updates the state for the next cells."""
        lines = text.splitlines(keepends=True)
        kept: list[str] = []
        for i, line in enumerate(lines):
            if self.skip_fence is not None:  # inside a block being removed
                if _is_close(line, self.skip_fence):
                    self.skip_fence = None
                    if self.end_after_skip:
                        self.in_region, self.end_after_skip = None, False
                continue
            m = _DIRECTIVE.match(line)
            name = m.group("name") if m else None
            if self.in_region is not None:
                if name == "solution-end":
                    self.skip_fence, self.end_after_skip = m.group("fence"), True
                continue  # everything inside a gated region goes
            if name == "solution-start":
                self.in_region = m.group("arg").split()[0] if m.group("arg") else "?"
                self.region_exercise = self.exercises.get(self.in_region, self.last)
                self.skip_fence = m.group("fence")
                continue
            if name == "solution":
                self.skip_fence = m.group("fence")
                continue
            if name in ("exercise", "exercise-start"):
                self._open_exercise(lines, i, m.group("arg"))
            kept.append(line)
        return "".join(kept)

    def exercise_for_code(self) -> tuple[int, str]:
        if self.in_region is not None and self.region_exercise is not None:
            return self.region_exercise
        if self.last is None:
            raise ValueError("a solution cell comes before any {exercise} block")
        return self.last


def stub_source(number: int, title: str) -> str:
    return STUB_TEMPLATE.format(n=number, title=title.replace('"', "'"))


def student_notebook(nb: dict) -> dict:
    """A solution-free copy of the notebook ``nb`` (nbformat 4 JSON as a dict)."""
    nb = copy.deepcopy(nb)
    scanner = _Scanner()
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            was_in_region = scanner.in_region is not None
            text = scanner.markdown(_source(cell))
            if not text.strip():
                continue  # a cell that was all solution (or empty to begin with)
            if was_in_region or text != _source(cell):
                cell["source"] = text.rstrip("\n")
                cell.pop("attachments", None)
            cells.append(cell)
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and ("solution" in tags or scanner.in_region is not None):
            number, title = scanner.exercise_for_code()
            cell["source"] = stub_source(number, title)
            cell["outputs"] = []
            cell["execution_count"] = None
            meta = {k: v for k, v in cell.get("metadata", {}).items() if k != "tags"}
            meta["tags"] = list(STUB_TAGS)
            cell["metadata"] = meta
        cells.append(cell)
    if scanner.in_region is not None or scanner.skip_fence is not None:
        raise ValueError(f"a solution region ({scanner.in_region or 'block'}) is never closed")
    nb["cells"] = cells
    return nb


def write_notebooks(src: Path, dest: Path) -> list[Path]:
    sources = sorted(src.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"no notebooks in {src}: expected the repository's notebooks/ folder")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        nb = json.loads(path.read_text(encoding="utf-8"))
        out = dest / path.name
        out.write_text(
            json.dumps(student_notebook(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        written.append(out)
    return written


def student_config(config: dict) -> dict:
    """The book configuration of the student edition."""
    config = copy.deepcopy(config)
    branch = config.get("student_edition", {}).get("branch")
    if not branch:
        raise ValueError("_config.yml has no student_edition.branch")
    config.setdefault("repository", {})["branch"] = branch
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    config["title"] = f"{config.get('title', '')} (student edition)".strip()
    return config


def make_student(out: Path, repo: Path = REPO, build: bool = True) -> list[Path]:
    """Write the student edition into ``out`` (removed first); build its book if ``build``."""
    out = out.resolve()
    if out == repo.resolve() or out in repo.resolve().parents:
        raise ValueError(f"refusing to overwrite {out}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = write_notebooks(repo / "notebooks", out / "notebooks")
    shutil.copytree(repo / "book", out / "book")
    config = yaml.safe_load((repo / "_config.yml").read_text(encoding="utf-8"))
    header = (
        "# The student edition's configuration, written by `python -m companion.course.student` from the\n"
        "# repository's _config.yml: solutions hidden, Colab buttons on the student branch.\n"
    )
    (out / "_config.yml").write_text(
        header + yaml.safe_dump(student_config(config), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    print(f"wrote {len(written)} student notebook(s) to {out / 'notebooks'}")
    if build:
        jb = Path(sys.executable).with_name("jupyter-book")
        cmd = [str(jb), "build", str(out), "--toc", str(out / "book" / "_toc.yml")]
        subprocess.run([*cmd, "-W", "--keep-going", "--all"], check=True)
        print(f"student book: {out / '_build' / 'html' / 'index.html'}")
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "student", help="default: student/")
    ap.add_argument("--no-build", action="store_true", help="write the notebooks, skip the book")
    args = ap.parse_args(argv)
    try:
        make_student(args.out, build=not args.no_build)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"the student book build failed (exit status {exc.returncode})")


if __name__ == "__main__":
    main()
