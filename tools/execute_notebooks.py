"""Re-execute notebooks in place and store their outputs: what `make notebooks` runs.

    python tools/execute_notebooks.py [notebooks/20_attention.ipynb ...]   # default: all

The profile is ``COMPANION_PROFILE`` if set, else ``gpu`` when CUDA is available, else ``cpu``
(CONVENTIONS §3: the book shows the publish profile's outputs). Each notebook runs top to
bottom in a fresh kernel of this Python (the same kernel nbval's --nbval-current-env starts),
with the notebook's folder as working directory, as nbval runs it. Metadata that changes on
every run (cell timings, the Python patch version, widget state) is not stored, so a re-run
that produces the same outputs leaves the file unchanged. A progress bar's redraws are stored as
the reader would have seen them: only its last state (see :func:`settle_progress_bars`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
# Text that a later carriage return on the same line draws over (nbval and myst-nb use the same).
OVERWRITTEN = re.compile(r".*\r(?=[^\n])")


class CurrentEnvKernelSpecs(KernelSpecManager):
    """Resolve every kernel name to ipykernel in this interpreter, never a kernel installed elsewhere."""

    def get_kernel_spec(self, kernel_name: str):
        return self.kernel_spec_class(
            resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
        )


def publish_profile() -> str:
    if os.environ.get("COMPANION_PROFILE"):
        return os.environ["COMPANION_PROFILE"]
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def strip_volatile_metadata(nb: nbformat.NotebookNode) -> None:
    nb.metadata.pop("widgets", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # nbclient/JupyterLab timestamps
        cell.metadata.pop("ExecuteTime", None)  # the ExecuteTime extension
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)


def settle_progress_bars(nb: nbformat.NotebookNode) -> None:
    """Store each cell's streams as a reader saw them: one output per run of a stream, and of each
    line only what is left after its last ``\\r``; a stream left blank (an erased bar) is dropped.

    tqdm redraws its bar with ``\\r``, one message per redraw; Jupyter shows the last drawing, but
    the kernel's messages are stored one output each (a 2,000-step bar is thousands of lines once
    HTML turns each output, and each ``\\r``, into a line break).
    """
    for cell in nb.cells:
        if "outputs" not in cell:
            continue
        outputs = merge_streams(cell.outputs)
        for output in outputs:
            if output.output_type == "stream":
                output.text = OVERWRITTEN.sub("", output.text).replace("\r\n", "\n")
        # a bar erased at its end (tqdm's leave=False) leaves only blanks: an empty box in the book;
        # the streams on either side of it are then one run again
        kept = [o for o in outputs if o.output_type != "stream" or o.text.strip()]
        cell.outputs = merge_streams(kept)


def merge_streams(outputs: list) -> list:
    """The outputs with each run of adjacent outputs of one stream joined into one."""
    merged = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and last is not None
            and last.output_type == "stream"
            and last.name == output.name
        ):
            last.text += output.text
        else:
            merged.append(output)
    return merged


def execute(path: Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernelSpecs())
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        record_timing=False,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    settle_progress_bars(nb)
    strip_volatile_metadata(nb)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    args = ap.parse_args()
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))

    os.environ["COMPANION_PROFILE"] = profile = publish_profile()
    print(
        f"executing {len(paths)} notebook(s) with COMPANION_PROFILE={profile}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, python {sys.executable}"
    )
    for path in paths:
        start = time.perf_counter()
        execute(path.resolve(), args.timeout)
        print(f"  {path}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
