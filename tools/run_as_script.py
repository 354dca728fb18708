"""Run a notebook's code cells in order as one script, printing each cell's output and wall time.

    COMPANION_PROFILE=gpu python tools/run_as_script.py notebooks/31_train_gpt.ipynb

For machines without Jupyter (the GPU machine the `gpu` profile was checked on has PyTorch but no
nbclient): nothing is stored back into the notebook. Figures are drawn with matplotlib's Agg
backend and closed; the run stops at the first cell that raises, with its traceback. The last
line gives the notebook's total time and, on CUDA, its peak allocated GPU memory. Exit status 0
when every cell ran.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def run(path: Path) -> bool:
    """Execute the code cells of ``path`` in one namespace; True if all of them ran."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {"__name__": "__main__"}
    start = time.perf_counter()
    ok = True
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        print(f"\n##### cell {i} tags={cell['metadata'].get('tags', [])}", flush=True)
        t = time.perf_counter()
        try:
            exec(compile("".join(cell["source"]), f"{path}:cell{i}", "exec"), namespace)
        except Exception:
            traceback.print_exc(file=sys.stdout)
            ok = False
        finally:
            plt.close("all")
            if torch.cuda.is_available():
                torch.cuda.synchronize()
        print(
            f"##### cell {i} {'wall' if ok else 'FAILED after'} {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        if not ok:
            break
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    print(
        f"\n##### NOTEBOOK {path} {'OK' if ok else 'FAILED'} total {time.perf_counter() - start:.1f} s, "
        f"peak CUDA memory {peak:.0f} MiB",
        flush=True,
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    sys.exit(0 if run(parser.parse_args().notebook) else 1)


if __name__ == "__main__":
    main()
