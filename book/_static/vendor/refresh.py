"""Refresh the vendored MathJax and mermaid that the book serves itself (no CDN).

    python book/_static/vendor/refresh.py            # the versions pinned below
    python book/_static/vendor/refresh.py --mathjax 3.2.2 --mermaid 11.12.1

Fetches the npm packages with `npm pack` (npm checks each tarball against the registry's
integrity hash), copies only the files the book loads into ``mathjax-<v>/`` and ``mermaid-<v>/``
beside this script, removes other versions, and writes SHA256SUMS. After a version change, update
``mathjax_path`` and ``mermaid_use_local`` in ``_config.yml`` and the table in README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MATHJAX = "3.2.2"  # the last 3.x; Sphinx's mathjax extension speaks the MathJax 3 API
MERMAID = "11.12.1"  # sphinxcontrib-mermaid 2.1.1's default `mermaid_version`

# One combined component with every TeX extension built in, so nothing is autoloaded at run
# time, plus the CHTML fonts it fetches from [mathjax]/output/chtml/fonts/woff-v2.
MATHJAX_FILES = ["LICENSE", "es5/tex-chtml-full.js", "es5/output/chtml/fonts/woff-v2/*.woff"]

_IMPORT = re.compile(r"""(?:\bimport|\bexport)\s*(?:[^"'();]*?\bfrom\s*)?["'](\./[^"']+)["']""")
_DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["'](\./[^"']+)["']\s*\)""")


def npm_pack(spec: str, dest: Path) -> Path:
    """Download ``spec`` (e.g. ``mathjax@3.2.2``) with npm and unpack it; returns the package dir."""
    out = subprocess.run(
        ["npm", "pack", spec, "--pack-destination", str(dest), "--silent"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    with tarfile.open(dest / out) as tar:
        tar.extractall(dest / spec.replace("/", "_"), filter="data")
    return dest / spec.replace("/", "_") / "package"


def module_closure(entry: Path) -> set[Path]:
    """``entry`` and every module it imports, statically or with ``import()``, transitively.

    Mermaid loads each diagram type (flowchart, sequence, ...) with a dynamic import, so all of
    them are kept: any diagram an author writes renders offline.
    """
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        source = path.read_text(encoding="utf-8")
        for rel in _IMPORT.findall(source) + _DYNAMIC_IMPORT.findall(source):
            todo.append((path.parent / rel).resolve())
    return seen


def copy(src_root: Path, files: list[Path], dest: Path, strip: str = "") -> None:
    for src in files:
        rel = src.relative_to(src_root).as_posix().removeprefix(strip)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / rel)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mathjax", default=MATHJAX)
    ap.add_argument("--mermaid", default=MERMAID)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for old in [*HERE.glob("mathjax-*"), *HERE.glob("mermaid-*")]:
            shutil.rmtree(old)

        pkg = npm_pack(f"mathjax@{args.mathjax}", tmp)
        files = [f for pattern in MATHJAX_FILES for f in sorted(pkg.glob(pattern))]
        copy(pkg, files, HERE / f"mathjax-{args.mathjax}", strip="es5/")

        pkg = npm_pack(f"mermaid@{args.mermaid}", tmp)
        dist = pkg / "dist"
        modules = sorted(module_closure(dist / "mermaid.esm.min.mjs"))
        copy(dist, modules, HERE / f"mermaid-{args.mermaid}")
        shutil.copyfile(pkg / "LICENSE", HERE / f"mermaid-{args.mermaid}" / "LICENSE")

    sums, total = [], 0
    for path in sorted(p for p in HERE.rglob("*") if p.is_file() and p.parent != HERE):
        sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(HERE)}")
        total += path.stat().st_size
    (HERE / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
    for d in sorted(p for p in HERE.iterdir() if p.is_dir()):
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        print(f"{d.name}: {sum(1 for f in d.rglob('*') if f.is_file())} files, {size / 1e6:.2f} MB")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
