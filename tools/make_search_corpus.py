"""Write companion/data/texts/search_corpus.json: chapter 41's search corpus, a frozen snapshot.

The documents are the book's own text (licence: the book's, MIT): every entry of
book/glossary.md (term, Chinese term, definition; the pointer to the chapters, "Introduced in
...", "Mentioned in ..." or "First used in ...", kept apart as ``source`` so that it is neither
searched nor a candidate answer) and one summary per written chapter (the "What it covers" column
of the map in book/intro.md). The snapshot is NOT regenerated as the glossary grows, so that the
queries in search_queries.json keep pointing at the documents they were written for; the tool
refuses to overwrite it without ``--force``. ``--at COMMIT`` reads the two files as they were at
that commit (the shipped snapshot: ``--at 97cb23a``)::

    .venv/bin/python tools/make_search_corpus.py --at 97cb23a --force
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "companion" / "data" / "texts" / "search_corpus.json"
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # [text](target) -> text
CJK = re.compile(r"[\u3400-\u9fff]")
# The glossary's pointers to the chapters, at the end of a definition.
POINTER = re.compile(r"\s(?=(?:Introduced in|Mentioned in|First used in) )")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def read(path: str, commit: str | None) -> str:
    """A file of the repository, as it is now or as it was at ``commit``."""
    if commit is None:
        return (REPO / path).read_text(encoding="utf-8")
    return subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def glossary(body: str) -> list[dict]:
    body = body.split("```{glossary}", 1)[1].rsplit("```", 1)[0]
    docs = []
    for block in body.strip().split("\n\n"):
        lines = block.strip("\n").splitlines()
        heads = [ln for ln in lines if not ln.startswith(" ")]
        definition = " ".join(ln.strip() for ln in lines if ln.startswith(" "))
        term = heads[0].strip()
        chinese = " / ".join(h.strip() for h in heads[1:] if CJK.search(h))
        aliases = [h.strip() for h in heads[1:] if not CJK.search(h)]  # BPE, look-ahead mask
        definition = LINK.sub(r"\1", definition)
        text, *source = POINTER.split(definition, maxsplit=1)
        docs.append(
            {
                "id": "g-" + slug(term),
                "kind": "glossary",
                "title": term,
                "aliases": aliases,
                "chinese": chinese,
                "text": text.strip(),
                "source": source[0].strip() if source else "",
            }
        )
    return docs


def chapters(intro: str) -> list[dict]:
    docs = []
    for line in intro.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or "../notebooks/" not in cells[1] or cells[4] != "written":
            continue
        title, target = re.match(
            r"\[([^\]]*)\]\(\.\./notebooks/([^)]*)\.ipynb\)", cells[1]
        ).groups()
        docs.append(
            {
                "id": "c-" + target.split("_", 1)[0],
                "kind": "chapter",
                "title": title,
                "aliases": [],
                "chinese": "",
                "text": LINK.sub(r"\1", cells[2]),
                "source": f"notebooks/{target}.ipynb (the map in book/intro.md)",
            }
        )
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", metavar="COMMIT", help="read the glossary and map at this commit")
    parser.add_argument("--force", action="store_true", help="overwrite the frozen snapshot")
    args = parser.parse_args()
    if OUT.exists() and not args.force:
        sys.exit(
            f"{OUT.relative_to(REPO)} is a frozen snapshot that search_queries.json points into; "
            "pass --force to overwrite it (and check every question still has its documents)"
        )
    commit = (
        args.at
        or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    )
    docs = glossary(read("book/glossary.md", args.at)) + chapters(read("book/intro.md", args.at))
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicate document ids"
    snapshot = {
        "description": "Chapter 41's search corpus: the book's glossary entries and chapter "
        "summaries, frozen (the glossary keeps growing; this file does not).",
        "provenance": f"tools/make_search_corpus.py on book/glossary.md and book/intro.md at "
        f"commit {commit}",
        "licence": "MIT (the book's own text; see pyproject.toml)",
        "documents": docs,
    }
    OUT.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(docs)} documents -> {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
