"""Device choice, seeding and the run profile."""

import random

import numpy as np
import pytest
import torch

import companion
from companion import runtime


@pytest.mark.parametrize("name", ["ci", "cpu", "gpu", " CPU "])
def test_profile_from_environment(monkeypatch, name):
    monkeypatch.setenv("COMPANION_PROFILE", name)
    assert runtime.profile().name == name.strip().lower()


def test_default_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv("COMPANION_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.profile().name == "gpu"


def test_unknown_profile(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "tpu")
    with pytest.raises(
        ValueError, match=r"COMPANION_PROFILE='tpu' is not a known profile.*\['ci', 'cpu', 'gpu'\]"
    ):
        runtime.profile()


def test_pick_returns_the_value_for_the_profile():
    picked = [runtime.PROFILES[n].pick(ci=1, cpu=2, gpu=3) for n in ("ci", "cpu", "gpu")]
    assert picked == [1, 2, 3]


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)  # noqa: NPY002

    runtime.seed_everything(123)
    a = draw()
    runtime.seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError, match="non-negative int"):
        runtime.seed_everything(-1)


def test_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert runtime.device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.device().type == "cuda"


def test_describe_names_versions_device_and_profile(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "ci")
    text = runtime.describe()
    assert f"torch {torch.__version__}" in text and "device: " in text and "profile: ci" in text
    # the installed version of companion.DISTRIBUTION (pip's name for companion)
    assert f"companion {companion.__version__}" in text
