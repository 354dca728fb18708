"""Create a chapter from the template, or keep every notebook's setup cell equal to the template's.

    python tools/new_chapter.py --number 51 --slug grokking --title "Grokking"   # make chapter
    python tools/new_chapter.py --sync-setup-cells [--check]

A new chapter is: ``notebooks/NN_slug.ipynb`` (title, learning goals, the setup cell, a section, three
exercises, references), its entry in ``book/_toc.yml`` under its part (CONVENTIONS: the book's
map), a row in the map of ``book/intro.md``, ``companion/course/exercises/slug.py`` registering its
exercises, and their rows in ``book/instructors.md``. The notebook is then executed with the ``cpu``
profile, so the result passes ``make test`` as it stands.

The setup cell is written here and nowhere else: :func:`setup_cell_source` builds it (the
repository from ``_config.yml``, the release tag from ``companion.__version__``, pip's name from
``companion.DISTRIBUTION``), and a notebook that needs a package besides companion names it in its
metadata
(``"companion": {"pip": [{"module": ..., "requirement": ..., "why": ..., "no_deps": true}]}``).
``--sync-setup-cells`` rewrites every notebook's setup cell from it; ``--check`` only reports
(tests/test_notebooks.py runs the check).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

import companion

REPO = Path(__file__).resolve().parents[1]

# The book's map (CONVENTIONS): part numeral, notebook numbers, toc caption.
PARTS = [
    ("I", range(0, 10), "Background"),
    ("II", range(10, 20), "Core concepts"),
    ("III", range(20, 30), "Attention"),
    ("IV", range(30, 40), "Building and training Transformers"),
    ("V", range(40, 50), "Applications"),
    ("VI", range(50, 60), "Reductionism and emergence"),
    ("VII", range(60, 70), "Systematic generalization"),
    ("VIII", range(70, 80), "Consciousness"),
    ("IX", range(80, 100), "Appendices"),  # tools, notation, a scratch chapter: after the parts
]
NUMERALS = [numeral for numeral, _, _ in PARTS]


def repository_url() -> str:
    return yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]


# The setup cell up to the packages a notebook adds; {repo}, {ref} and {distribution} are filled in.
SETUP_CELL_HEAD = """\
# Setup: on Colab, install this book's release of companion (torch is never reinstalled).
import importlib.metadata
import importlib.util
import shlex
import subprocess
import sys

REPO = "{repo}"  # = repository.url in _config.yml
REF = "{ref}"  # the book's release: the tag v + companion.__version__
DISTRIBUTION = "{distribution}"  # pip's name for companion (PyPI's `companion` is another)


def installed_version(distribution):
    \"\"\"The installed version of ``distribution``, or None.\"\"\"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pip_install(*args):
    \"\"\"pip install ``args``; if that fails, stop saying what went wrong and what to do.\"\"\"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", *args], capture_output=True, text=True
    )
    if pip.returncode != 0:  # say what git or pip said went wrong, not all they printed
        lines = [line.strip() for line in (pip.stdout + pip.stderr).splitlines() if line.strip()]
        said = [line for line in lines if line.lower().startswith(("fatal", "error"))] or lines[-5:]
        raise SystemExit(
            f"pip could not install {{args[-1]}}:\\n" + "\\n".join(dict.fromkeys(said)) + "\\n"
            "Check the internet connection and run this cell again, "
            f"or install it yourself: pip install {{shlex.join(args)}}"
        )


# Missing, or another release (an older copy in a long-running session): install the book's.
if importlib.util.find_spec("companion") is None or installed_version(DISTRIBUTION) != REF[1:]:
    pip_install(f"{{DISTRIBUTION}} @ git+{{REPO}}@{{REF}}")
    if "companion" in sys.modules:  # this session imported the other release
        raise SystemExit(
            f"companion {{REF[1:]}} is installed: restart the runtime "
            "(Runtime > Restart session), then run this cell again."
        )"""

SETUP_CELL_TAIL = """\
import companion
from companion.runtime import describe, profile

print(describe())
assert profile().name in ("ci", "cpu", "gpu")"""


def setup_cell_source(pip: list[dict] | None = None) -> str:
    """The setup cell: on Colab, install the book's release of companion when it is missing or
    another release is installed (and the packages in ``pip`` when missing), never torch; then print
    versions, device and profile."""
    head = SETUP_CELL_HEAD.format(
        repo=repository_url(), ref=f"v{companion.__version__}", distribution=companion.DISTRIBUTION
    )
    extras = []
    for package in pip or []:
        flags = '"--no-deps", ' if package.get("no_deps") else ""
        why = f"  # {package['why']}" if package.get("why") else ""
        extras += [
            f'if importlib.util.find_spec("{package["module"]}") is None:{why}',
            f'    pip_install({flags}"{package["requirement"]}")',
        ]
    return "\n\n".join([head, *(["\n".join(extras)] if extras else []), SETUP_CELL_TAIL])


def setup_cell_of(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if c.cell_type == "code"]
    if not cells or "setup" not in cells[0].metadata.get("tags", []):
        raise ValueError("the first code cell must be the setup cell (tag `setup`)")
    return cells[0]


def sync_setup_cells(check: bool) -> list[Path]:
    """The notebooks whose setup cell differs from the template's (rewritten unless ``check``)."""
    stale = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = setup_cell_of(nb)
        want = setup_cell_source(nb.metadata.get("companion", {}).get("pip"))
        if cell.source != want:
            stale.append(path)
            if not check:
                cell.source = want
                nbformat.write(nb, path)
    return stale


# --- a new chapter ------------------------------------------------------------------------------


def part_of(number: int) -> tuple[str, str]:
    """(numeral, toc caption) of the part that holds notebook ``number``."""
    for numeral, numbers, caption in PARTS:
        if number in numbers:
            return numeral, caption
    raise ValueError(f"number={number} is outside the book's map (0-99)")


def exercise_label(slug: str, what: str) -> str:
    return f"ex-{slug.replace('_', '-')}-{what}"


def template(number: int, slug: str, title: str) -> nbformat.NotebookNode:
    """The chapter's notebook: every part a chapter has, each with a line saying what goes there."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    label = lambda what: exercise_label(slug, what)  # noqa: E731
    cells = [
        md(
            f"# {title}\n\n"
            "You will learn:\n\n"
            "- what this chapter explains (one line per learning goal, key terms in English with\n"
            "  the Chinese term beside them on first use);\n"
            "- what it measures, and which claim each measurement checks.\n\n"
            "Follows seed NNN §N (the seed this chapter follows; see the book's map).\n\n"
            "Stored outputs: produced by `make notebooks` with the `cpu` profile on a CPU."
        ),
        code(setup_cell_source(), metadata={"tags": ["setup", "nbval-ignore-output"]}),
        code(
            "import torch\n\n"
            "from companion.runtime import profile\n\n"
            "p = profile()  # ci, cpu or gpu: size every training cell with p.pick(ci=..., cpu=..., gpu=...)\n"
            "torch.manual_seed(0)\n"
            "torch.set_printoptions(precision=4, sci_mode=False)"
        ),
        md(
            "## 1. The first idea\n\n"
            "State the idea with its equation, then the code that computes it, then a check: an\n"
            "`assert` or a plot that makes the claim visible. Cite the papers you rely on, e.g.\n"
            "{cite}`vaswani2017attention`."
        ),
        code(
            "x = torch.arange(6.0).reshape(2, 3)  # (2, 3)\n"
            "row_sums = x.sum(dim=-1)  # (2,)\n"
            "print(row_sums)\n"
            "assert torch.equal(row_sums, torch.tensor([3.0, 12.0]))"
        ),
        md("## Exercises"),
        md(
            f"```{{exercise}} By hand\n:label: {label('by-hand')}\n"
            "A small case to compute with pen and paper.\n```\n\n"
            f"```{{solution}} {label('by-hand')}\n:class: dropdown\n"
            "The worked answer.\n```"
        ),
        md(
            f"```{{exercise}} Predict, then measure\n:label: {label('predict')}\n"
            "Predict what a change does, then run it and explain the difference.\n```\n\n"
            f"```{{solution}} {label('predict')}\n:class: dropdown\n"
            "What the measurement shows, and why.\n```"
        ),
        md(
            f"```{{exercise}} Change the model\n:label: {label('change')}\n"
            "Change one part of the model and explain what happened.\n```\n\n"
            f"```{{solution}} {label('change')}\n:class: dropdown\n"
            "What happened, and why.\n```"
        ),
        md("## References\n\n```{bibliography}\n:filter: docname in docnames\n```"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    }
    return nb


TEMPLATE_EXERCISES = [("by-hand", "By hand", "easy"), ("predict", "Predict, then measure", "medium"),
                      ("change", "Change the model", "hard")]  # fmt: skip


def exercises_module(number: int, slug: str, title: str) -> str:
    lines = [
        f'"""Exercises of the chapter "{title}" (notebooks/{number:02d}_{slug})."""',
        "",
        "from companion.course.registry import Chapter",
        "",
        f'CHAPTER = Chapter({number}, "{slug}")  # notebooks/{number:02d}_{slug}.ipynb',
        "",
        "# A code exercise registers its checker with @CHAPTER.exercise(label, title=..., difficulty=...,",
        "# names=(...), references=(...)) above `def check_<name>(fn, *, verbose=True) -> Score`",
        "# (see attention.py): references are companion's own answers, which the grader flags; draw",
        "# random cases from case_generator(i), so that the grader's --seed changes them.",
        "",
        "# The chapter's other exercises: pen and paper, predict-then-measure, explain.",
    ]
    for what, ex_title, difficulty in TEMPLATE_EXERCISES:
        lines.append(
            f'CHAPTER.other_exercise("{exercise_label(slug, what)}", title="{ex_title}", '
            f'difficulty="{difficulty}")'
        )
    return "\n".join(lines) + "\n"


class _TocDumper(yaml.SafeDumper):
    """Indents lists under their key, as book/_toc.yml is written by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def add_to_toc(stem: str, caption: str) -> None:
    """Put ``notebooks/stem`` in its part's caption (created in map order), chapters by number."""
    path = REPO / "book" / "_toc.yml"
    text = path.read_text(encoding="utf-8")
    header = text[: text.index("format:")]
    toc = yaml.safe_load(text)
    parts = toc["parts"]
    captions = [c for _, _, c in PARTS]
    part = next((p for p in parts if p.get("caption") == caption), None)
    if part is None:
        part = {"caption": caption, "chapters": []}
        rank = captions.index(caption)
        at = next(  # before the first part of a later caption, or the reference part
            (
                i
                for i, p in enumerate(parts)
                if p.get("caption")
                and (p["caption"] not in captions or captions.index(p["caption"]) > rank)
            ),
            len(parts),
        )
        parts.insert(at, part)
    part["chapters"].append({"file": f"notebooks/{stem}"})
    part["chapters"].sort(key=lambda c: c["file"])
    text = yaml.dump(toc, Dumper=_TocDumper, sort_keys=False, allow_unicode=True, indent=2)
    path.write_text(header + text, encoding="utf-8")


def add_to_map(stem: str, title: str, numeral: str) -> None:
    """A row in the map of book/intro.md, after the last row of its part or an earlier one."""
    path = REPO / "book" / "intro.md"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = re.compile(r"^\| (?P<numeral>[IVX]+) ")
    rows = [i for i, line in enumerate(lines) if row.match(line)]
    if not rows:
        raise ValueError(
            "book/intro.md has no map rows (| I Background | ... |) to add the chapter to"
        )
    name = next(c for n, _, c in PARTS if n == numeral)
    earlier = [
        i for i in rows if NUMERALS.index(row.match(lines[i])["numeral"]) <= NUMERALS.index(numeral)
    ]
    at = (earlier[-1] if earlier else rows[0] - 1) + 1
    lines.insert(
        at,
        f"| {numeral} {name} | [{title}](../notebooks/{stem}.ipynb) | (to be written) | | draft |\n",
    )
    path.write_text("".join(lines), encoding="utf-8")


def add_to_instructors(stem: str, slug: str) -> None:
    """The template's exercises in the table of book/instructors.md, after the last row."""
    path = REPO / "book" / "instructors.md"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.startswith("| `ex-"))
    rows = [
        f"| `{exercise_label(slug, what)}` | {{doc}}`../notebooks/{stem}` | {n} | {t} | {d} | no |\n"
        for n, (what, t, d) in enumerate(TEMPLATE_EXERCISES, start=1)
    ]
    lines[last + 1 : last + 1] = rows
    path.write_text("".join(lines), encoding="utf-8")


def new_chapter(number: int, slug: str, title: str, execute: bool = True) -> list[Path]:
    """Create the chapter's files and entries (see the module docstring); the paths it wrote."""
    if not 0 <= number <= 99:
        raise ValueError(
            f"N={number} is outside the book's map (0-99); pick a number in its part's range "
            "(CONTRIBUTING.md, the book's map)"
        )
    if not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
        raise ValueError(f"SLUG={slug!r} must be lower-case letters, digits and _ (e.g. grokking)")
    if not title.strip():
        raise ValueError('TITLE is empty; give the chapter\'s title, e.g. TITLE="Grokking"')
    stem = f"{number:02d}_{slug}"
    taken = sorted((REPO / "notebooks").glob(f"{number:02d}_*.ipynb"))
    if taken:
        raise ValueError(f"N={number} is taken by {taken[0].name}; pick a free number in the part")
    module = REPO / "companion" / "course" / "exercises" / f"{slug}.py"
    if module.exists():
        raise ValueError(f"SLUG={slug!r} is taken by {module.relative_to(REPO)}; pick another slug")
    numeral, caption = part_of(number)
    notebook = REPO / "notebooks" / f"{stem}.ipynb"
    nbformat.write(template(number, slug, title.strip()), notebook)
    module.write_text(exercises_module(number, slug, title.strip()), encoding="utf-8")
    add_to_toc(stem, caption)
    add_to_map(stem, title.strip(), numeral)
    add_to_instructors(stem, slug)
    if execute:
        subprocess.run(
            [sys.executable, str(REPO / "tools" / "execute_notebooks.py"), str(notebook)],
            check=True,
            env={**os.environ, "COMPANION_PROFILE": "cpu"},
        )
    return [notebook, module, REPO / "book" / "_toc.yml", REPO / "book" / "intro.md",
            REPO / "book" / "instructors.md"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, help="the notebook number, e.g. 51 (part VI)")
    parser.add_argument("--slug", help="the notebook's name after the number, e.g. grokking")
    parser.add_argument("--title", help='the chapter title, e.g. "Grokking"')
    parser.add_argument("--sync-setup-cells", action="store_true", help="rewrite every setup cell")
    parser.add_argument("--check", action="store_true", help="with --sync-setup-cells: only report")
    args = parser.parse_args(argv)
    if args.sync_setup_cells:
        stale = sync_setup_cells(check=args.check)
        for path in stale:
            print(
                f"{path.relative_to(REPO)}: setup cell {'differs from' if args.check else 'rewritten from'} the template"
            )
        return 1 if stale and args.check else 0
    if args.number is None or not args.slug or not args.title:
        parser.error(
            'give --number, --slug and --title (make chapter N=51 SLUG=grokking TITLE="Grokking")'
        )
    try:
        written = new_chapter(args.number, args.slug, args.title)
    except ValueError as exc:
        print(f"make chapter: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(REPO)}")
    print("next: write the chapter, then `make notebooks NOTEBOOKS=...` and `make test`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
