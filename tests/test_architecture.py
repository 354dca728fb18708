"""companion's modules form layers: a module imports only from its own layer or the ones below.

A reader can then learn the package bottom-up (masks before attention, attention before layers,
layers before models), and a change low down cannot be broken by an import cycle from above.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "companion"

# Lowest first. A module (or package) of layer n may import from layers 0..n.
LAYERS: list[tuple[str, ...]] = [
    ("validators", "files", "runtime"),  # plumbing, no torch modules
    (
        "masks",
        "positional",
        "tokenizers",
        "ngram",
        "checkpoint",
        "viz",
        "autodiff",
        "ising",
        "scaling",
        "phi",
        "probes",
        "distributed",
        "memory",
    ),  # leaves
    ("data",),  # batches, corpora and generated tasks (may use masks and tokenizers)
    ("metrics",),  # BLEU, chrF and ROUGE on strings (chapter 42)
    ("attention", "recurrent"),  # recurrent: RNN, LSTM and GRU seq2seq with additive attention
    ("layers",),
    ("models",),
    # what is done with models: decode, train, pre-train, load weights, search, prefer
    ("generate", "train", "objectives", "pretrained", "retrieval", "preference", "seq2seq"),
    # adapters, int8, pruning; the book's training recipes; the Part VI experiments (chapters 50-53)
    # length generalization (chapter 61), meta-learning episodes (chapter 62), calibration (chapter 71)
    (
        "lora",
        "compression",
        "recipes",
        "arithmetic",
        "grokking",
        "induction",
        "mlc",
        "length",
        "calibration",
    ),
    ("train_gpt",),  # chapter 31's recipe from the command line, under torchrun (chapter 35)
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


# A shape is written as in the docstrings: ``(batch, seq, d_model)``, ``(..., q_len, d_k)``, ``(n,)``.
SHAPE = re.compile(r"\((?:\.\.\.|[A-Za-z_][\w +*-]*)(?:, ?(?:\.\.\.|[\w +*-]+))*,?\)|scalar")


def tensor_functions() -> list[tuple[str, ast.FunctionDef]]:
    """Public functions and methods (and every ``forward``) whose signature mentions a Tensor."""
    found = []
    for path in MODULES:
        if top_module(path) == "course":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name[0] != "_"]
        members = [(f"{c.name}.", n) for c in classes for n in c.body] + [
            ("", n) for n in tree.body
        ]
        for prefix, node in members:
            if not isinstance(node, ast.FunctionDef) or (
                node.name[0] == "_" and node.name != "__call__"
            ):
                continue
            signature = ast.unparse(node.args) + (ast.unparse(node.returns) if node.returns else "")
            if "Tensor" in signature:
                found.append((f"{path.relative_to(PACKAGE)}: {prefix}{node.name}", node))
    return found


def test_public_tensor_functions_state_their_shapes():
    """The conventions promise a shape for every tensor a public function takes or returns: its
    docstring states at least one, as ``(batch, seq, d_model)`` (or says the result is a scalar)."""
    functions = tensor_functions()
    assert len(functions) >= 40  # the walk found the package's functions
    missing = [name for name, node in functions if not SHAPE.search(ast.get_docstring(node) or "")]
    assert not missing, f"docstrings without a shape: {missing}"
