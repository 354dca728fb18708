"""Grade a folder of submitted notebooks with the exercise checkers; write a CSV of scores.

    python -m companion.course.grade SUBMISSIONS_DIR --out grades.csv --seed 1234 [--resume]

The submissions are laid out one folder per student, holding that student's notebooks under
their book names::

    SUBMISSIONS_DIR/
        alice/20_attention.ipynb
        alice/21_masks_and_positions.ipynb
        bob/20_attention.ipynb

Every notebook is read into memory before the first one runs. Each then runs top to bottom in its
own Jupyter kernel, in a fresh temporary folder that holds only that notebook, sandboxed where
bubblewrap is available (:mod:`companion.course.sandbox`), with CPU-time and memory limits, errors
allowed, every cell interrupted after ``--timeout`` seconds and the whole notebook stopped after
``--notebook-timeout``. Then the checkers run in *this* process on stand-ins for the student's
functions (:mod:`companion.course.remote`): the student's code sees each case's inputs, never the
cases' expected values or the comparison. With ``--seed`` the cases are drawn from the
instructor's seed, not the public ones the notebooks show.

The CSV has one row per student, submitted notebook and auto-checked exercise of that notebook:
``student, notebook, exercise, score, passed, total, message, flag, isolation``. ``message`` is the
first failing case, ``all N cases passed``, or why the notebook could not be graded; ``flag`` says
when the student's function called companion's own implementation of the answer (the row then
scores 0; the instructor guide explains); ``isolation`` says how the kernel was isolated. Rows
are written (and flushed) as each notebook is graded; ``--resume`` keeps the rows of an earlier,
interrupted run and grades only the notebooks it had not finished.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

from companion.course.remote import Graded, Settings, run_and_grade
from companion.course.sandbox import Folders, Limits, installed_copy, isolation

CSV_COLUMNS = [
    "student",
    "notebook",
    "exercise",
    "score",
    "passed",
    "total",
    "message",
    "flag",
    "isolation",
]


@dataclass
class Row:
    student: str
    notebook: str
    exercise: str
    score: float
    passed: int
    total: int
    message: str
    flag: str = ""
    isolation: str = ""

    def as_csv(self) -> list:
        values = [getattr(self, f.name) for f in fields(self)]
        return [f"{v:.3f}" if isinstance(v, float) else v for v in values]

    @classmethod
    def from_csv(cls, row: dict) -> Row:
        return cls(
            **{
                **row,
                "score": float(row["score"]),
                "passed": int(row["passed"]),
                "total": int(row["total"]),
            }
        )


def exercises_of(stem: str) -> list:
    # Only the registry (labels and notebooks) is read here, never a submission.
    from companion.course import code_exercises

    return [ex for ex in code_exercises().values() if ex.notebook == stem]


def known_notebooks() -> set[str]:
    from companion.course import exercise_table

    return {row["notebook"] for row in exercise_table()}


def first_message(passed: int, total: int, messages: list[str]) -> str:
    if total and passed == total:
        return f"all {total} cases passed"
    failing = [m for m in messages if not m.endswith(": passed")]
    return (failing or messages or ["no cases ran"])[0]


def zero_rows(student: str, stem: str, message: str) -> list[Row]:
    labels = [ex.label for ex in exercises_of(stem)] or ["-"]
    return [Row(student, stem, label, 0.0, 0, 0, message) for label in labels]


def verdict_row(student: str, stem: str, graded: Graded, note: str) -> Row:
    s = graded.score
    message = first_message(s.passed, s.total, s.messages)
    score = s.passed / s.total if s.total else 0.0
    flag = ""
    if graded.uses:
        flag = "calls " + ", ".join(graded.uses)
        message = f"scored 0: the function calls companion's own answer ({message})"
        score = 0.0
    if note:  # a timeout that the notebook survived is reported on every row
        message = f"{message} ({note})"
    return Row(student, stem, s.exercise, score, s.passed, s.total, message, flag)


def grade_notebook(
    content: bytes, name: str, student: str, workdir_base: Path, index: int, settings: Settings
) -> list[Row]:
    """The rows of one submitted notebook (``content``, its file name ``name``). Never raises for
    anything the notebook does."""
    import nbformat

    stem = Path(name).stem
    if stem not in known_notebooks():
        names = ", ".join(sorted(known_notebooks()))
        message = f"unknown notebook name {name}: expected one of {names}"
        return [Row(student, stem, "-", 0.0, 0, 0, message)]
    try:
        nb = nbformat.reads(content.decode("utf-8"), as_version=4)
    except Exception as exc:  # not UTF-8, not JSON, not a notebook
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return zero_rows(student, stem, f"not a valid notebook: {type(exc).__name__}: {first}")
    exercises = exercises_of(stem)
    if not exercises:
        return []
    folders = Folders.fresh(workdir_base / f"{index:04d}", name, content)
    try:
        graded, notes = asyncio.run(run_and_grade(nb, exercises, folders, settings))
    except Exception as exc:  # the kernel did not start, or died in a way nbclient raises
        return zero_rows(student, stem, f"crash: {type(exc).__name__}: {exc}".strip())
    finally:
        shutil.rmtree(workdir_base / f"{index:04d}", ignore_errors=True)
    note = "; ".join(notes)
    if graded is None:
        return zero_rows(student, stem, note or "no grades")
    return [verdict_row(student, stem, g, note) for g in graded]


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
        f"{'student':<{width}}  notebooks  exercises  full marks  flagged  total score",
        "-" * (width + 55),
    ]
    for name, rs in students.items():
        graded = [r for r in rs if r.exercise != "-"]
        lines.append(
            f"{name:<{width}}  {len({r.notebook for r in rs}):>9}  {len(graded):>9}  "
            f"{sum(r.total > 0 and r.passed == r.total and not r.flag for r in graded):>10}  "
            f"{sum(bool(r.flag) for r in graded):>7}  "
            f"{sum(r.score for r in graded):>6.2f} / {len(graded)}"
        )
    return "\n".join(lines)


def check_out(out: Path, resume: bool, overwrite: bool) -> list[Row]:
    """Refuse an ``--out`` that cannot be written, or that holds grades and is neither resumed
    nor explicitly overwritten, before any kernel starts; the rows already in it when resuming."""
    if out.is_dir():
        raise SystemExit(f"error: --out {out} is a folder; give a file name, e.g. {out}/grades.csv")
    if out.exists() and out.stat().st_size and not (resume or overwrite):
        raise SystemExit(
            f"error: --out {out} already exists; add --resume to finish that run, --overwrite "
            "to replace it, or choose another file"
        )
    kept: list[Row] = []
    if resume and out.exists():
        with out.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != CSV_COLUMNS:
                raise SystemExit(
                    f"error: --resume: {out} is not a grades CSV of this grader "
                    f"(columns {reader.fieldnames}); move it away or drop --resume"
                )
            kept = [Row.from_csv(r) for r in reader]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise SystemExit(f"error: --out {out} cannot be written: {exc.strerror}") from None
    return kept


def check_settings(settings: Settings) -> None:
    for name in ("timeout", "notebook_timeout"):
        value = getattr(settings, name)
        if not value > 0:
            raise SystemExit(f"error: --{name.replace('_', '-')}={value} must be positive")
    if settings.limits.cpu_seconds <= 0 or settings.limits.memory_bytes <= 0:
        raise SystemExit("error: --cpu-limit and --memory-limit must be positive")


def _remove(folder: Path) -> None:
    """Remove ``folder``, the read-only copy of companion included."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(folder, ignore_errors=True)


def grade(
    root: Path,
    out: Path,
    settings: Settings | None = None,
    resume: bool = False,
    overwrite: bool = False,
    log=print,
) -> list[Row]:
    """Grade every submission under ``root`` into the CSV ``out`` (a row at a time, flushed) and
    return all its rows. With ``resume``, the notebooks that ``out`` already grades are kept; an
    existing ``out`` is otherwise replaced only with ``overwrite``."""
    settings = settings or Settings()
    check_settings(settings)
    submissions = find_submissions(root)
    kept = check_out(out, resume, overwrite)
    done = {(r.student, r.notebook) for r in kept}
    # Read every submission now: nothing a notebook does later can change another's.
    contents = [(student, path.name, path.read_bytes()) for student, path in submissions]
    settings.isolation = settings.isolation or isolation()
    if settings.data is None and os.environ.get("COMPANION_DATA"):
        settings.data = Path(os.environ["COMPANION_DATA"]).resolve()  # shown read-only
    base = Path(tempfile.mkdtemp(prefix="companion-grade-"))
    rows = list(kept)
    try:
        settings.site = installed_copy(base / "companion")
        with out.open("a" if kept else "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if not kept:
                writer.writerow(CSV_COLUMNS)
            for index, (student, name, content) in enumerate(contents):
                if (student, Path(name).stem) in done:
                    log(f"  {student}/{name}: kept from {out}")
                    continue
                start = time.perf_counter()
                nb_rows = grade_notebook(content, name, student, base / "work", index, settings)
                for r in nb_rows:
                    r.isolation = settings.isolation.description
                writer.writerows(r.as_csv() for r in nb_rows)
                f.flush()
                os.fsync(f.fileno())
                rows += nb_rows
                got = sum(r.score for r in nb_rows)
                seconds = time.perf_counter() - start
                log(f"  {student}/{name}: {got:.2f} / {len(nb_rows)} ({seconds:.0f} s)")
    finally:
        _remove(base)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submissions", type=Path, help="SUBMISSIONS_DIR/<student>/<notebook>.ipynb")
    ap.add_argument("--out", type=Path, default=Path("grades.csv"), help="default: grades.csv")
    ap.add_argument(
        "--seed",
        type=int,
        help="draw the hidden cases from this number (keep it secret); default: the public cases",
    )
    ap.add_argument("--seed-file", type=Path, help="read the seed from this file instead")
    ap.add_argument(
        "--resume", action="store_true", help="keep the rows already in --out, grade the rest"
    )
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per cell (default 120)")
    ap.add_argument(
        "--notebook-timeout", type=float, default=900, help="seconds per notebook (default 900)"
    )
    ap.add_argument(
        "--cpu-limit", type=int, default=3600, help="CPU seconds per kernel (default 3600)"
    )
    ap.add_argument(
        "--memory-limit", type=float, default=8, help="GiB of memory per kernel (default 8)"
    )
    ap.add_argument("--profile", default="ci", help="COMPANION_PROFILE of the kernels (default ci)")
    args = ap.parse_args(argv)
    seed = args.seed
    if args.seed_file is not None:
        if seed is not None:
            ap.error("give --seed or --seed-file, not both")
        try:
            seed = int(args.seed_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError) as exc:
            ap.error(f"--seed-file {args.seed_file}: {exc}")
    settings = Settings(
        timeout=args.timeout,
        notebook_timeout=args.notebook_timeout,
        profile=args.profile,
        seed=seed,
        limits=Limits(args.cpu_limit, int(args.memory_limit * 2**30)),
    )
    check_settings(settings)
    settings.isolation = isolation()
    print(
        f"grading {args.submissions} (timeout {args.timeout:g} s per cell, profile {args.profile}, "
        f"{'hidden cases' if seed is not None else 'public cases (no --seed)'})\n"
        f"isolation: {settings.isolation.description}"
    )
    rows = grade(args.submissions, args.out, settings, resume=args.resume, overwrite=args.overwrite)
    print(f"\nwrote {len(rows)} row(s) to {args.out}\n")
    print(summary(rows))


if __name__ == "__main__":
    sys.exit(main())
