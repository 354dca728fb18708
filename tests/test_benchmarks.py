"""The benchmark scripts run and print what the README reports (tiny sizes: seconds, not a timing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs notebooks or scripts in subprocesses

REPO = Path(__file__).resolve().parents[1]


def test_train_gpt_benchmark_prints_both_times_and_the_ratio():
    args = ["--layers", "1", "--d-model", "32", "--heads", "2", "--context", "16", "--batch", "4"]
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "train_gpt.py"),
            *args,
            "--steps",
            "2",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = result.stdout
    assert re.search(
        r"GPT: 1 layers, d_model 32, 2 heads, context 16, batch 4, [\d,]+ parameters", out
    )
    for name in ("companion", "torch.nn"):
        assert re.search(rf"{re.escape(name)}\s+\d+\.\d\d ms/step", out), out
    assert re.search(r"ratio torch\.nn / companion: \d+\.\d\dx", out), out


def test_bpe_encode_benchmark_prints_times_slopes_and_ratios(test_data):
    script = REPO / "benchmarks" / "bpe_encode.py"
    sizes = ["--min-chars", "100", "--max-chars", "1000", "--max-rescan-chars", "1000"]
    result = subprocess.run(
        [sys.executable, str(script), *sizes, "--vocab-size", "300", "--repeats", "1"],
        env={**os.environ, "COMPANION_DATA": str(test_data)},  # Tiny Shakespeare, offline
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = result.stdout
    assert "BPE: 300 ids, trained on 200,000 characters" in out, out
    for name in ("English", "one chunk"):
        for size in ("100", "1,000"):
            assert re.search(
                rf"{name}\s+{size} chars\s+companion\s+\d+\.\d+ s .* ratio rescan / companion: "
                r"\d+\.\d\dx",
                out,
            ), out
        assert re.search(rf"{name} log-log slope of time against length: -?\d+\.\d\d", out), out
