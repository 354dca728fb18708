"""companion's modules form layers: a module imports only from its own layer or the ones below.

A reader can then learn the package bottom-up (masks before attention, attention before layers,
layers before models), and a change low down cannot be broken by an import cycle from above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "companion"

# Lowest first. A module (or package) of layer n may import from layers 0..n.
LAYERS: list[tuple[str, ...]] = [
    ("validators", "files", "runtime"),  # plumbing, no torch modules
    ("masks", "positional", "tokenizers", "ngram", "checkpoint", "viz"),  # leaves
    ("data",),  # batches, corpora and generated tasks (may use masks and tokenizers)
    ("attention",),
    ("layers",),
    ("models",),
    ("generate", "train", "pretraining", "pretrained"),  # what is done with models
    ("course",),  # checkers, their registry, grading, the student edition
    ("__init__",),  # the package's top-level exports
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def top_module(path: Path) -> str:
    """``companion/data/batches.py`` -> ``data``; ``companion/attention.py`` -> ``attention``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported(path: Path) -> set[str]:
    """The companion modules (first component after ``companion.``) that ``path`` imports,
    at any depth (function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "companion":  # from companion import validators as check
                names = [f"companion.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("companion.")}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    unranked = {top_module(p) for p in MODULES} - set(RANK)
    assert not unranked, f"add {sorted(unranked)} to LAYERS in tests/test_architecture.py"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_higher_layer(path):
    own = top_module(path)
    higher = {m for m in imported(path) - {own} if RANK[m] > RANK[own]}
    assert not higher, (
        f"companion/{path.relative_to(PACKAGE)} (layer {RANK[own]}, {own}) imports "
        f"{sorted(higher)} from a higher layer; move the shared piece down (e.g. a mask helper "
        "into companion.masks) instead"
    )


def test_the_check_would_catch_a_data_module_importing_attention(tmp_path):
    """The scanner sees what the rule is about (a data module reaching up for a mask helper)."""
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from companion.attention import padding_mask\n")
    assert imported(fake) == {"attention"} and RANK["attention"] > RANK["data"]
