"""What the grader and a student's kernel send each other: values as JSON, tensors as safetensors.

The grader (:mod:`companion.course.grade`) runs each checker in its own process and calls the
student's function in the student's kernel (:mod:`companion.course.kernel_side`). A call's inputs
and its result cross between the two as a *message*: ``<name>.json`` (the value's structure) beside
``<name>.safetensors`` (its tensors). Nothing is pickled, so reading a message runs no code.

A value is encoded as JSON with a tag for everything JSON cannot say itself::

    None, bool, int, float, str                -> themselves
    list, tuple, set, dict                     -> {"list": [...]}, {"tuple": [...]}, {"set": [...]},
                                                  {"dict": [[key, value], ...]}
    torch.Tensor                               -> {"tensor": "t3"}       (t3 in the safetensors file)
    numpy.ndarray (bool, int, float)           -> {"ndarray": "t5"}      (as a tensor; read back as
                                                  an ndarray); a numpy scalar -> its Python number
    torch.Generator (CPU)                      -> {"generator": "t4"}    (its state)
    a companion config dataclass               -> {"config": "companion.models.EncoderDecoderConfig",
                                                   "fields": {...}}
    a companion module (see MODULES)           -> {"module": "companion.layers.EncoderLayer",
                                                   "init": {...}, "state": {...}, "training": bool}

Configs and modules are what the grader sends *to* a kernel; a message read from a kernel
(``trusted=False``) may hold only data (no config, no module), so a hostile kernel cannot make the
grader import or build anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load, save
from torch import Tensor, nn

__all__ = ["MAX_BYTES", "WireError", "decode", "encode", "read_message", "write_message"]

MAX_BYTES = 256 * 2**20  # the largest message the grader reads from a kernel (256 MiB)


class WireError(ValueError):
    """A value that cannot be sent, or a message that cannot be read."""


def _encoder_layer_init(layer: nn.Module) -> dict:
    attn = layer.self_attn
    if attn.rotary is not None:
        raise WireError("an EncoderLayer with rotary positions cannot be sent to a kernel")
    return {
        "d_model": attn.n_heads * attn.d_k,
        "n_heads": attn.n_heads,
        "d_ff": layer.ffn.linear1.out_features,
        "dropout": layer.ffn.dropout.p,
        "activation": layer.ffn.activation_name,
        "norm_first": layer.norm_first,
        "bias": layer.ffn.linear1.bias is not None,
        "layer_norm_eps": layer.norm1.eps,
        "use_sdpa": attn.use_sdpa,
    }


def _config_init(model: nn.Module) -> dict:
    return {"config": model.config}


# The module classes a checker passes to a learner's function, and how to rebuild each: the
# constructor's keyword arguments (the weights travel separately, as the state dict).
MODULES: dict[str, Callable[[nn.Module], dict]] = {
    "companion.layers.EncoderLayer": _encoder_layer_init,
    "companion.models.EncoderDecoder": _config_init,
}


def _qualified(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _resolve(path: str) -> type:
    """``companion.models.EncoderDecoder`` -> the class; only classes defined in companion."""
    module, _, name = path.rpartition(".")
    if not module.startswith("companion.") or module.startswith("companion.course"):
        raise WireError(f"{path} is not a class of companion's model code")
    return getattr(importlib.import_module(module), name)


def encode(value: object, tensors: dict[str, Tensor]) -> object:
    """The JSON form of ``value``; its tensors are added to ``tensors`` (key -> tensor)."""

    def tensor_key(t: Tensor) -> str:
        key = f"t{len(tensors)}"
        # safetensors wants contiguous CPU tensors that share no memory with each other
        tensors[key] = t.detach().to("cpu").contiguous().clone()
        return key

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Tensor):
        if value.is_complex() or value.layout != torch.strided:
            raise WireError(f"a {value.dtype} {value.layout} tensor cannot be sent")
        return {"tensor": tensor_key(value)}
    if isinstance(value, np.ndarray | np.generic):
        if value.dtype.kind not in "biuf":
            raise WireError(f"a numpy {value.dtype} value cannot be sent (bool, int or float only)")
        if isinstance(value, np.generic):
            return value.item()
        return {"ndarray": tensor_key(torch.from_numpy(np.ascontiguousarray(value)))}
    if isinstance(value, torch.Generator):
        if value.device.type != "cpu":
            raise WireError("only CPU generators can be sent")
        return {"generator": tensor_key(value.get_state())}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        tag = "set" if isinstance(value, set | frozenset) else type(value).__name__
        if tag not in ("list", "tuple", "set"):  # a namedtuple or a subclass: say what it is
            tag = "tuple" if isinstance(value, tuple) else "list"
        return {tag: [encode(v, tensors) for v in items]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, tensors), encode(v, tensors)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"config": _qualified(value), "fields": encode(fields, tensors)}
    if isinstance(value, nn.Module) and _qualified(value) in MODULES:
        init = MODULES[_qualified(value)](value)
        state = {name: tensor_key(t) for name, t in value.state_dict().items()}
        return {
            "module": _qualified(value),
            "init": encode(init, tensors),
            "state": state,
            "training": value.training,
        }
    raise WireError(
        f"a {type(value).__module__}.{type(value).__qualname__} cannot be sent between the grader "
        "and a kernel (tensors, numpy arrays, numbers, strings, None, lists, tuples, sets, dicts, "
        "generators)"
    )


def decode(obj: object, tensors: dict[str, Tensor], trusted: bool) -> object:
    """The value that :func:`encode` turned into ``obj``. ``trusted=False`` (a message from a
    student's kernel) refuses configs and modules."""

    def tensor(key: object) -> Tensor:
        if not isinstance(key, str) or key not in tensors:
            raise WireError(f"the message names a tensor {key!r} that it does not hold")
        return tensors[key]

    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if not (isinstance(obj, dict) and len(obj) in (1, 2, 4)):
        raise WireError(f"not a value of the wire format: {str(obj)[:80]}")
    if "tensor" in obj:
        return tensor(obj["tensor"])
    if "ndarray" in obj:
        return tensor(obj["ndarray"]).numpy()
    if "generator" in obj:
        g = torch.Generator()
        g.set_state(tensor(obj["generator"]))
        return g
    for tag, kind in (("list", list), ("tuple", tuple), ("set", set)):
        if tag in obj:
            return kind(decode(v, tensors, trusted) for v in obj[tag])
    if "dict" in obj:
        return {decode(k, tensors, trusted): decode(v, tensors, trusted) for k, v in obj["dict"]}
    if not trusted:
        raise WireError(f"a kernel may send only data, not {next(iter(obj))!r}")
    if "config" in obj:
        fields = decode(obj["fields"], tensors, trusted)
        return _resolve(obj["config"])(**fields)
    if "module" in obj:
        module = _resolve(obj["module"])(**decode(obj["init"], tensors, trusted))
        state = {name: tensor(key) for name, key in obj["state"].items()}
        floats = [t.dtype for t in state.values() if t.is_floating_point()]
        if floats:
            module = module.to(floats[0])  # load_state_dict keeps the module's own dtype
        module.load_state_dict(state)
        return module.train(obj["training"])
    raise WireError(f"not a value of the wire format: {str(obj)[:80]}")


# Files are opened relative to their folder, never through a symbolic link (O_NOFOLLOW on the
# folder and the file): a kernel that can write in a message folder cannot make the grader read
# or write anything else.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _open_folder(folder: Path) -> int:
    return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW)


def _write(folder_fd: int, name: str, data: bytes) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder_fd)  # (a link is removed, not followed)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644, dir_fd=folder_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _read(folder_fd: int, name: str, limit: int | None) -> bytes:
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=folder_fd)
    except FileNotFoundError:
        raise WireError(f"{name} was not written") from None
    except OSError as exc:  # ELOOP: a link
        raise WireError(f"{name} cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise WireError(f"{name} is not a regular file")
        if limit is not None and info.st_size > limit:
            raise WireError(f"the message is larger than {MAX_BYTES // 2**20} MiB")
        data = f.read(info.st_size + 1)  # no more than its size when opened
    if len(data) != info.st_size:
        raise WireError(f"{name} changed while it was read")
    return data


def write_message(path: Path, value: object) -> None:
    """Write ``value`` as ``path.json`` and ``path.safetensors`` (``path`` = folder / stem)."""
    tensors: dict[str, Tensor] = {}
    structure = encode(value, tensors)
    folder = _open_folder(path.parent)
    try:
        _write(folder, f"{path.name}.safetensors", save(tensors))
        _write(folder, f"{path.name}.json", json.dumps(structure).encode("utf-8"))
    finally:
        os.close(folder)


def read_message(path: Path, trusted: bool) -> object:
    """Read what :func:`write_message` wrote. An untrusted message larger than
    :data:`MAX_BYTES` in all is refused before more than that is read."""
    try:
        folder = _open_folder(path.parent)
    except OSError as exc:
        raise WireError(f"{path.parent.name}/ cannot be opened: {exc.strerror}") from None
    try:
        limit = None if trusted else MAX_BYTES
        raw_json = _read(folder, f"{path.name}.json", limit)
        limit = None if trusted else MAX_BYTES - len(raw_json)
        raw_tensors = _read(folder, f"{path.name}.safetensors", limit)
    finally:
        os.close(folder)
    try:
        return decode(json.loads(raw_json), load(raw_tensors), trusted)
    except WireError:
        raise
    except Exception as exc:  # malformed JSON or safetensors, unhashable keys, ...
        raise WireError(f"unreadable message: {type(exc).__name__}: {exc}"[:300]) from None
