"""Shared test settings: a fixed thread count, deterministic algorithms, hypothesis profiles, and
the data folder the tests read instead of the network."""

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from companion.data.corpora import DATA_ENV, TINY_SHAKESPEARE

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

settings.register_profile("default", deadline=None, max_examples=25)
settings.register_profile("thorough", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
# One variable names the data folder for make, the tests and the package: $COMPANION_DATA
# (make sets it to tests/data, the copy the repository carries).
TEST_DATA = Path(os.environ.get(DATA_ENV) or REPO / "tests" / "data")


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The folder that supplies the tests' data instead of the network."""
    path = TEST_DATA / TINY_SHAKESPEARE.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: tests read Tiny Shakespeare from $COMPANION_DATA, by default "
            f"tests/data in the repository; set COMPANION_DATA to a folder holding "
            f"{TINY_SHAKESPEARE.filename}"
        )
    return TEST_DATA


@pytest.fixture(scope="session")
def shakespeare_text(test_data) -> str:
    """Tiny Shakespeare from the test data folder (never the network)."""
    return (test_data / TINY_SHAKESPEARE.filename).read_text(encoding="utf-8")
