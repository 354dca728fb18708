"""tools/run_as_script.py: a notebook's code cells run in order in one namespace, each cell's
output and time printed, and the run stops at the first cell that raises."""

from __future__ import annotations

import json

from run_as_script import run


def notebook(tmp_path, *sources: str):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# title"]}]
    cells += [{"cell_type": "code", "metadata": {}, "source": [s], "outputs": []} for s in sources]
    path = tmp_path / "nb.ipynb"
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


def test_cells_share_one_namespace_and_print_in_order(tmp_path, capsys):
    assert run(notebook(tmp_path, "x = 20", "print('x is', x + 1)"))
    out = capsys.readouterr().out
    assert "x is 21" in out
    assert out.index("##### cell 1") < out.index("##### cell 2") < out.index("x is 21")
    assert "OK total" in out


def test_stops_at_the_first_failing_cell(tmp_path, capsys):
    assert not run(
        notebook(tmp_path, "print('first')", "assert 1 == 2, 'broken'", "print('never')")
    )
    out = capsys.readouterr().out
    assert "first" in out and "AssertionError: broken" in out
    assert "##### cell 2 FAILED after" in out and "never" not in out and "FAILED total" in out
