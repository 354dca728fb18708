"""The grading command (companion/course/grade.py): every chapter's solutions get full marks through
the grader's stand-ins (small notebooks of the solution functions, one real solution notebook), the
student edition gets zeros, one wrong function costs exactly its exercise, a hanging cell is
interrupted and reported without stopping the other students, and submitted code runs in a
kernel, never in the grader's process. The attacks are in tests/test_grade_attacks.py."""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from companion.course import code_exercises, grade
from companion.course.remote import Settings
from companion.course.student import student_notebook

pytestmark = pytest.mark.slow  # runs notebooks or scripts in subprocesses

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.stem: p for p in sorted((REPO / "notebooks").glob("*.ipynb"))}
CELL_TIMEOUT = 300  # seconds: generous, the timeouts have their own test
AUTO = {
    stem: sorted(ex.label for ex in code_exercises().values() if ex.notebook == stem)
    for stem in NOTEBOOKS
}


def load(stem: str) -> dict:
    return json.loads(NOTEBOOKS[stem].read_text(encoding="utf-8"))


def save(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")


def code_cell(src: str) -> dict:
    return dict(nbformat.v4.new_code_cell(src))


def checked_solutions_only(nb: dict) -> dict:
    """The solution notebook, with the solution cells of exercises that are not auto-checked
    emptied: they cost time (a 48-layer sweep) and play no part in grading."""
    names = {n for ex in code_exercises().values() for n in ex.names}
    for cell in nb["cells"]:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if not any(re.search(rf"^def {n}\(", src, re.M) for n in names):
                cell["source"] = "pass"
    return nb


def settings(**kw) -> Settings:
    return Settings(**{"timeout": CELL_TIMEOUT, "notebook_timeout": 900, "profile": "ci", **kw})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade, in this process (through the module's API), a class of five submitters."""
    root = tmp_path_factory.mktemp("submissions")
    # 1. the solutions: every chapter's solution functions, and one whole solution notebook
    for stem in {ex.notebook for ex in code_exercises().values()}:
        save(small_notebook(PREAMBLE, definitions(stem)), root / "b_solutions" / f"{stem}.ipynb")
    stem = "21_masks_and_positions"
    save(checked_solutions_only(load(stem)), root / "b_whole_notebook" / f"{stem}.ipynb")
    # 2. the student edition, as handed out (20 and 21 cover the stubs)
    for stem in ("20_attention", "21_masks_and_positions"):
        save(student_notebook(load(stem)), root / "c_student" / f"{stem}.ipynb")
    # 3. one wrong function, and one that is right only if the kernel is another process
    wrong = (
        "def my_sinusoidal_encoding(max_len, d_model):\n"
        "    return torch.zeros(max_len, d_model)\n\n\n"
        "import os\n\n_right = my_causal_mask\n\n\n"
        f"def my_causal_mask(n):  # right only outside the grader's process\n"
        f"    return _right(n) if os.getpid() != {os.getpid()} else None"
    )
    good = definitions("21_masks_and_positions")
    save(small_notebook(PREAMBLE, good, wrong), root / "d_one_wrong" / f"{stem}.ipynb")
    # 4. an answer computed with autograd, which the backprop checker refuses (it calls under
    # torch.no_grad(), and the grader's kernel runs the call in the checker's grad mode)
    autograd_answer = (
        "def my_mlp_backward(x, y, W1, b1, W2, b2):\n"
        "    params = [t.clone().requires_grad_(True) for t in (W1, b1, W2, b2)]\n"
        "    z2 = torch.sigmoid(x @ params[0].T + params[1]) @ params[2].T + params[3]\n"
        "    loss = F.binary_cross_entropy_with_logits(z2[:, 0], y)\n"
        "    return tuple(torch.autograd.grad(loss, params))"
    )
    save(small_notebook(PREAMBLE, autograd_answer), root / "f_autograd" / "01_backprop.ipynb")
    # 5. broken files: not JSON, and a notebook the book does not have
    (root / "e_broken").mkdir()
    (root / "e_broken" / "20_attention.ipynb").write_text("{not json", encoding="utf-8")
    save(load("20_attention"), root / "e_broken" / "99_my_notes.ipynb")

    out = root / "grades.csv"
    rows = grade.grade(root, out, settings(), log=lambda s: None)
    with out.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    return root, rows, table


def by(table, student):
    return {(r["notebook"], r["exercise"]): r for r in table if r["student"] == student}


def test_csv_columns_and_one_row_per_exercise(graded):
    _, rows, table = graded
    assert list(table[0]) == grade.CSV_COLUMNS
    assert len(table) == len(rows)
    assert sorted(ex for nb, ex in by(table, "b_solutions")) == sorted(code_exercises())


def test_solutions_get_full_marks(graded):
    rows = [r for r in graded[2] if r["student"] in ("b_solutions", "b_whole_notebook")]
    assert len(rows) == len(code_exercises()) + len(AUTO["21_masks_and_positions"])
    for r in rows:
        ex = r["exercise"]
        assert float(r["score"]) == 1.0 and r["passed"] == r["total"] != "0", (ex, r)
        assert r["message"] == f"all {r['total']} cases passed" and r["flag"] == "", r
        assert r["isolation"], r


def test_student_edition_gets_zero(graded):
    rows = by(graded[2], "c_student")
    assert {nb for nb, _ in rows} == {"20_attention", "21_masks_and_positions"}
    for r in rows.values():
        assert float(r["score"]) == 0.0 and r["passed"] == "0"
        assert "is not defined" in r["message"]


def test_one_wrong_function_costs_only_its_exercise(graded):
    root, _, table = graded
    rows = by(table, "d_one_wrong")
    wrong = ("21_masks_and_positions", "ex-masks-and-positions-sinusoidal")
    assert set(rows) == {
        ("21_masks_and_positions", label) for label in AUTO["21_masks_and_positions"]
    }
    for key, r in rows.items():
        if key == wrong:
            assert float(r["score"]) < 1.0 and "passed" not in r["message"].split(":")[-1]
            assert r["message"].startswith("case "), r["message"]
        else:
            assert float(r["score"]) == 1.0, r


def test_the_kernel_calls_in_the_checkers_grad_mode(graded):
    """The backprop checker calls the learner's function under torch.no_grad(): an answer that
    calls autograd fails in the grader's kernel as it fails in the notebook."""
    row = by(graded[2], "f_autograd")[("01_backprop", "ex-backprop-mlp-backward")]
    assert float(row["score"]) == 0.0 and "RuntimeError" in row["message"], row


def test_submission_runs_in_a_kernel_process(graded):
    """The checkers ran in this process; the submission's functions ran in another one (d_one_wrong's
    my_causal_mask is right only there, and its masks exercise got full marks above)."""
    assert (
        float(
            by(graded[2], "d_one_wrong")[
                ("21_masks_and_positions", "ex-masks-and-positions-masks")
            ]["score"]
        )
        == 1.0
    )
    assert "my_sinusoidal_encoding" not in dir(sys.modules["__main__"])
    assert not any("sinusoidal" in name for name in vars(grade))


def literal(node: ast.expr | None) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def read_names(src: str) -> set[str]:
    """The names a piece of code reads."""
    tree = ast.parse(src)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def bound_names(node: ast.stmt) -> set[str]:
    """The names an import, assignment, def or class statement binds."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def definitions(stem: str) -> str:
    """What the checked solutions of ``stem`` define (their imports, constants and functions),
    without the lines that try them out, after the chapter's own definitions they use (a
    solution may call a function or read a constant that a public cell defines)."""
    nb = load(stem)
    names = {n for ex in code_exercises().values() if ex.notebook == stem for n in ex.names}
    kinds = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.FunctionDef, ast.ClassDef)
    parts, found = [], set()
    public: dict[str, tuple[int, str]] = {}  # name -> (position, source) of its public definition
    for position, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        tags = cell.get("metadata", {}).get("tags", [])
        body = ast.parse(src).body
        if "solution" not in tags:
            for node in body:
                literal_value = not isinstance(node, ast.Assign | ast.AnnAssign) or literal(
                    node.value
                )
                if "setup" not in tags and isinstance(node, kinds) and literal_value:
                    for name in bound_names(node):
                        public[name] = (position, ast.get_source_segment(src, node))
            continue
        if not any(isinstance(n, ast.FunctionDef) and n.name in names for n in body):
            continue
        for node in body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and not literal(node.value):
                continue  # trying the functions out, not defining them
            if isinstance(node, kinds):
                parts.append(ast.get_source_segment(src, node))
                found.add(getattr(node, "name", None))
    assert names <= found, names - found
    needed, used = set().union(*map(read_names, parts)), {}
    while needed:  # the public definitions the solutions read, and what those read in turn
        name = needed.pop()
        if name in public and name not in used:
            used[name] = public[name]
            needed |= read_names(public[name][1])
    prelude = sorted(set(used.values()))  # each definition once, in the notebook's order
    return "\n\n".join([src for _, src in prelude] + parts)


def small_notebook(*cells: str) -> dict:
    """A notebook of a few code cells: the exercises' functions without the chapter around them."""
    nb = load("21_masks_and_positions")
    nb["cells"] = [code_cell(c) for c in cells]
    return nb


PREAMBLE = (
    "import math\nimport re\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn"
)


def test_timeouts(tmp_path):
    """A hanging cell is interrupted and reported, the kernel goes on; a cell that ignores the
    interrupt costs its notebook every exercise; the students after them are graded as usual."""
    T = 10  # seconds per cell: longer than a cold `import torch` on a busy 2-core machine
    subs = tmp_path / "subs"
    hang = "while True:\n    pass"
    deaf = "import signal\nimport time\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + (
        "while True:\n    time.sleep(0.05)"
    )
    good = definitions("21_masks_and_positions")
    save(small_notebook(PREAMBLE, hang, good), subs / "a_hangs" / "21_masks_and_positions.ipynb")
    save(
        small_notebook(PREAMBLE, deaf, definitions("20_attention")),
        subs / "b_deaf" / "20_attention.ipynb",
    )
    save(small_notebook(PREAMBLE, good), subs / "c_after" / "21_masks_and_positions.ipynb")
    rows = grade.grade(
        subs, tmp_path / "g.csv", settings(timeout=T, notebook_timeout=90), log=lambda s: None
    )
    got = {(r.student, r.exercise): r for r in rows}
    for label in AUTO["21_masks_and_positions"]:
        hung = got["a_hangs", label]
        assert hung.score == 1.0, hung  # interrupted: the cells after it ran
        assert hung.message.endswith(f"(timeout: cell 2 ran longer than {T} s)"), hung.message
        assert got["c_after", label].score == 1.0
        assert got["c_after", label].message == f"all {got['c_after', label].total} cases passed"
    deaf_rows = [r for r in rows if r.student == "b_deaf"]
    assert sorted(r.exercise for r in deaf_rows) == AUTO["20_attention"]
    for r in deaf_rows:
        assert r.score == 0 and r.message.startswith(f"timeout: cell 2 ran longer than {T} s"), r


def test_command_line_errors(tmp_path):
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "companion.course.grade", *map(str, a)],
        capture_output=True,
        text=True,
    )
    missing = run(tmp_path / "nope", "--out", tmp_path / "g.csv")
    assert missing.returncode != 0 and "is not a folder" in missing.stderr
    (tmp_path / "empty" / "alice").mkdir(parents=True)
    empty = run(tmp_path / "empty", "--out", tmp_path / "g.csv")
    assert empty.returncode != 0 and "no submissions" in empty.stderr
    assert not (tmp_path / "g.csv").exists()
