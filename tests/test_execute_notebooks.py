"""tools/execute_notebooks.py stores a cell's streams as the reader saw them."""

from __future__ import annotations

import nbformat
from execute_notebooks import settle_progress_bars  # tools/ is on sys.path (pyproject's pythonpath)


def stream(name: str, text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name=name, text=text)


def settled(*outputs: nbformat.NotebookNode) -> list[dict]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("train()")])
    nb.cells[0].outputs = list(outputs)
    settle_progress_bars(nb)
    return [dict(o) for o in nb.cells[0].outputs]


def test_a_bar_keeps_only_its_last_drawing():
    out = settled(stream("stderr", "\r 10%|#    | 1/10"), stream("stderr", "\r100%|#####| 10/10\n"))
    assert out == [{"output_type": "stream", "name": "stderr", "text": "100%|#####| 10/10\n"}]


def test_an_erased_bar_leaves_one_run_of_the_text_around_it():
    out = settled(
        stream("stdout", "step 0\n"),
        stream("stderr", "\r 50%|##   | 5/10"),
        stream("stderr", "\r                 \r"),
        stream("stdout", "val loss 1.23\n"),
    )
    assert out == [{"output_type": "stream", "name": "stdout", "text": "step 0\nval loss 1.23\n"}]
