"""Point the book at another repository: ``make set-repo URL=https://github.com/OWNER/NAME``.

The repository's URL is written once, as ``repository.url`` in ``_config.yml``; everything else
that names it is derived from that line and rewritten here:

- every notebook's setup cell (``REPO = "<url>"``, from which it installs companion on Colab),
  replaced in place, then checked against the template by ``tools/new_chapter.py
  --sync-setup-cells --check``;
- the push command of book/instructors.md ("Publishing it"), ``repository-code`` in
  CITATION.cff and the install line of README.md.

The book's Colab and repository buttons are built by Jupyter Book from ``_config.yml`` itself, and
tools/browser_check.py reads the URL from there too.

    python tools/set_repo.py https://github.com/OWNER/NAME [--root DIR]

``--root`` rewrites another checkout (tests/test_set_repo.py uses a scratch copy). A URL that is
not ``https://github.com/OWNER/NAME`` is refused before any file is touched.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

URL = re.compile(r"https://github\.com/[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+")
CONFIG_LINE = re.compile(r"^(  url: )(\S+)$", re.MULTILINE)  # under `repository:`


def check_url(url: str) -> str:
    """``url`` if it is ``https://github.com/OWNER/NAME`` (no trailing slash, no ``.git``)."""
    if not URL.fullmatch(url) or url.endswith(".git"):
        raise ValueError(
            f"URL={url!r} must be https://github.com/OWNER/NAME, the address of your fork "
            "(no trailing slash, no .git), e.g. https://github.com/ada/llm-book"
        )
    return url


def current_url(root: Path) -> str:
    """The ``repository.url`` of ``root/_config.yml``."""
    config = (root / "_config.yml").read_text(encoding="utf-8")
    section = config[config.index("\nrepository:") :]
    match = CONFIG_LINE.search(section)
    if match is None:
        raise ValueError(f"{root / '_config.yml'} has no `  url:` line under `repository:`")
    return match.group(2)


def set_repo(url: str, root: Path) -> list[Path]:
    """Write ``url`` into ``root``'s config, instructor guide and setup cells; return the files."""
    url = check_url(url)
    old = current_url(root)
    config_path = root / "_config.yml"
    config = config_path.read_text(encoding="utf-8")
    start = config.index("\nrepository:")
    section = CONFIG_LINE.sub(lambda m: m.group(1) + url, config[start:], count=1)
    config_path.write_text(config[:start] + section, encoding="utf-8")
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    others = [root / "book" / "instructors.md", root / "CITATION.cff", root / "README.md"]
    for path in [*others, *notebooks]:  # byte for byte, but the URL
        path.write_text(path.read_text(encoding="utf-8").replace(old, url), encoding="utf-8")
    check = subprocess.run(  # every setup cell must now equal the template, which reads the config
        [sys.executable, str(root / "tools" / "new_chapter.py"), "--sync-setup-cells", "--check"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise ValueError(f"setup cells differ from the template after the change:\n{check.stdout}")
    return [config_path, *others, *notebooks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="https://github.com/OWNER/NAME")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    try:
        old = current_url(args.root)
        set_repo(args.url, args.root)
    except ValueError as error:
        print(f"set-repo: {error}", file=sys.stderr)
        return 2
    print(
        f"repository: {old} -> {args.url} "
        "(_config.yml, CITATION.cff, README.md, book/instructors.md, setup cells)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
