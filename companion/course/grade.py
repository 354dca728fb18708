"""Grade a folder of submitted notebooks with the exercise checkers; write a CSV of scores.

    python -m companion.course.grade SUBMISSIONS_DIR --out grades.csv [--timeout 120]

The submissions are laid out one folder per student, holding that student's notebooks under
their book names::

    SUBMISSIONS_DIR/
        alice/20_attention.ipynb
        alice/21_masks_and_positions.ipynb
        bob/20_attention.ipynb

Each notebook runs top to bottom in its own Jupyter kernel (ipykernel of this Python, working
directory the student's folder, ``COMPANION_PROFILE=ci`` unless ``--profile`` says otherwise),
errors allowed, every cell interrupted after ``--timeout`` seconds and the whole notebook stopped
after ``--notebook-timeout``. Then, in the same kernel, one more cell calls
:func:`companion.course.grade_namespace` on the notebook's globals and prints the scores as
JSON. This process never imports or runs the submitted code: it only reads what the kernel
prints. (The grading cell runs in the student's kernel, so a notebook written to fool the grader
could do so; spot-check surprising results.)

The CSV has one row per student, submitted notebook and auto-checked exercise of that notebook:
``student, notebook, exercise, score, passed, total, message``, where ``message`` is the first
failing case, ``all N cases passed``, or why the notebook could not be graded (not valid JSON, an
unknown notebook name, a timeout, a crash). A table of each student's total is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CSV_COLUMNS = ["student", "notebook", "exercise", "score", "passed", "total", "message"]
MARKER = "__GRADES__"
GRADING_SOURCE = (
    "from companion.course import grade_namespace as __grade_namespace\n"
    "import json as __json\n"
    'print("{marker}" + __json.dumps([s.__dict__ for s in __grade_namespace({stem!r}, globals())]))'
)


@dataclass
class Row:
    student: str
    notebook: str
    exercise: str
    score: float
    passed: int
    total: int
    message: str

    def as_csv(self) -> list:
        return [
            self.student,
            self.notebook,
            self.exercise,
            f"{self.score:.3f}",
            self.passed,
            self.total,
            self.message,
        ]


def exercises_of(stem: str) -> list[str]:
    # Only the registry (labels and notebooks) is read here, never a submission.
    from companion.course import code_exercises

    return [ex.label for ex in code_exercises().values() if ex.notebook == stem]


def known_notebooks() -> set[str]:
    from companion.course import exercise_table

    return {row["notebook"] for row in exercise_table()}


def first_message(score: dict) -> str:
    if score["total"] and score["passed"] == score["total"]:
        return f"all {score['total']} cases passed"
    failing = [m for m in score["messages"] if not m.endswith(": passed")]
    return (failing or score["messages"] or ["no cases ran"])[0]


def zero_rows(student: str, stem: str, message: str) -> list[Row]:
    labels = exercises_of(stem) or ["-"]
    return [Row(student, stem, label, 0.0, 0, 0, message) for label in labels]


# --- running one notebook in a kernel ---------------------------------------------------------


def _kernel_manager():
    """A kernel manager whose every kernel is ipykernel of this interpreter (sys.executable),
    never a kernel installed elsewhere."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentEnvKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str):
            return self.kernel_spec_class(
                resource_dir=ipykernel.kernelspec.RESOURCES,
                **ipykernel.kernelspec.get_kernel_dict(),  # argv[0] is sys.executable
            )

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernelSpecs())


# nbclient logs every timeout and interrupt as an error; the CSV reports them instead.
_QUIET = logging.getLogger("companion.course.grade.nbclient")
_QUIET.setLevel(logging.CRITICAL)


def _stream_text(cell) -> str:
    return "".join(
        o.get("text", "") for o in cell.get("outputs", []) if o["output_type"] == "stream"
    )


def _interrupted(cell) -> bool:
    return any(
        o["output_type"] == "error" and o.get("ename") == "KeyboardInterrupt"
        for o in cell.get("outputs", [])
    )


async def run_and_grade(
    nb, stem: str, cwd: Path, timeout: float, notebook_timeout: float
) -> tuple[list[dict] | None, list[str]]:
    """Execute ``nb`` in a fresh kernel, then the grading cell. Returns the scores (None if the
    grading cell gave none) and notes on what went wrong (timeouts, a dead kernel)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    notes: list[str] = []
    grace = 15  # seconds after an interrupt before the kernel counts as unrecoverable
    client = NotebookClient(
        nb,
        km=_kernel_manager(),
        kernel_name="python3",
        timeout=int(timeout),
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
        log=_QUIET,
    )
    deadline = time.monotonic() + notebook_timeout
    # The kernel's stderr (ipykernel's start-up warnings) would drown the summary.
    async with client.async_setup_kernel(stderr=subprocess.DEVNULL):
        for index, cell in enumerate(list(nb.cells)):
            if cell.cell_type != "code":
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                notes.append(
                    f"timeout: the notebook ran longer than {notebook_timeout:g} s "
                    f"(stopped before cell {index + 1})"
                )
                break
            start = time.monotonic()
            client.timeout = limit = max(1, int(min(remaining, timeout)))
            try:
                await asyncio.wait_for(client.async_execute_cell(cell, index), limit + grace)
            except asyncio.TimeoutError:  # interrupted, and still running after the grace
                notes.append(
                    f"timeout: cell {index + 1} ran longer than {timeout:g} s and did not stop "
                    "when interrupted"
                )
                return None, notes
            except DeadKernelError:
                if time.monotonic() - start >= timeout:  # died after its interrupt
                    notes.append(
                        f"timeout: cell {index + 1} ran longer than {timeout:g} s and the kernel "
                        "could not be recovered"
                    )
                else:
                    notes.append(f"crash: the kernel died in cell {index + 1}")
                return None, notes
            if _interrupted(cell) and time.monotonic() - start >= limit - 1:
                notes.append(f"timeout: cell {index + 1} ran longer than {limit:g} s")
        client.timeout = int(timeout)
        grading = nbformat.v4.new_code_cell(GRADING_SOURCE.format(marker=MARKER, stem=stem))
        nb.cells.append(grading)
        try:
            await asyncio.wait_for(
                client.async_execute_cell(grading, len(nb.cells) - 1), timeout + grace
            )
        except (asyncio.TimeoutError, DeadKernelError):
            notes.append(f"timeout: grading ran longer than {timeout:g} s or killed the kernel")
            return None, notes
        if _interrupted(grading):
            notes.append(f"timeout: grading ran longer than {timeout:g} s")
            return None, notes
        for line in _stream_text(grading).splitlines():
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER) :]), notes
        errors = [
            f"{o.get('ename')}: {o.get('evalue')}"
            for o in grading.get("outputs", [])
            if o["output_type"] == "error"
        ]
        notes.append("grading failed" + (f": {errors[0]}" if errors else ""))
        return None, notes


def grade_notebook(
    path: Path, student: str, timeout: float = 120, notebook_timeout: float = 900
) -> list[Row]:
    """The rows of one submitted notebook. Never raises for anything the notebook does."""
    import nbformat

    stem = path.stem
    if stem not in known_notebooks():
        names = ", ".join(sorted(known_notebooks()))
        return [
            Row(
                student,
                stem,
                "-",
                0.0,
                0,
                0,
                f"unknown notebook name {path.name}: expected one of {names}",
            )
        ]
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return zero_rows(student, stem, f"not a valid notebook: {type(exc).__name__}: {first}")
    if not exercises_of(stem):
        return []
    try:
        scores, notes = asyncio.run(
            run_and_grade(nb, stem, path.parent.resolve(), timeout, notebook_timeout)
        )
    except Exception as exc:  # the kernel did not start, or died in a way nbclient raises
        return zero_rows(student, stem, f"crash: {type(exc).__name__}: {exc}".strip())
    note = "; ".join(notes)
    if scores is None:
        return zero_rows(student, stem, note or "no grades were printed")
    rows = []
    for s in scores:
        total = int(s["total"])
        passed = int(s["passed"])
        message = first_message(s)
        if note:  # a timeout that the notebook survived is reported on every row
            message = f"{message} ({note})"
        rows.append(
            Row(
                student,
                stem,
                s["exercise"],
                passed / total if total else 0.0,
                passed,
                total,
                message,
            )
        )
    return rows


# --- the command -------------------------------------------------------------------------------


def find_submissions(root: Path) -> list[tuple[str, Path]]:
    if not root.is_dir():
        raise SystemExit(
            f"error: {root} is not a folder (expected SUBMISSIONS_DIR/<student>/<notebook>.ipynb)"
        )
    found = [
        (student.name, nb)
        for student in sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        for nb in sorted(student.glob("*.ipynb"))
    ]
    if not found:
        raise SystemExit(
            f"error: no submissions in {root}: expected one folder per student holding "
            "notebooks named as in the book, e.g. alice/20_attention.ipynb"
        )
    return found


def summary(rows: list[Row]) -> str:
    students: dict[str, list[Row]] = {}
    for row in rows:
        students.setdefault(row.student, []).append(row)
    width = max([len("student"), *map(len, students)])
    lines = [
        f"{'student':<{width}}  notebooks  exercises  full marks  total score",
        "-" * (width + 46),
    ]
    for name, rs in students.items():
        graded = [r for r in rs if r.exercise != "-"]
        lines.append(
            f"{name:<{width}}  {len({r.notebook for r in rs}):>9}  {len(graded):>9}  "
            f"{sum(r.total > 0 and r.passed == r.total for r in graded):>10}  "
            f"{sum(r.score for r in graded):>6.2f} / {len(graded)}"
        )
    return "\n".join(lines)


def grade(
    root: Path,
    out: Path,
    timeout: float = 120,
    notebook_timeout: float = 900,
    log=print,
) -> list[Row]:
    """Grade every submission under ``root``, write the CSV ``out`` and return its rows."""
    rows: list[Row] = []
    for student, path in find_submissions(root):
        start = time.perf_counter()
        nb_rows = grade_notebook(path, student, timeout, notebook_timeout)
        rows += nb_rows
        got = sum(r.score for r in nb_rows)
        log(
            f"  {student}/{path.name}: {got:.2f} / {len(nb_rows)} ({time.perf_counter() - start:.0f} s)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(r.as_csv() for r in rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submissions", type=Path, help="SUBMISSIONS_DIR/<student>/<notebook>.ipynb")
    ap.add_argument("--out", type=Path, default=Path("grades.csv"), help="default: grades.csv")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per cell (default 120)")
    ap.add_argument(
        "--notebook-timeout", type=float, default=900, help="seconds per notebook (default 900)"
    )
    ap.add_argument("--profile", default="ci", help="COMPANION_PROFILE of the kernels (default ci)")
    args = ap.parse_args(argv)
    os.environ["COMPANION_PROFILE"] = args.profile  # inherited by every kernel
    print(
        f"grading {args.submissions} (timeout {args.timeout:g} s per cell, profile {args.profile})"
    )
    rows = grade(args.submissions, args.out, args.timeout, args.notebook_timeout)
    print(f"\nwrote {len(rows)} row(s) to {args.out}\n")
    print(summary(rows))


if __name__ == "__main__":
    sys.exit(main())
