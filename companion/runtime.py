"""Where code runs and how big its runs are: device choice, seeding, and the run profile.

The run profile sizes every training cell of the book (CONVENTIONS §3). It is read from the
environment variable ``COMPANION_PROFILE``:

=========  ==========================================  ==============================
profile    where                                        budget for one training cell
=========  ==========================================  ==============================
``ci``     ``make test`` on 2 CPU cores                 seconds
``cpu``    a laptop with no GPU (default without CUDA)  about 1-3 minutes
``gpu``    Colab T4 or better (default with CUDA)       about 2-5 minutes on a T4
=========  ==========================================  ==============================
"""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from importlib.metadata import version
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

# pip's name for this package, which is imported as `companion`: `companion` on PyPI is another
# project. The setup cells install it as DISTRIBUTION @ git+REPO@v{__version__}.
DISTRIBUTION = "llm-textbook-companion"

PROFILE_ENV = "COMPANION_PROFILE"


@dataclass(frozen=True)
class Profile:
    """A run profile: its name and where it is meant to run (the budgets are in the table above)."""

    name: str
    where: str

    def pick(self, *, ci: T, cpu: T, gpu: T) -> T:
        """Return the value given for this profile, e.g. ``steps = p.pick(ci=50, cpu=2000, gpu=5000)``."""
        return {"ci": ci, "cpu": cpu, "gpu": gpu}[self.name]


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", "make test on 2 CPU cores"),
    "cpu": Profile("cpu", "a laptop CPU"),
    "gpu": Profile("gpu", "a Colab T4 or better"),
}


def profile() -> Profile:
    """The run profile named by ``COMPANION_PROFILE``; ``gpu`` if unset and CUDA is available, else ``cpu``.

    Raises:
        ValueError: if the variable names no known profile.
    """
    name = os.environ.get(PROFILE_ENV, "").strip().lower()
    if not name:
        return PROFILES["gpu" if torch.cuda.is_available() else "cpu"]
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a known profile; expected one of "
            f"{sorted(PROFILES)} (e.g. `export {PROFILE_ENV}=cpu`), or leave it unset"
        )
    return PROFILES[name]


def device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and every CUDA device) random generators."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int, e.g. seed_everything(0)")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global generator is what we seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def describe() -> str:
    """One line per fact a reader needs to compare their run with the book's: versions, device, profile."""
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    p = profile()
    return "\n".join(
        [
            f"python {platform.python_version()}, torch {torch.__version__}, "
            f"companion {version(DISTRIBUTION)}",
            f"device: {dev.type} ({name})",
            f"profile: {p.name} ({p.where})",
        ]
    )
