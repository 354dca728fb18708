"""Write companion/data/texts/search_corpus.json: chapter 41's search corpus, a frozen snapshot.

The documents are the book's own text (licence: the book's, MIT): every entry of
book/glossary.md (term, Chinese term, definition; the "Introduced in ..." pointer kept apart as
``source``) and one summary per written chapter (the "What it covers" column of the map in
book/intro.md). Run once; the snapshot is NOT regenerated as the glossary grows, so that the
queries in search_queries.json keep pointing at the documents they were written for::

    .venv/bin/python tools/make_search_corpus.py
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "companion" / "data" / "texts" / "search_corpus.json"
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # [text](target) -> text
CJK = re.compile(r"[\u3400-\u9fff]")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def glossary() -> list[dict]:
    body = (REPO / "book" / "glossary.md").read_text(encoding="utf-8")
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
        text, _, source = definition.partition(" Introduced in ")
        docs.append(
            {
                "id": "g-" + slug(term),
                "kind": "glossary",
                "title": term,
                "aliases": aliases,
                "chinese": chinese,
                "text": text.strip(),
                "source": ("Introduced in " + source).strip() if source else "",
            }
        )
    return docs


def chapters() -> list[dict]:
    docs = []
    for line in (REPO / "book" / "intro.md").read_text(encoding="utf-8").splitlines():
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
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    docs = glossary() + chapters()
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
