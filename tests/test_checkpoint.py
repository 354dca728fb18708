"""Checkpoints: exact round trips, tied weights, clear errors, corruption, atomic writes."""

import ast
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from torch import nn

import companion.checkpoint as ckpt
from companion.checkpoint import (
    load_model,
    load_training_state,
    read_metadata,
    save_model,
    save_training_state,
)
from companion.models import GPT, GPTConfig
from companion.train import History, TrainConfig, TrainState

# --------------------------------------------------------------------------- a toy model


@dataclass
class ToyConfig:
    vocab_size: int = 11
    d_model: int = 8
    n_layers: int = 1
    tie: bool = True


class Toy(nn.Module):
    """Embedding -> Linear layers -> LayerNorm -> output layer tied to the embedding."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.emb = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(
            nn.Linear(config.d_model, config.d_model) for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.register_buffer("temperature", torch.tensor(1.5))  # a 0-d buffer
        if config.tie:
            self.head.weight = self.emb.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (batch, seq) -> (batch, seq, vocab)
        h = self.emb(ids)
        for layer in self.layers:
            h = h + torch.relu(layer(h))
        return self.head(self.norm(h)) / self.temperature


class OtherToy(Toy):
    pass


def make(seed: int = 0, cls: type = Toy, **config) -> nn.Module:
    torch.manual_seed(seed)
    return cls(ToyConfig(**config))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def file_keys(path: Path) -> set[str]:
    with safetensors.safe_open(path, framework="pt") as f:
        return set(f.keys())


# --------------------------------------------------------------------------- round trips


def state_of(model, optimizer, scheduler=None, step=0, generator=None, history=None) -> TrainState:
    """A TrainState around the given pieces (a constant schedule and a fresh generator by default)."""
    scheduler = scheduler or torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0)
    return TrainState(
        model,
        optimizer,
        scheduler,
        torch.amp.GradScaler("cpu", enabled=False),
        generator or torch.Generator(),
        TrainConfig(),
        step,
        History(**(history or {})),
    )


def test_model_round_trip_is_exact(tmp_path):
    source, target = make(0), make(1)
    assert not torch.equal(source.emb.weight, target.emb.weight)
    save_model(source, tmp_path / "m.safetensors")
    assert load_model(target, tmp_path / "m.safetensors") is target
    assert_state_equal(snapshot(target), snapshot(source))
    ids = torch.randint(11, (2, 5))
    assert torch.equal(target(ids), source(ids))
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["kind"] == "model" and meta["model_class"] == "Toy"
    assert meta["model_config"] == {"vocab_size": 11, "d_model": 8, "n_layers": 1, "tie": True}


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    assert "model.emb.weight" in file_keys(path) and "model.head.weight" not in file_keys(path)
    assert read_metadata(path)["aliases"] == {"head.weight": "emb.weight"}
    target = load_model(make(1), path)
    assert target.head.weight is target.emb.weight
    assert torch.equal(target.head.weight, make(0).emb.weight)


def test_untied_weights_are_both_stored(tmp_path):
    path = tmp_path / "m.safetensors"
    source = make(0, tie=False)
    save_model(source, path)
    assert {"model.emb.weight", "model.head.weight"} <= file_keys(path)
    assert_state_equal(snapshot(load_model(make(1, tie=False), path)), snapshot(source))


@pytest.mark.parametrize("tie", [True, False])
def test_gpt_round_trip_keeps_the_tie(tmp_path, tie):
    path = tmp_path / "gpt.safetensors"
    config = GPTConfig(vocab_size=20, d_model=16, n_heads=2, n_layers=2, max_len=8, tie_weights=tie)
    torch.manual_seed(0)
    source = GPT(config)
    save_model(source, path)
    rebuilt = GPT(GPTConfig(**read_metadata(path)["model_config"]))  # the config travels along
    load_model(rebuilt, path)
    assert (rebuilt.lm_head.weight is rebuilt.body.embed.token.weight) == tie
    assert_state_equal(snapshot(rebuilt), snapshot(source))
    ids = torch.randint(20, (2, 8))
    assert torch.equal(rebuilt(ids), source(ids))


def test_training_state_round_trip_restores_everything(tmp_path):
    path = tmp_path / "t.safetensors"
    model = make(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 / (i + 1))
    for _ in range(3):
        model(torch.randint(11, (2, 5))).square().mean().backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    gen = torch.Generator().manual_seed(5)
    torch.randint(10, (3,), generator=gen)
    torch.manual_seed(42)
    random.seed(42)
    np.random.seed(42)  # noqa: NPY002
    history = {"steps": [1, 2, 3], "train_loss": [2.5, 2.25, float("nan")]}
    expected = {
        "model": snapshot(model),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "gen": gen.get_state(),
        "torch": torch.get_rng_state(),
        "random": random.getstate(),
        "numpy": np.random.get_state()[1].copy(),  # noqa: NPY002
    }
    save_training_state(state_of(model, opt, sched, 3, gen, history), path)

    # scramble every state, then restore into freshly built objects
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002
    model2 = make(1)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1.0)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda i: 1.0 / (i + 1))
    gen2 = torch.Generator().manual_seed(0)
    step, hist = load_training_state(state_of(model2, opt2, sched2, 0, gen2), path)

    assert step == 3 and hist["steps"] == [1, 2, 3] and np.isnan(hist["train_loss"][2])
    assert_state_equal(snapshot(model2), expected["model"])
    assert model2.head.weight is model2.emb.weight
    got = opt2.state_dict()
    assert got["param_groups"] == expected["opt"]["param_groups"]  # betas back to a tuple too
    for i, state in expected["opt"]["state"].items():
        assert state.keys() == got["state"][i].keys()
        for name, value in state.items():
            assert torch.equal(got["state"][i][name], value), (i, name)
    assert sched2.state_dict() == expected["sched"]
    assert torch.equal(gen2.get_state(), expected["gen"])
    assert torch.equal(torch.get_rng_state(), expected["torch"])
    assert random.getstate() == expected["random"]
    assert np.array_equal(np.random.get_state()[1], expected["numpy"])  # noqa: NPY002


def test_load_model_reads_the_weights_of_a_training_checkpoint(tmp_path):
    path = tmp_path / "t.safetensors"
    model = make(0)
    opt = torch.optim.AdamW(model.parameters())
    save_training_state(state_of(model, opt), path)
    assert_state_equal(snapshot(load_model(make(1), path)), snapshot(model))


def test_a_weights_only_checkpoint_cannot_resume(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    model = make(1)
    with pytest.raises(ValueError, match="'model' checkpoint .* cannot resume training"):
        load_training_state(state_of(model, torch.optim.AdamW(model.parameters())), path)


def test_an_optimizer_of_another_structure_is_rejected_before_anything_changes(tmp_path):
    path = tmp_path / "t.safetensors"
    model = make(0)
    save_training_state(state_of(model, torch.optim.AdamW(model.parameters()), step=1), path)
    target = make(1)
    before = snapshot(target)
    two_groups = torch.optim.AdamW(
        [{"params": [target.emb.weight]}, {"params": target.norm.parameters()}]
    )
    with pytest.raises(ValueError, match=r"groups of sizes \[5\], .* groups of sizes \[1, 2\]"):
        load_training_state(state_of(target, two_groups), path)
    assert_state_equal(snapshot(target), before)


# --------------------------------------------------------------------------- mismatches


def test_a_different_config_names_the_fields_and_the_keys(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0, n_layers=1, d_model=8), path)
    target = make(1, n_layers=2, d_model=12)
    before = snapshot(target)
    with pytest.raises(ValueError) as info:
        load_model(target, path)
    message = str(info.value)
    assert str(path) in message
    assert "d_model: checkpoint 8, model 12" in message
    assert "n_layers: checkpoint 1, model 2" in message
    assert (
        "missing keys (in the model, not in the checkpoint): layers.1.bias, layers.1.weight"
        in message
    )
    assert "shape mismatches: emb.weight: checkpoint (11, 8), model (11, 12)" in message
    assert_state_equal(snapshot(target), before)  # a failed load changes nothing


def test_unexpected_keys_are_named(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0, n_layers=2), path)
    with pytest.raises(
        ValueError, match=r"unexpected keys \(in the checkpoint, not in the model\): layers.1.bias"
    ):
        load_model(make(1, n_layers=1), path)


def test_a_different_model_class_is_rejected(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    with pytest.raises(ValueError, match="holds a Toy but the model is a OtherToy"):
        load_model(make(1, cls=OtherToy), path)


# --------------------------------------------------------------------------- damaged files


def test_a_missing_file_raises_file_not_found_with_the_path(tmp_path):
    path = tmp_path / "nowhere" / "m.safetensors"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model(make(0), path)


def test_a_truncated_file_is_reported_and_the_model_is_unchanged(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    target = make(1)
    before = snapshot(target)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_model(target, path)
    assert_state_equal(snapshot(target), before)


def test_a_file_that_is_not_safetensors_is_reported(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_text("this is not a checkpoint")
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_model(make(0), path)


def test_a_flipped_byte_in_the_tensor_data_fails_the_checksum(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    data = bytearray(path.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    data_start = 8 + header_len
    data[(data_start + len(data)) // 2] ^= 0x01  # one bit in the middle of the tensor bytes
    path.write_bytes(bytes(data))
    target = make(1)
    before = snapshot(target)
    with pytest.raises(ValueError, match="corrupted: its sha256 checksum does not match"):
        load_model(target, path)
    assert_state_equal(snapshot(target), before)


def test_edited_metadata_fails_the_checksum(tmp_path):
    path = tmp_path / "t.safetensors"
    model = make(0)
    save_training_state(state_of(model, torch.optim.AdamW(model.parameters()), step=2), path)
    data = path.read_bytes()
    assert data.count(b'\\"step\\": 2') == 1
    path.write_bytes(data.replace(b'\\"step\\": 2', b'\\"step\\": 3'))  # still valid JSON
    with pytest.raises(ValueError, match="corrupted"):
        read_metadata(path)


def test_a_plain_safetensors_file_is_not_taken_for_a_checkpoint(tmp_path):
    path = tmp_path / "m.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a companion checkpoint"):
        load_model(make(0), path)


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_previous_file_and_no_temp_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    good = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, failing, disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_model(make(1), path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["m.safetensors"]
    load_model(make(2), path)


def test_save_creates_missing_folders_and_overwrites(tmp_path):
    path = tmp_path / "a" / "b" / "m.safetensors"
    save_model(make(0), path)
    save_model(make(1), path)
    assert_state_equal(snapshot(load_model(make(2), path)), snapshot(make(1)))
    assert os.listdir(path.parent) == ["m.safetensors"]


def test_metadata_is_plain_json_in_the_safetensors_header(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(make(0), path)
    with safetensors.safe_open(path, framework="pt") as f:
        meta = json.loads(f.metadata()["companion"])
    assert meta["format_version"] == ckpt.FORMAT_VERSION and len(meta["sha256"]) == 64


def test_no_pickle_anywhere_in_the_checkpoint_code():
    """No `import pickle`, no `torch.load`/`torch.save` (pickle-based) in checkpoint.py or train.py."""
    for module in ("checkpoint.py", "train.py"):
        tree = ast.parse(Path(ckpt.__file__).with_name(module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("pickle" in n for n in names), (module, names)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in {("torch", "load"), ("torch", "save")}
