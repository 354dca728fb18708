"""The grader against hostile submissions (issue 12): each attack that once won full marks or did
harm, tried again on one small exercise (chapter 20's `attention`), in one grading run beside an
honest solution and an honest wrong answer. Each cheat must score what its honest content
deserves; the deleter must not touch the other submissions, the repository or the package; the
killer must not stop the run. Then: a grader killed mid-run loses only the notebook in progress and
`--resume` finishes the job; `--out` is checked before any kernel starts; hidden cases defeat
outputs hard-coded from the public ones.

Most guarantees need the sandbox (bubblewrap). Where it is missing these tests say so and skip,
unless GRADER_SANDBOX=required (as .ci/run sets where bwrap is installed), which makes the
missing sandbox a failure."""

from __future__ import annotations

import csv
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from companion.course import code_exercises, grade, sandbox
from companion.course.remote import Settings
from companion.course.sandbox import Limits

pytestmark = pytest.mark.slow  # runs kernels

REPO = Path(__file__).resolve().parents[1]
ISOLATION = sandbox.isolation()  # GRADER_SANDBOX=required: no bubblewrap is an error here
needs_sandbox = pytest.mark.skipif(
    not ISOLATION.sandboxed, reason=f"no sandbox: {ISOLATION.description}"
)

HONEST = """
import math

import torch


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1).nan_to_num(0.0)
    return weights @ v, weights
"""
GARBAGE = """
import torch


def attention(q, k, v, mask=None):
    return torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype), None
"""


def notebook(*cells: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip()) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return nbformat.writes(nb)


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


def attacks(root: Path, csv_path: Path) -> dict[str, str]:
    """student -> notebook source, for a class whose submissions sit under ``root`` and are
    graded into ``csv_path``."""
    return {
        # companion's own implementation under the exercise's name, or a thin wrapper of it
        "a_alias": notebook(
            "from companion.attention import scaled_dot_product_attention as attention"
        ),
        "a_alias_wrapper": notebook(
            "import companion.attention",
            "def attention(q, k, v, mask=None):\n"
            "    return companion.attention.scaled_dot_product_attention(q, k, v, mask)",
        ),
        "a_alias_thread": notebook(
            "from concurrent.futures import ThreadPoolExecutor\n"
            "from companion.attention import scaled_dot_product_attention as sdpa",
            "def attention(q, k, v, mask=None):\n"
            "    with ThreadPoolExecutor(1) as pool:\n"
            "        return pool.submit(sdpa, q, k, v, mask).result()",
        ),
        "a_alias_code_copy": notebook(
            "import types\nfrom companion.attention import scaled_dot_product_attention as sdpa\n"
            "code = sdpa.__code__.replace(co_name='mine')\n"
            "attention = types.FunctionType(code, sdpa.__globals__, 'mine', sdpa.__defaults__)",
        ),
        # change the inputs in place, so that a checker comparing with the reference computed on
        # them afterwards would agree with garbage
        "b_in_place": notebook(
            "import torch",
            "def attention(q, k, v, mask=None):\n"
            "    q.zero_(); k.zero_(); v.zero_()\n"
            "    if mask is not None:\n"
            "        mask.fill_(True)\n"
            "    n = k.shape[-2]\n"
            "    return (torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype),\n"
            "            torch.full((*q.shape[:-1], n), 1.0 / n, dtype=q.dtype))",
        ),
        # patch the grading code in the kernel, then submit garbage
        "b_patcher": notebook(
            "import companion.course, companion.course.core, companion.course.registry\n"
            "import companion.course.exercises.attention as ex\n"
            "from companion.course.core import Score\n"
            "full = lambda notebook, ns: [Score('ex-attention-implement', 8, 8, [])]\n"
            "companion.course.grade_namespace = companion.course.registry.grade_namespace = full\n"
            "companion.course.core.compare = ex.compare = lambda *a, **k: None",
            GARBAGE,
        ),
        # find the instructor's solution notebook and run its solution
        "c_finder": notebook(
            "import json, pathlib, companion\n"
            "places = [pathlib.Path(companion.__file__).parents[1], "
            f"pathlib.Path({str(REPO)!r})]\n"
            "found = [p / 'notebooks' / '20_attention.ipynb' for p in places "
            "if (p / 'notebooks' / '20_attention.ipynb').exists()]\n"
            "for path in found:\n"
            "    for cell in json.loads(path.read_text())['cells']:\n"
            "        src = ''.join(cell['source'])\n"
            "        if 'solution' in cell['metadata'].get('tags', []) and 'def attention(' in src:\n"
            "            exec(src)",
            GARBAGE.replace("def attention(", "def _unused(")
            + "\nattention = globals().get('attention', _unused)",
        ),
        # delete and overwrite what it can reach, then submit an honest solution
        "d_deleter": notebook(
            "import os, pathlib, shutil, companion\n"
            "targets = [pathlib.Path(companion.__file__).parent, "
            f"pathlib.Path({str(root)!r}), pathlib.Path({str(REPO / 'companion')!r}), "
            "pathlib.Path.home()]\n"
            "for t in targets:\n"
            "    shutil.rmtree(t, ignore_errors=True)\n"
            "    try:\n"
            "        (t / 'checkers.py').write_text('owned')\n"
            "    except OSError:\n"
            "        pass",
            HONEST,
        ),
        # make the grader read or write another file through links in the kernel's outbox
        "d_linker": notebook(
            "import os, companion.course.wire as wire\n"
            "def write_message(path, value):\n"
            "    for suffix in ('.json', '.safetensors'):\n"
            "        os.symlink(CSV, str(path) + suffix)\n"
            "wire.write_message = write_message",
            HONEST,
        ).replace("CSV", repr(str(csv_path))),
        # fill memory and disk: a 64 MiB /tmp and 64 MiB files in this run (Settings below)
        "d_filler": notebook(
            "def fill(path, mib):\n"
            "    try:\n"
            "        with open(path, 'wb') as f:\n"
            "            for _ in range(mib):\n"
            "                f.write(bytes(2**20))\n"
            "        return True\n"
            "    except OSError:\n"
            "        return False\n"
            "FILLED = fill('/tmp/fill', 100) or fill('big', 100)",
            HONEST.replace(
                "    return weights @ v, weights",
                "    return (weights @ v, weights) if FILLED else None",
            ),
        ),
        # print hundreds of megabytes (the grader keeps none of it)
        "d_printer": notebook(
            "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 2**20)", HONEST
        ),
        # kill the process that started the kernel (the grader, without a sandbox), or every
        # process it can, then submit an honest solution; or kill its own kernel
        "e_killer": notebook("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", HONEST),
        "e_killer_of_all": notebook("import os, signal\nos.kill(-1, signal.SIGKILL)", HONEST),
        "e_suicide": notebook("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", HONEST),
        "y_honest": notebook(HONEST),
        "z_wrong": notebook(HONEST.replace("/ math.sqrt(q.shape[-1])", "")),
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    out = root.parent / f"{root.name}.csv"
    for student, source in attacks(root, out).items():
        (root / student).mkdir()
        (root / student / "20_attention.ipynb").write_text(source, encoding="utf-8")
    before = {"submissions": tree_digest(root), "companion": tree_digest(REPO / "companion")}
    limits = Limits(file_bytes=64 * 2**20, tmp_bytes=64 * 2**20)
    rows = grade.grade(root, out, Settings(timeout=60, seed=12345, limits=limits), log=print)
    with out.open(encoding="utf-8") as f:
        table = {r["student"]: r for r in csv.DictReader(f)}
    print("\n".join(",".join(map(str, r.as_csv()[:8])) for r in rows))  # the CSV, for the report
    return root, before, rows, table


@needs_sandbox
def test_honest_answers_score_what_they_deserve(attacked):
    table = attacked[3]
    assert float(table["y_honest"]["score"]) == 1.0 and table["y_honest"]["flag"] == ""
    assert float(table["z_wrong"]["score"]) < 1.0 and table["z_wrong"]["flag"] == ""
    assert all(r["isolation"] == ISOLATION.description for r in table.values())


@needs_sandbox
def test_companions_own_implementation_is_flagged_and_scores_zero(attacked):
    table = attacked[3]
    for student in ("a_alias", "a_alias_wrapper", "a_alias_thread", "a_alias_code_copy"):
        row = table[student]
        assert float(row["score"]) == 0.0, row
        assert row["flag"] == "calls companion.attention.scaled_dot_product_attention", row
        assert row["message"].startswith("scored 0: the function calls companion's own answer")


@needs_sandbox
def test_patching_the_grading_code_in_the_kernel_changes_nothing(attacked):
    row = attacked[3]["b_patcher"]
    assert float(row["score"]) == 0.0 and row["passed"] == "0", row


@needs_sandbox
def test_changing_the_inputs_in_place_changes_nothing(attacked):
    row = attacked[3]["b_in_place"]
    assert float(row["score"]) == 0.0 and row["passed"] == "0", row


@needs_sandbox
def test_links_in_the_outbox_reach_nothing(attacked):
    table = attacked[3]
    row = table["d_linker"]
    assert float(row["score"]) == 0.0 and "cannot be opened" in row["message"], row
    assert list(table)[0] == "a_alias" and len(table) == len(attacks(Path(), Path()))  # CSV intact


@needs_sandbox
def test_memory_disk_and_output_are_bounded(attacked):
    table = attacked[3]
    assert float(table["d_filler"]["score"]) == 0.0  # both 100 MiB writes failed
    assert float(table["d_printer"]["score"]) == 1.0  # 200 MB printed, kept nowhere


@needs_sandbox
def test_the_solution_notebooks_are_out_of_reach(attacked):
    row = attacked[3]["c_finder"]
    assert float(row["score"]) == 0.0, row  # found nothing, so its garbage was graded


@needs_sandbox
def test_the_deleter_harms_nobody(attacked):
    root, before, _, table = attacked
    assert tree_digest(root) == before["submissions"]
    assert tree_digest(REPO / "companion") == before["companion"]
    assert float(table["d_deleter"]["score"]) == 1.0  # its own honest answer still counts
    # the students graded after it imported an intact companion
    assert float(table["y_honest"]["score"]) == 1.0


@needs_sandbox
def test_the_killer_stops_only_itself(attacked):
    table = attacked[3]
    # the parent is the sandbox's PID 1, which ignores the signal, and kill(-1) reaches only the
    # sandbox: the grader lives on, and each killer's honest answer counts
    for student in ("e_killer", "e_killer_of_all"):
        assert float(table[student]["score"]) == 1.0, table[student]
    # a kernel that dies costs its own notebook, not the run
    row = table["e_suicide"]
    assert float(row["score"]) == 0.0 and row["message"] == "crash: the kernel died in cell 1"
    assert {"y_honest", "z_wrong"} <= set(table)  # graded after them


def test_without_the_sandbox_the_csv_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.SANDBOX_ENV, "off")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "subs" / "alice" / "20_attention.ipynb").write_text(notebook(HONEST))
    rows = grade.grade(tmp_path / "subs", tmp_path / "g.csv", Settings(timeout=60), log=print)
    assert [r.score for r in rows] == [1.0]
    assert rows[0].isolation.startswith("NOT SANDBOXED (GRADER_SANDBOX=off)")


def run_grader(*args: object, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "companion.course.grade", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def csv_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_killed_grader_loses_only_the_notebook_in_progress(tmp_path):
    subs = tmp_path / "subs"
    slow = notebook("import time\ntime.sleep(30)", HONEST)
    for student, source in [("a", notebook(HONEST)), ("b", slow), ("c", notebook(HONEST))]:
        (subs / student).mkdir(parents=True)
        (subs / student / "20_attention.ipynb").write_text(source, encoding="utf-8")
    out = tmp_path / "g.csv"
    first = run_grader(subs, "--out", out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and len(csv_rows(out)) >= 1):
        time.sleep(0.5)
    time.sleep(3)  # b's kernel is now sleeping
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert [r["student"] for r in csv_rows(out)] == ["a"]  # a's row survived the kill
    second = run_grader(subs, "--out", out, "--resume", "--timeout", "60")
    log, _ = second.communicate(timeout=300)
    assert second.returncode == 0, log
    assert "a/20_attention.ipynb: kept" in log
    rows = csv_rows(out)
    assert [r["student"] for r in rows] == ["a", "b", "c"]
    assert [float(r["score"]) for r in rows] == [1.0, 1.0, 1.0]


def test_options_and_out_are_checked_before_any_kernel_starts(tmp_path):
    (tmp_path / "subs" / "a").mkdir(parents=True)
    (tmp_path / "subs" / "a" / "20_attention.ipynb").write_text(notebook("while True: pass"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args, message in [
        (["--out", blocker / "g.csv"], "cannot be written"),
        (["--out", tmp_path], "is a folder"),
        (["--out", tmp_path / "g.csv", "--timeout", "0"], "--timeout=0.0 must be positive"),
        (["--out", tmp_path / "g.csv", "--seed", "1", "--seed-file", blocker], "not both"),
    ]:
        start = time.monotonic()
        p = run_grader(tmp_path / "subs", *args)
        log, _ = p.communicate(timeout=60)
        assert p.returncode != 0 and message in log, (args, log)
        assert time.monotonic() - start < 20 and "a/20_attention" not in log  # no kernel ran
    (tmp_path / "g.csv").write_text("name,grade\nalice,A\n")
    p = run_grader(tmp_path / "subs", "--out", tmp_path / "g.csv", "--resume")
    log, _ = p.communicate(timeout=60)
    assert p.returncode != 0 and "is not a grades CSV" in log, log
    p = run_grader(tmp_path / "subs", "--out", tmp_path / "g.csv")
    log, _ = p.communicate(timeout=60)
    assert p.returncode != 0 and "already exists; add --resume" in log, log
    assert (tmp_path / "g.csv").read_text() == "name,grade\nalice,A\n"  # nothing lost


def test_hidden_cases_defeat_hard_coded_outputs(tmp_path):
    """A function that looks its answers up in the public cases' outputs (here: Chinese numerals,
    recorded by running the checker with companion's implementation) passes the notebook's own
    check, and fails the instructor's hidden cases."""
    from companion.data.number_words import chinese_numeral

    ex = code_exercises()["ex-seq2seq-chinese-numeral"]
    seen = {}
    ex.checker(lambda n: seen.setdefault(n, chinese_numeral(n)), verbose=False)
    source = notebook(
        f"TABLE = {seen!r}\n\ndef my_chinese_numeral(n):\n    return TABLE.get(n, '')"
    )
    (tmp_path / "subs" / "a").mkdir(parents=True)
    (tmp_path / "subs" / "a" / "32_seq2seq_numbers.ipynb").write_text(source, encoding="utf-8")
    scores = {}
    for seed in (None, 2027):
        rows = grade.grade(
            tmp_path / "subs", tmp_path / f"{seed}.csv", Settings(timeout=60, seed=seed), log=print
        )
        scores[seed] = {r.exercise: r.score for r in rows}["ex-seq2seq-chinese-numeral"]
    assert scores[None] == 1.0 and scores[2027] < 1.0, scores
