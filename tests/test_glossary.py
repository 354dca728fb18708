"""book/glossary.md is the book's one list of terms: each entry's Chinese is the Chinese the book
uses, and the page an entry says introduces the term really does, with that Chinese beside it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GLOSSARY = REPO / "book" / "glossary.md"
CJK = re.compile(r"[\u3400-\u9fff]")
LINK = re.compile(r"\[[^\]]*\]\(([^)#]+)(?:#[^)]*)?\)")


@dataclass
class Entry:
    terms: list[str]  # the English term and its aliases
    chinese: list[str]  # the term lines written in Chinese
    definition: str

    @property
    def page(self) -> Path | None:
        """The page the entry points at first: the one that introduces the term."""
        link = LINK.search(self.definition)
        return (GLOSSARY.parent / link.group(1)).resolve() if link else None


def entries() -> list[Entry]:
    text = GLOSSARY.read_text(encoding="utf-8")
    block = text.split("```{glossary}\n", 1)[1].split("\n```", 1)[0]
    found = []
    for chunk in block.strip().split("\n\n"):
        lines = chunk.splitlines()
        heads = [line for line in lines if not line.startswith(" ")]
        definition = " ".join(line.strip() for line in lines if line.startswith(" "))
        found.append(
            Entry(
                terms=[h for h in heads if not CJK.search(h)],
                chinese=[h for h in heads if CJK.search(h)],
                definition=definition,
            )
        )
    return found


def page_text(page: Path) -> str:
    """What a reader reads on the page: a notebook's markdown cells, or a markdown file."""
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return page.read_text(encoding="utf-8")


ENTRIES = entries()


def test_the_glossary_parses_into_entries():
    assert len(ENTRIES) > 80
    assert all(e.terms and e.definition for e in ENTRIES), [e for e in ENTRIES if not e.terms]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.terms[0])
def test_each_term_is_introduced_with_its_chinese_on_the_page_it_points_to(entry):
    assert entry.page is not None, f"{entry.terms[0]}: the entry names no page that introduces it"
    assert entry.page.exists(), f"{entry.terms[0]}: {entry.page} does not exist"
    text = page_text(entry.page)
    missing = [zh for zh in entry.chinese if zh not in text]
    assert not missing, (
        f"glossary entry {entry.terms[0]!r} says {entry.page.name} introduces it, but that page "
        f"never writes {missing}: put the Chinese beside the term where the page introduces it, "
        "or point the entry at the page that does"
    )


def test_terms_are_sorted_and_unique():
    keys = [e.terms[0].casefold() for e in ENTRIES]
    assert len(keys) == len(set(keys)), "a term is listed twice"
    assert keys == sorted(keys), "keep the glossary in alphabetical order"
