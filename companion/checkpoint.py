"""Checkpoints: one ``.safetensors`` file per checkpoint, written atomically, checked on load.

A checkpoint holds tensors and JSON, never pickles, so loading one cannot run code:

============================  ===========================================================
tensor key                    what
============================  ===========================================================
``model.<name>``              the model's ``state_dict`` (a tied weight stored once)
``optimizer.<i>.<name>``      optimizer state of parameter ``i`` (AdamW: ``step``,
                              ``exp_avg``, ``exp_avg_sq``), training checkpoints only
``rng.torch_cpu``             ``torch.get_rng_state()`` (dropout on the CPU, ...)
``rng.cuda.<d>``              the RNG state of CUDA device ``d``, when CUDA is available
``rng.data``                  the state of the generator that draws training batches
``rng.rank.<r>.torch_cpu``    rank ``r``'s ``torch.get_rng_state()`` in a distributed run
``rng.rank.<r>.cuda``         rank ``r``'s CUDA RNG state (its own device), when on CUDA
============================  ===========================================================

The safetensors header carries ``{"companion": json.dumps(meta)}`` with ``format_version``,
``kind`` (``"model"`` or ``"training"``), ``model_class``, ``model_config``
(``dataclasses.asdict(model.config)``), ``aliases`` (tied names), and for training checkpoints
``step``, ``world_size`` (the number of ranks that trained), ``train_config`` (the run's
``TrainConfig``), the optimizer's ``param_groups``, the scheduler's and the gradient scaler's state, the
Python and NumPy random states and the training ``history``. ``sha256`` is a hash over that
metadata and every tensor (key, dtype, shape and bytes, in sorted key order): a flipped bit
anywhere is reported instead of silently loaded.

Writes go to a temporary file in the same directory, are flushed and fsync'ed, then renamed
over ``path`` with ``os.replace`` (atomic on POSIX and Windows): a crash mid-write leaves the
previous checkpoint intact. Loads validate everything first and only then touch the model, so
a failed load leaves the model as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch
from torch import nn

from companion.files import atomic_write

__all__ = [
    "FORMAT_VERSION",
    "load_model",
    "load_training_state",
    "read_metadata",
    "save_model",
    "save_training_state",
]

FORMAT_VERSION = 1
_META_KEY = "companion"
_MAX_LISTED = 10  # keys listed in an error message before "... and N more"
# Optimizer flags that say how to compute, not what: a checkpoint written with fused=True on a
# GPU must resume on a laptop CPU, so these keep the values of the optimizer being loaded into.
_IMPLEMENTATION_FLAGS = ("fused", "foreach", "capturable", "differentiable")

PathLike = str | os.PathLike


# --------------------------------------------------------------------------- public API


def save_model(model: nn.Module, path: PathLike) -> None:
    """Save the weights and config of ``model`` to ``path`` (atomically; see the module doc)."""
    tensors, meta = _model_part(model)
    _write(Path(path), tensors, {**meta, "kind": "model"})


def load_model(model: nn.Module, path: PathLike) -> nn.Module:
    """Load weights saved by :func:`save_model` (or a training checkpoint) into ``model``.

    ``model`` must be built with the same class and config as the saved one, e.g.
    ``load_model(GPT(GPTConfig(**read_metadata(path)["model_config"])), path)``.
    Tied weights stay tied. Returns ``model``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is truncated or corrupted, or does not fit ``model`` (the message
            names the differing config fields and state-dict keys); ``model`` is then unchanged.
    """
    path = Path(path)
    tensors, meta = _read(path)
    state = _checked_model_state(path, model, tensors, meta)
    model.load_state_dict(state)
    return model


def save_training_state(
    state: Any, path: PathLike, rank_rng: dict[str, list[torch.Tensor]] | None = None
) -> None:
    """Save everything a training run needs to continue bit-identically, to ``path``.

    ``state`` is a :class:`companion.train.TrainState`: its ``model``, ``optimizer``,
    ``scheduler``, ``scaler`` (fp16 loss scaling; its scale is part of the state), ``generator``
    (the CPU generator that draws training batches), ``step`` (optimizer steps taken so far),
    ``history`` and ``config`` (a dataclass, stored as JSON). In a distributed run, rank 0 calls
    this with ``rank_rng``: ``{"torch_cpu": [state of rank 0, 1, ...], "cuda": [...]}``, every
    rank's random states (dropout differs from rank to rank).
    """
    tensors, meta = _model_part(state.model)
    opt = state.optimizer.state_dict()
    optimizer_extra: dict[str, dict[str, Any]] = {}
    for index, param_state in opt["state"].items():
        for name, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{name}"] = value.detach().to("cpu", copy=True)
            else:
                optimizer_extra.setdefault(str(index), {})[name] = value
    tensors.update(_rng_tensors(state.generator))
    for kind, states in (rank_rng or {}).items():
        tensors.update({f"rng.rank.{r}.{kind}": t.cpu() for r, t in enumerate(states)})
    scaler = state.scaler
    meta.update(
        kind="training",
        step=int(state.step),
        world_size=len(rank_rng["torch_cpu"]) if rank_rng else 1,
        train_config=config_as_json(state.config),
        optimizer_class=type(state.optimizer).__name__,
        optimizer_param_groups=opt["param_groups"],
        optimizer_state_extra=optimizer_extra,
        scheduler=state.scheduler.state_dict(),
        scaler=scaler.state_dict() if scaler.is_enabled() else None,
        python_random=random.getstate(),
        numpy_random=_numpy_state_to_json(np.random.get_state()),  # noqa: NPY002 (legacy global)
        history=state.history.to_dict(),
    )
    _write(Path(path), tensors, meta)


def load_training_state(state: Any, path: PathLike, rank: int = 0) -> tuple[int, dict[str, Any]]:
    """Restore a checkpoint written by :func:`save_training_state` into ``state``.

    Restores the model, the optimizer, the scheduler, the gradient scaler and every random
    state (Python, NumPy, torch CPU, CUDA when present, the batch generator), and returns
    ``(step, history as a dict)``. Rank ``rank`` of a distributed run takes its own torch RNG
    states when the file holds them (``rng.rank.<rank>.*``), else rank 0's. ``state.model`` and ``state.optimizer`` must be built as in
    the saved run; nothing is modified if validation fails.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is truncated, corrupted, a weights-only checkpoint, or does not
            fit the model or the optimizer.
    """
    path = Path(path)
    tensors, meta = _read(path)
    if meta["kind"] != "training":
        raise ValueError(
            f"{path} is a {meta['kind']!r} checkpoint (weights only, no optimizer state) and "
            "cannot resume training; load its weights with load_model, or resume from a "
            "checkpoint written by train(..., TrainConfig(checkpoint_dir=...))"
        )
    model_state = _checked_model_state(path, state.model, tensors, meta)
    opt_state = _checked_optimizer_state(path, state.optimizer, tensors, meta)
    state.model.load_state_dict(model_state)
    state.optimizer.load_state_dict(opt_state)
    state.scheduler.load_state_dict(meta["scheduler"])
    if meta["scaler"] is not None:
        state.scaler.load_state_dict(meta["scaler"])
    _restore_rng(tensors, meta, state.generator, rank)
    return meta["step"], meta["history"]


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (config, step, history, ...), after checking the file."""
    return _read(Path(path))[1]


# --------------------------------------------------------------------------- writing


def _model_part(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The model's tensors (``model.<name>``, tied weights once) and its metadata.

    safetensors refuses two names for one memory: a tied weight (``lm_head.weight`` is the
    token embedding) is stored under its first name and recorded in ``aliases``.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first_name: dict[tuple, str] = {}
    for name, t in model.state_dict().items():
        view = (t.untyped_storage().data_ptr(), t.storage_offset(), t.shape, t.stride(), t.dtype)
        if t.numel() and view in first_name:
            aliases[name] = first_name[view]
            continue
        first_name[view] = name
        tensors[f"model.{name}"] = t.detach().to("cpu", copy=True).contiguous()
    meta = {
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "model_config": _config_of(model),
        "aliases": aliases,
    }
    return tensors, meta


def _config_of(model: nn.Module) -> dict[str, Any] | None:
    """``model.config`` as JSON would give it back, or ``None`` for a model without one."""
    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        return None
    return config_as_json(config)


def config_as_json(config: Any) -> dict[str, Any]:
    """``dataclasses.asdict(config)`` as JSON gives it back: tuples become lists, paths strings."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def _rng_tensors(data_generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    tensors = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for device, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{device}"] = state
    if data_generator is not None:
        tensors["rng.data"] = data_generator.get_state()
    return tensors


def _numpy_state_to_json(state: tuple) -> list:
    name, keys, pos, has_gauss, cached_gaussian = state
    return [name, keys.tolist(), pos, has_gauss, cached_gaussian]


def _checksum(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> str:
    """sha256 over the metadata (without its ``sha256``) and every tensor, sorted by key.

    Each tensor contributes its key, dtype, shape and raw bytes, so a renamed, reshaped or
    bit-flipped tensor changes the hash.
    """
    h = hashlib.sha256()
    body = {k: v for k, v in meta.items() if k != "sha256"}
    h.update(json.dumps(body, sort_keys=True).encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Serialize and write atomically (:func:`companion.files.atomic_write`)."""
    meta = json.loads(json.dumps(meta))  # what a reader will see: tuples become lists
    meta["sha256"] = _checksum(tensors, meta)
    data = safetensors.torch.save(tensors, metadata={_META_KEY: json.dumps(meta)})
    with atomic_write(path) as f:
        f.write(data)


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's tensors (on the CPU) and metadata, checking format and checksum."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (absolute: {path.resolve()})")
    try:
        with safetensors.safe_open(path, framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except safetensors.SafetensorError as e:
        raise ValueError(
            f"{path} is truncated or corrupted, or not a safetensors file ({e}); "
            "delete it and use an earlier checkpoint, or save again"
        ) from e
    if _META_KEY not in header:
        raise ValueError(
            f"{path} is a safetensors file but not a companion checkpoint (no {_META_KEY!r} "
            "metadata); write checkpoints with companion.checkpoint.save_model"
        )
    try:
        meta = json.loads(header[_META_KEY])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is corrupted: its metadata is not valid JSON ({e})") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format_version={meta.get('format_version')!r}, this "
            f"companion reads version {FORMAT_VERSION}; use the companion version that wrote it"
        )
    if meta.get("sha256") != _checksum(tensors, meta):
        raise ValueError(
            f"{path} is corrupted: its sha256 checksum does not match its contents (a damaged "
            "disk, an interrupted copy or an edited file); use an earlier checkpoint"
        )
    return tensors, meta


def _checked_model_state(
    path: Path, model: nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The state dict to load into ``model``, after checking class, config, keys and shapes."""
    saved_class, model_class = meta["model_class"], type(model).__name__
    if saved_class != model_class:
        raise ValueError(
            f"{path} holds a {saved_class} but the model is a {model_class}; build a "
            f"{saved_class} with the checkpoint's config (read_metadata(path)['model_config'])"
        )
    prefix = "model."
    state = {k[len(prefix) :]: t for k, t in tensors.items() if k.startswith(prefix)}
    for alias, name in meta["aliases"].items():
        state[alias] = state[name]
    problems = _config_diff(meta["model_config"], _config_of(model))
    problems += _state_diff(state, model.state_dict())
    if problems:
        raise ValueError(
            f"{path} does not fit this {model_class}:\n  "
            + "\n  ".join(problems)
            + f"\nBuild the model with the checkpoint's config, e.g. "
            f"{model_class}(<Config>(**read_metadata(path)['model_config']))"
        )
    return state


def _config_diff(saved: dict | None, current: dict | None) -> list[str]:
    if saved == current:
        return []
    saved, current = saved or {}, current or {}
    diffs = [
        f"{name}: checkpoint {saved.get(name, '<absent>')!r}, model {current.get(name, '<absent>')!r}"
        for name in sorted(set(saved) | set(current))
        if saved.get(name, "<absent>") != current.get(name, "<absent>")
    ]
    return ["config fields differ: " + "; ".join(diffs)]


def _listed(keys: list[str]) -> str:
    more = f" ... and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def _state_diff(saved: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> list[str]:
    problems = []
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    shapes = [
        f"{k}: checkpoint {tuple(saved[k].shape)}, model {tuple(current[k].shape)}"
        for k in sorted(set(saved) & set(current))
        if saved[k].shape != current[k].shape
    ]
    if missing:
        problems.append(f"missing keys (in the model, not in the checkpoint): {_listed(missing)}")
    if unexpected:
        problems.append(
            f"unexpected keys (in the checkpoint, not in the model): {_listed(unexpected)}"
        )
    if shapes:
        problems.append(f"shape mismatches: {_listed(shapes)}")
    return problems


def _checked_optimizer_state(
    path: Path, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> dict[str, Any]:
    """The optimizer state dict to load, after checking it has the optimizer's structure."""
    groups = meta["optimizer_param_groups"]
    current = optimizer.param_groups
    saved_sizes = [len(g["params"]) for g in groups]
    current_sizes = [len(g["params"]) for g in current]
    if meta["optimizer_class"] != type(optimizer).__name__ or saved_sizes != current_sizes:
        raise ValueError(
            f"{path} holds {meta['optimizer_class']} state for parameter groups of sizes "
            f"{saved_sizes}, but the optimizer is a {type(optimizer).__name__} with groups of "
            f"sizes {current_sizes}; build the optimizer as the saved run did "
            "(companion.train.configure_optimizer)"
        )
    state: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = t
    for index, extra in meta["optimizer_state_extra"].items():
        state.setdefault(int(index), {}).update(extra)
    param_groups = []
    for saved, group in zip(groups, current, strict=True):
        restored = {
            k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in saved.items()
        }
        restored.update({k: group[k] for k in _IMPLEMENTATION_FLAGS if k in group})
        param_groups.append(restored)
    return {"state": state, "param_groups": param_groups}


def _restore_rng(
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    data_generator: torch.Generator | None,
    rank: int = 0,
) -> None:
    version, internal, gauss_next = meta["python_random"]
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, pos, has_gauss, cached_gaussian = meta["numpy_random"]
    state = (name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached_gaussian)
    np.random.set_state(state)  # noqa: NPY002 (the legacy global that seed_everything seeds)
    torch.set_rng_state(tensors["rng.torch_cpu"])
    n_cuda = sum(key.startswith("rng.cuda.") for key in tensors)
    if n_cuda and n_cuda == torch.cuda.device_count():  # device_count() is 0 without CUDA
        torch.cuda.set_rng_state_all([tensors[f"rng.cuda.{d}"] for d in range(n_cuda)])
    if data_generator is not None and "rng.data" in tensors:
        data_generator.set_state(tensors["rng.data"])
    if f"rng.rank.{rank}.torch_cpu" in tensors:
        torch.set_rng_state(tensors[f"rng.rank.{rank}.torch_cpu"])
    if f"rng.rank.{rank}.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors[f"rng.rank.{rank}.cuda"])
