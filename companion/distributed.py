"""Data-parallel training across processes, the way :func:`companion.train.train` does it.

Every process (a *rank*) holds a copy of the model. At each optimizer step every rank draws the
same global batch of ``B`` examples from the same seeded generator and keeps its own share:
with ``W`` ranks and ``A`` gradient-accumulation micro-steps, the batch is cut along its first
dimension into ``W * A`` equal micro-batches, and rank ``r`` runs micro-batches
``r * A, ..., r * A + A - 1``. Each micro-batch's mean loss is divided by ``A`` before
``backward``, and the all-reduce averages the ranks' gradients (divides their sum by ``W``), so
every rank ends the step holding

    g = 1/(W*A) * sum_{j < W*A} grad L_j  =  grad of the global batch's mean loss

when the micro-batches' losses are means over equally many terms (as :func:`lm_loss`'s are):
the gradient of one process training on the whole batch, up to the order of float additions.
Because the data order does not depend on ``W`` or ``A``, a run may resume on another number of
ranks and still see the same batches.

Launch with ``torchrun --nproc_per_node=W script.py``: torchrun sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, and :func:`init` joins the process group
they describe (``nccl`` on CUDA, ``gloo`` on the CPU). Run without torchrun, :func:`init` does
nothing and :func:`world` is one rank.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

__all__ = [
    "World",
    "all_mean",
    "barrier",
    "device",
    "full_state_dict",
    "gather",
    "init",
    "is_initialized",
    "shard",
    "world",
]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """Who this process is: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that draws progress bars, prints and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1


def is_initialized() -> bool:
    """Whether this process has joined a process group (:func:`init` under torchrun)."""
    return dist.is_available() and dist.is_initialized()


def world() -> World:
    """This process's place in the process group; one rank of one when there is no group."""
    if not is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def init(backend: str | None = None) -> World:
    """Join the process group that ``torchrun`` describes in the environment; return :func:`world`.

    Outside torchrun (no ``WORLD_SIZE`` in the environment) this does nothing: the script runs as
    one process. ``backend`` defaults to ``"nccl"`` when CUDA is available (each rank then uses
    GPU ``LOCAL_RANK``) and ``"gloo"`` otherwise.

    Raises:
        RuntimeError: when ``WORLD_SIZE`` is set but another variable torchrun sets is missing,
            e.g. ``MASTER_ADDR`` in a script started by hand with ``WORLD_SIZE=2``.
    """
    if is_initialized():
        return world()
    if "WORLD_SIZE" not in os.environ:
        return World()
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not: start the script with torchrun, e.g. "
            "`torchrun --nproc_per_node=2 -m companion.train_gpt`, which sets all of "
            f"{', '.join(_TORCHRUN_VARIABLES)}; or unset WORLD_SIZE to run one process"
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        local_rank, gpus = int(os.environ["LOCAL_RANK"]), torch.cuda.device_count()
        if local_rank >= gpus:
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but this machine has {gpus} GPU(s): start at most "
                f"{gpus} process(es) per machine (torchrun --nproc_per_node={gpus}), or run on "
                'the CPU with the gloo backend (CUDA_VISIBLE_DEVICES="")'
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend)
    return world()


def device() -> torch.device:
    """This rank's device: GPU ``LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", world().local_rank)
    return torch.device("cpu")


def shard(batch: Any, index: int, parts: int) -> Any:
    """Part ``index`` of ``parts`` equal slices of ``batch`` along the first dimension.

    ``batch`` is a tensor or a tuple, list or dict of them (nested freely), every tensor with the
    same first dimension ``B``; each tensor ``t`` becomes ``t[index * B // parts : (index + 1) *
    B // parts]``. With ``parts == 1`` the batch itself is returned.

    Raises:
        ValueError: when ``B`` is not divisible by ``parts``, or the tensors disagree on ``B``.
    """
    if parts == 1:
        return batch
    sizes = {t.shape[0] for t in _tensors(batch)}
    if len(sizes) != 1:
        raise ValueError(
            f"the batch's tensors have first dimensions {sorted(sizes)}; to be split across "
            "ranks and micro-steps they must share one batch dimension"
        )
    (size,) = sizes
    if size % parts:
        raise ValueError(
            f"a global batch of {size} examples cannot be split into {parts} equal parts "
            "(world size x grad_accum_steps); choose a batch size divisible by "
            f"{parts}, e.g. {parts * max(1, round(size / parts))}"
        )
    step = size // parts
    return _map(batch, lambda t: t[index * step : (index + 1) * step])


def all_mean(value: Tensor) -> Tensor:
    """The mean of ``value`` (any shape, e.g. a scalar loss ``()``) over all ranks, same shape.

    ``value`` itself with one rank.
    """
    w = world()
    if not w.is_distributed:
        return value
    total = value.detach().to(_communication_device(), copy=True)
    dist.all_reduce(total)  # sum over ranks
    return (total / w.size).to(value.device)


def barrier() -> None:
    """Wait until every rank gets here (nothing with one rank)."""
    if world().is_distributed:
        dist.barrier()


def gather(value: Tensor) -> list[Tensor]:
    """Every rank's ``value`` (same shape everywhere), in rank order; ``[value]`` with one rank."""
    w = world()
    if not w.is_distributed:
        return [value]
    local = value.to(_communication_device())
    out = [torch.empty_like(local) for _ in range(w.size)]
    dist.all_gather(out, local)
    return [t.to(value.device) for t in out]


def full_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """``model``'s whole ``state_dict`` on the CPU, gathered from every rank if FSDP sharded it.

    In a distributed run every rank must call it (each holds a shard to contribute), and only
    rank 0 receives the weights: the other ranks get an empty dict.
    """
    if not is_initialized():
        return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )


def _communication_device() -> torch.device:
    """Where collectives take their tensors: this rank's GPU for NCCL, the CPU for gloo."""
    return device() if dist.get_backend() == "nccl" else torch.device("cpu")


def _tensors(batch: Any) -> list[Tensor]:
    if torch.is_tensor(batch):
        return [batch]
    if isinstance(batch, Mapping):
        return [t for v in batch.values() for t in _tensors(v)]
    if isinstance(batch, list | tuple):
        return [t for v in batch for t in _tensors(v)]
    raise TypeError(
        f"a batch to split across ranks must be a tensor or a tuple, list or dict of them, "
        f"found {type(batch).__name__}"
    )


def _map(batch: Any, fn) -> Any:
    if torch.is_tensor(batch):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {k: _map(v, fn) for k, v in batch.items()}
    items = [_map(v, fn) for v in batch]
    if hasattr(batch, "_fields"):  # a NamedTuple, e.g. a batch dataclass-like tuple
        return type(batch)(*items)
    return type(batch)(items)
