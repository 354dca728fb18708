"""Shared test settings: a fixed thread count, deterministic algorithms, hypothesis profiles."""

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

settings.register_profile("default", deadline=None, max_examples=25)
settings.register_profile("thorough", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COMPANION_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder that supplies the tests' data instead of the network (../shared/data)."""
    path = SHARED_DATA / "tinyshakespeare.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: tests read Tiny Shakespeare from ../shared/data "
            "(set COMPANION_SHARED_DATA to the folder that holds tinyshakespeare.txt)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def shakespeare_text(shared_data) -> str:
    """Tiny Shakespeare from ../shared/data (never the network)."""
    return (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")
