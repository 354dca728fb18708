"""The student edition (`make student`, companion/course/student.py): no solution survives anywhere in it,
its notebooks still pass nbval up to their stubs, and its book builds. Also checks that the
exercise table of book/instructors.md is the one `exercise_table()` gives."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from companion.course import exercise_table
from companion.course.student import STUB_TAGS, student_notebook

pytestmark = pytest.mark.slow  # runs notebooks or scripts in subprocesses

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
FENCE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{([\w-]+)\}")


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def split_solutions(nb: dict) -> tuple[list[str], list[str]]:
    """The notebook's lines, as (solution lines, every other line). Solutions are the code of
    `solution` cells, gated regions ({solution-start} ... {solution-end}) and {solution} blocks."""
    texts: list[str] = []
    public: list[str] = []
    in_region, block_fence = False, None
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            if "solution" in cell.get("metadata", {}).get("tags", []) or in_region:
                texts += source(cell).splitlines()
            else:
                public += source(cell).splitlines()
            continue
        if cell["cell_type"] != "markdown":
            continue
        for line in source(cell).splitlines():
            m = FENCE.match(line)
            if block_fence is not None:
                texts.append(line)
                s = line.strip()
                if s and set(s) == {block_fence[0]} and len(s) >= len(block_fence):
                    block_fence = None
                continue
            if m and m.group(2) == "solution-start":
                in_region = True
            elif m and m.group(2) == "solution-end":
                in_region = False
                continue
            elif m and m.group(2) == "solution":
                block_fence = m.group(1)
                continue
            (texts if in_region else public).append(line)
    return texts, public


def solution_texts(nb: dict) -> list[str]:
    """Every non-trivial line of the notebook's solutions."""
    texts, _ = split_solutions(nb)
    # Directive fences, options and short lines (`plt.show()`, `)`) also occur outside solutions.
    return [
        t.strip()
        for t in texts
        if len(t.strip()) >= 12 and not FENCE.match(t) and not t.strip().startswith(":")
    ]


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """`make student` into a temporary folder, book build included."""
    out = tmp_path_factory.mktemp("edition") / "student"
    subprocess.run(
        [sys.executable, "-m", "companion.course.student", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return out


def test_every_notebook_has_solutions_to_remove():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert solution_texts(nb), f"{path.name}: no solution found (is the test parser broken?)"


def test_no_solution_anywhere_in_the_student_edition(edition):
    assert (edition / "_build" / "html" / "index.html").is_file()
    nbs = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in NOTEBOOKS}
    # A solution line that also occurs outside the solutions (`torch.manual_seed(0)`, a checker
    # call that the exercise statement names, a line of companion's source that a chapter prints)
    # is not a leak.
    public = "\n".join(line for nb in nbs.values() for line in split_solutions(nb)[1])
    public += "\n".join(
        "".join(out.get("text", ""))
        for nb in nbs.values()
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        and "solution" not in cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", [])
    )
    public += "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "book").glob("*.md"))
    wanted = {
        text: name for name, nb in nbs.items() for text in solution_texts(nb) if text not in public
    }
    assert len(wanted) >= 50, f"only {len(wanted)} solution lines to look for"
    files = [p for p in edition.rglob("*") if p.is_file()]
    assert len(files) > 20
    leaks = []
    for f in files:
        content = f.read_bytes().decode("utf-8", errors="replace")
        leaks += [
            f"{f.relative_to(edition)}: {t!r} (from {nb})"
            for t, nb in wanted.items()
            if t in content
        ]
        # JSON escapes quotes and backslashes; search the notebooks' decoded text too
        if f.suffix == ".ipynb":
            cells = json.loads(content)["cells"]
            text = "\n".join(source(c) for c in cells)
            leaks += [f"{f.name}: {t!r}" for t in wanted if t in text]
    assert not leaks, "solution text in the student edition:\n" + "\n".join(sorted(set(leaks)))


def test_stubs_replace_every_solution_cell(edition):
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        student = json.loads((edition / "notebooks" / path.name).read_text(encoding="utf-8"))
        n_solution = sum(
            "solution" in c.get("metadata", {}).get("tags", [])
            for c in nb["cells"]
            if c["cell_type"] == "code"
        )
        stubs = [c for c in student["cells"] if c.get("metadata", {}).get("tags") == STUB_TAGS]
        assert len(stubs) == n_solution
        for stub in stubs:
            assert stub["outputs"] == [] and stub["execution_count"] is None
            assert re.fullmatch(
                r'raise NotImplementedError\("Exercise \d+: [^"]+ — write your solution here, '
                r'then run its checker \(see the exercise text\)"\)',
                source(stub),
            ), source(stub)
        # every other code cell, outputs included, is unchanged and in the same order
        kept = [c for c in nb["cells"] if c["cell_type"] == "code"]
        got = [c for c in student["cells"] if c["cell_type"] == "code"]
        for before, after in zip(kept, got, strict=True):
            if after.get("metadata", {}).get("tags") != STUB_TAGS:
                assert after == before
        # every exercise statement survives
        labels = re.findall(r":label: (ex-[\w-]+)", "\n".join(map(source, student["cells"])))
        table = [r["label"] for r in exercise_table() if r["notebook"] == path.stem]
        assert sorted(labels) == sorted(table)


def test_student_config(edition):
    config = yaml.safe_load((edition / "_config.yml").read_text(encoding="utf-8"))
    source_config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["hide_solutions"] is True
    assert config["repository"]["branch"] == source_config["student_edition"]["branch"] != "main"
    assert config["repository"]["url"] == source_config["repository"]["url"]


def defined_and_used(src: str) -> tuple[set[str], set[str]]:
    """The names a cell's code binds (assignments, defs, parameters, imports, loop targets) and the
    names it reads, scopes ignored; IPython magics and shell lines are left out."""
    code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
    bound, read = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):  # a parameter of a function (or lambda) in the cell
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound, read


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_public_cell_needs_a_solution(path):
    """In the student edition a solution cell is a stub that raises, so no other code cell may read
    a name that only a solution cell defines (the static half of the nbval test below, for the
    notebooks it does not run)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    solution = [c for c in code if "solution" in c.get("metadata", {}).get("tags", [])]
    public = [c for c in code if c not in solution]
    only_in_solutions = set().union(
        *(defined_and_used(source(c))[0] for c in solution)
    ) - set().union(*(defined_and_used(source(c))[0] for c in public))
    read = [used - bound for bound, used in (defined_and_used(source(c)) for c in public)]
    needed = set().union(*read) & only_in_solutions
    assert not needed, f"{path.name}: public cells read {sorted(needed)}, defined only in solutions"


# nbval re-runs every notebook once already; here a small subset (stubs of code exercises, a
# pen-and-paper solution, a chapter from each of two parts) keeps `make test` within its budget as
# the book grows. test_stubs_replace_every_solution_cell checks every notebook's stubs statically.
STUDENT_NBVAL = ["20_attention", "21_masks_and_positions"]


def test_student_notebooks_pass_nbval_up_to_their_stubs(edition):
    """Stub cells raise (tagged raises-exception); every other cell still gives its stored output
    (the notebooks of STUDENT_NBVAL)."""
    env = {**os.environ, "COMPANION_PROFILE": "ci"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(REPO / "tests" / "nbval_sanitize.cfg"),
            "--rootdir",
            str(edition),
            *(str(edition / "notebooks" / f"{stem}.ipynb") for stem in STUDENT_NBVAL),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=edition,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_student_notebook_is_idempotent():
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    once = student_notebook(nb)
    assert student_notebook(once) == once


def test_gated_region_spanning_cells_and_plain_solution_blocks():
    md = lambda s: {"cell_type": "markdown", "metadata": {}, "source": s}  # noqa: E731
    code = lambda s, tags=(): {  # noqa: E731
        "cell_type": "code",
        "metadata": {"tags": list(tags)},
        "source": s,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}],
        "execution_count": 3,
    }
    nb = {
        "cells": [
            md(
                "Intro\n\n```{exercise} First one\n:label: ex-a\nDo it.\n```\n\n"
                "```{solution-start} ex-a\n:class: dropdown\n```\nSECRET PROSE"
            ),
            code("secret_code = 1", ["solution"]),
            md("MORE SECRET\n\n```{solution-end}\n```\nafter the end"),
            md(
                "````{exercise} Second\n:label: ex-b\nWhy?\n````\n\n"
                "````{solution} ex-b\nBECAUSE\n```python\nx = 1\n```\n````\nTail"
            ),
            code("print('kept')"),
        ]
    }
    out = student_notebook(nb)["cells"]
    text = "\n".join(source(c) for c in out)
    assert "SECRET" not in text and "BECAUSE" not in text and "x = 1" not in text
    assert "Do it." in text and "after the end" in text and "Why?" in text and "Tail" in text
    stub = out[1]
    assert source(stub).startswith('raise NotImplementedError("Exercise 1: First one — ')
    assert stub["outputs"] == [] and stub["metadata"]["tags"] == STUB_TAGS
    assert out[-1] == nb["cells"][-1]


# --- the exercise table of the instructor guide --------------------------------------------------


def test_instructor_guide_table_matches_exercise_table():
    """book/instructors.md lists every exercise; this keeps it from drifting from the code."""
    text = (REPO / "book" / "instructors.md").read_text(encoding="utf-8")
    rows, numbers = [], {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 6 and cells[0].startswith("`ex-"):
            label, chapter, number, title, difficulty, auto = cells
            notebook = re.fullmatch(r"\{doc\}`\.\./notebooks/(\w+)`", chapter).group(1)
            rows.append(
                {
                    "label": label.strip("`"),
                    "notebook": notebook,
                    "title": title,
                    "difficulty": difficulty,
                    "auto_checked": {"yes": True, "no": False}[auto],
                }
            )
            numbers[label.strip("`")] = int(number)
    key = lambda r: (r["notebook"], r["label"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(exercise_table(), key=key)
    for path in NOTEBOOKS:  # "No." is the exercise's position in its chapter
        text = "\n".join(source(c) for c in json.loads(path.read_text(encoding="utf-8"))["cells"])
        labels = re.findall(r"\{exercise\}.*\n:label: (\S+)", text)
        assert {lab: numbers.get(lab) for lab in labels} == {
            lab: i for i, lab in enumerate(labels, start=1)
        }


def test_the_edition_is_made_from_the_repositorys_notebooks(tmp_path):
    """student.py finds the repository from its own place in the package; a wrong guess (which
    once found no notebooks and wrote an empty edition) is an error, not an empty folder."""
    from companion.course import student

    assert (student.REPO / "notebooks" / "20_attention.ipynb").is_file()
    with pytest.raises(ValueError, match="no notebooks in"):
        student.write_notebooks(tmp_path, tmp_path / "out")
