"""The training loop every chapter uses: AdamW, warm-up + cosine schedule, clipping, AMP,
evaluation, checkpoints and exact resume, on one process or data-parallel across many.

One step of :func:`train`, for a batch drawn from a seeded generator::

    loss = loss_fn(model, batch)            # under autocast on CUDA
    loss.backward()                         # through a GradScaler when the autocast is fp16
    clip_grad_norm_(params, grad_clip)      # rescale g so that ||g||_2 <= grad_clip
    optimizer.step()                        # AdamW, below
    scheduler.step()                        # the next step's learning rate, below

A seeded CPU run is bit-identical when repeated, and a run resumed from a checkpoint ends
bit-identical to one that was never interrupted: the checkpoint holds the model, the optimizer,
the schedule and every random state, including the generator that draws the batches.

With ``grad_accum_steps = A`` the batch is cut into ``A`` micro-batches whose gradients add up
before the one optimizer step; launched by ``torchrun`` on ``W`` processes, each rank runs its
``A`` of the ``W * A`` micro-batches under ``DistributedDataParallel`` (or FSDP), and the step
is the one-process step on the whole batch, up to the order of float additions (see
:mod:`companion.distributed`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from einops import rearrange
from torch import Tensor, nn
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor
from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion import distributed
from companion import validators as check
from companion.checkpoint import (
    config_as_json,
    load_training_state,
    read_metadata,
    save_training_state,
)
from companion.layers import DecoderLayer, EncoderLayer
from companion.runtime import seed_everything

__all__ = [
    "AMP_MODES",
    "PARALLEL_MODES",
    "History",
    "TrainConfig",
    "TrainState",
    "checkpointed",
    "configure_optimizer",
    "evaluate",
    "lm_loss",
    "lr_at",
    "train",
]

AMP_MODES = ("auto", "bf16", "fp16", "off")
PARALLEL_MODES = ("auto", "ddp", "fsdp", "none")
FUSED_ADAMW_DEVICES = ("cuda", "cpu")
CHECKPOINT_NAME = "last.safetensors"

LossFn = Callable[[nn.Module, Any], Tensor]
Batches = Callable[[torch.Generator], Any]


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`train`; the defaults train a small model in seconds on a CPU.

    Attributes:
        max_steps: optimizer steps of the whole run (a resumed run continues up to it).
        lr: peak learning rate, reached at the end of the warm-up.
        min_lr_ratio: the cosine decay ends at ``lr * min_lr_ratio`` at ``max_steps``.
        warmup_steps: steps of linear warm-up from ``lr / warmup_steps`` to ``lr``.
        weight_decay: AdamW's decoupled decay, applied to matrices and embeddings only.
        betas: AdamW's ``(beta1, beta2)``.
        grad_clip: clip the global gradient norm to this value; ``None`` turns clipping off.
        eval_every: evaluate every this many steps (and at the end) when eval batches are given.
        eval_batches: batches per evaluation (the same fixed batches every time).
        amp: ``"auto"`` (bf16 autocast on CUDA if supported, else fp16 with loss scaling; no
            autocast on CPU or MPS), ``"bf16"``, ``"fp16"`` or ``"off"``.
        checkpoint_dir: folder for ``last.safetensors``, written atomically; ``None``: no files.
        checkpoint_every: also write it every this many steps (it is always written at the end).
        seed: seeds Python, NumPy, torch and the batch generator at the start of a fresh run.
        max_seconds: wall-clock budget of one call; when spent, stop early and say so.
        progress: show a tqdm bar with the last batch's loss and the learning rate while training;
            it is erased when training ends. In a distributed run only rank 0 draws it.
        grad_accum_steps: micro-batches per optimizer step: the batch is cut into this many
            equal parts (per rank), whose gradients add up before the step. Memory falls with
            it; the step is the same up to float rounding.
        parallel: how a run launched on several processes shares the work: ``"ddp"``
            (``DistributedDataParallel``: every rank holds the whole model, gradients are
            averaged), ``"fsdp"`` (``fully_shard``: parameters, gradients and AdamW's moments
            are split across ranks, ZeRO stage 3), ``"none"`` (one process only) or ``"auto"``
            (``"ddp"`` when there are several ranks, else ``"none"``).
        activation_checkpointing: keep only each Transformer layer's input in the forward pass
            and recompute its activations during the backward pass (less memory, about a third
            more compute).
    """

    max_steps: int = 200
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0
    eval_every: int = 50
    eval_batches: int = 10
    amp: str = "auto"
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int | None = None
    seed: int = 0
    max_seconds: float | None = None
    progress: bool = True
    grad_accum_steps: int = 1
    parallel: str = "auto"
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        for name in ("max_steps", "eval_every", "eval_batches", "grad_accum_steps"):
            check.positive_int(name, getattr(self, name))
        check.nonnegative_int("warmup_steps", self.warmup_steps)
        check.nonnegative_int("seed", self.seed)
        check.number("lr", self.lr, 0, low_open=True, hint="e.g. 3e-4")
        check.number("min_lr_ratio", self.min_lr_ratio, 0, 1, hint="e.g. 0.1")
        check.number("weight_decay", self.weight_decay, 0, hint="e.g. 0.1")
        self.betas = check.sequence_of_numbers(
            "betas", self.betas, 2, 0, 1, high_open=True, hint="e.g. (0.9, 0.95)"
        )
        check.optional(
            check.number, "grad_clip", self.grad_clip, 0, low_open=True, hint="None: no clipping"
        )
        check.optional(
            check.number, "max_seconds", self.max_seconds, 0, low_open=True, hint="None: no budget"
        )
        check.one_of("amp", self.amp, AMP_MODES)
        check.boolean("progress", self.progress)
        check.one_of("parallel", self.parallel, PARALLEL_MODES)
        check.boolean("activation_checkpointing", self.activation_checkpointing)
        check.optional(check.positive_int, "checkpoint_every", self.checkpoint_every)
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            check.fail(
                "checkpoint_every",
                self.checkpoint_every,
                "None without a checkpoint_dir",
                "set checkpoint_dir (e.g. checkpoint_dir='checkpoints')",
            )
        if self.checkpoint_dir is not None and Path(self.checkpoint_dir).exists():
            if not Path(self.checkpoint_dir).is_dir():
                check.fail(
                    "checkpoint_dir",
                    str(self.checkpoint_dir),
                    "a folder, not an existing file",
                    "choose another path, or move the file away",
                )
        if self.parallel == "fsdp" and self.checkpoint_dir is not None:
            check.fail(
                "checkpoint_dir",
                str(self.checkpoint_dir),
                "None with parallel='fsdp': companion does not write sharded checkpoints yet",
                "use parallel='ddp' for a run that writes checkpoints",
            )
        if self.warmup_steps >= self.max_steps:
            check.fail(
                "warmup_steps",
                self.warmup_steps,
                f"smaller than max_steps={self.max_steps}",
                f"or the learning rate never decays; use e.g. warmup_steps={self.max_steps // 10}",
            )


@dataclass
class History:
    """What a run did, step by step; JSON-able through :meth:`to_dict`, stored in checkpoints.

    ``train_loss[i]`` and ``lr[i]`` belong to optimizer step ``steps[i]`` (1-based);
    ``eval_loss[j]`` is the mean loss on the fixed evaluation batches after step ``eval_steps[j]``.
    ``elapsed_s`` is the training wall time summed over resumed calls, evaluations excluded (so
    that tokens / ``elapsed_s`` is the training throughput), and ``eval_s`` the time spent
    evaluating; ``stopped_early`` says why a run ended before ``max_steps`` (``None`` if it did
    not); ``device`` is where it ran.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    eval_s: float = 0.0
    stopped_early: str | None = None
    device: str = ""

    def record(self, step: int, loss: float, lr: float, elapsed_s: float) -> None:
        """Append one optimizer step's training loss and learning rate."""
        self.steps.append(step)
        self.train_loss.append(loss)
        self.lr.append(lr)
        self.elapsed_s = elapsed_s

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)


def lm_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Next-token cross-entropy, the language-modelling loss, averaged over every position.

    ``batch = (x, y)``, both ``(batch, seq)`` token ids, ``y`` being ``x`` shifted by one;
    ``model(x)`` gives logits ``z`` of shape ``(batch, seq, vocab)``, and

        L = -1/(B*T) * sum_{b,t} log softmax(z[b, t])[y[b, t]]
    """
    x, y = batch
    logits = model(x)  # (batch, seq, vocab)
    return F.cross_entropy(rearrange(logits, "b t v -> (b t) v"), rearrange(y, "b t -> (b t)"))


def lr_at(step: int, config: TrainConfig) -> float:
    """The learning rate of optimizer step ``step`` (1-based): linear warm-up, then cosine decay.

    With peak ``lr``, ``W = warmup_steps``, ``T = max_steps`` and ``r = min_lr_ratio``:

        lr_s = lr * s / W                                                  for s <= W
        lr_s = lr * (r + (1 - r) * (1 + cos(pi * (s - W) / (T - W))) / 2)   for W < s <= T

    so ``lr_W = lr`` and ``lr_T = lr * r``.
    """
    return config.lr * _lr_factor(step, config)


def _lr_factor(step: int, config: TrainConfig) -> float:
    if step <= config.warmup_steps:
        return step / config.warmup_steps
    progress = (step - config.warmup_steps) / (config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


def _scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, last_step: int = -1
) -> torch.optim.lr_scheduler.LambdaLR:
    # LambdaLR counts from 0 (the learning rate before the first step), our steps from 1.
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: _lr_factor(i + 1, config), last_epoch=last_step
    )


def configure_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices and embeddings, none on biases and norms.

    For each parameter ``theta`` with gradient ``g`` at step ``t`` (Loshchilov & Hutter 2019):

        m = beta1 * m + (1 - beta1) * g          m_hat = m / (1 - beta1^t)
        v = beta2 * v + (1 - beta2) * g^2        v_hat = v / (1 - beta2^t)
        theta = theta - lr * (m_hat / (sqrt(v_hat) + eps) + lambda * theta)

    The decay ``lambda`` is ``config.weight_decay`` for parameters with ``ndim >= 2`` (group 0)
    and 0 for the rest (group 1: biases, LayerNorm gains): shrinking those helps nothing.
    Uses PyTorch's fused kernel (one pass over all parameters instead of a loop of small ops)
    on the devices that have it, CUDA and the CPU; elsewhere (MPS) the default implementation.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    fused = bool(params) and params[0].device.type in FUSED_ADAMW_DEVICES
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=config.lr,
        betas=config.betas,
        fused=True if fused else None,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, loss_fn: LossFn, batches: Batches, n_batches: int, seed: int = 0
) -> float:
    """Mean of ``loss_fn`` over ``n_batches`` batches drawn by a generator seeded with ``seed``.

    The same arguments always give the same batches, so successive evaluations are comparable.
    Runs in ``model.eval()`` mode (no dropout) and restores the previous mode. In a distributed
    run every rank must call it: each scores its share of every batch and the ranks' means are
    averaged, which is the one-process mean when the shares' losses are means over equally many
    terms.
    """
    generator = torch.Generator().manual_seed(seed)
    w = distributed.world()
    was_training = model.training
    model.eval()
    try:
        losses = [
            loss_fn(model, distributed.shard(batches(generator), w.rank, w.size)).float()
            for _ in range(n_batches)
        ]
    finally:
        model.train(was_training)
    return distributed.all_mean(torch.stack(losses).mean()).item()


def _autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; ``None`` means full precision."""
    if amp == "auto":
        if device.type != "cuda":
            return None
        amp = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


# TrainConfig fields that say how a run is watched, stored or spread over the hardware, not what
# it computes: a resumed run may change them freely (the last three change float rounding only).
# Any other change would silently alter the trajectory.
LOGISTICS = (
    "eval_every",
    "eval_batches",
    "checkpoint_dir",
    "checkpoint_every",
    "max_seconds",
    "progress",
    "grad_accum_steps",
    "parallel",
    "activation_checkpointing",
)


@dataclass
class TrainState:
    """Everything a run needs to continue bit-identically; what a training checkpoint holds.

    Attributes:
        model: the model being trained, on its device.
        optimizer: AdamW from :func:`configure_optimizer`.
        scheduler: the warm-up + cosine schedule of :func:`lr_at`.
        scaler: fp16 loss scaling (disabled, a no-op, unless the autocast dtype is fp16).
        generator: the CPU generator that draws the training batches.
        config: the run's :class:`TrainConfig`, stored in checkpoints so that a resumed run
            can refuse a changed one.
        step: optimizer steps taken so far.
        history: what the run did so far.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    config: TrainConfig
    step: int = 0
    history: History = field(default_factory=History)

    @classmethod
    def start(cls, model: nn.Module, config: TrainConfig) -> TrainState:
        """A fresh state at step 0 for ``model`` (already built, seeded and on its device)."""
        device = next(model.parameters()).device
        optimizer = configure_optimizer(model, config)
        fp16 = _autocast_dtype(config.amp, device) == torch.float16
        return cls(
            model,
            optimizer,
            _scheduler(optimizer, config),
            torch.amp.GradScaler(device.type, enabled=fp16),
            torch.Generator().manual_seed(config.seed),
            config,
        )

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self.optimizer.param_groups[0]["lr"]

    def save(self, path: str | Path) -> None:
        """Write the state atomically to ``path`` (safetensors; see :mod:`companion.checkpoint`).

        In a distributed run every rank must call it: the ranks' random states are gathered and
        rank 0 writes the file while the others wait.

        Raises:
            FloatingPointError: if a weight is NaN or infinite; the last good file survives.
        """
        bad = [n for n, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise FloatingPointError(
                f"weights became NaN or infinite by step {self.step} ({', '.join(bad[:5])}); not "
                f"writing {path}, so the last good checkpoint survives. Try a lower lr or grad_clip=1.0"
            )
        w = distributed.world()
        rank_rng = None
        if w.is_distributed:
            rank_rng = {"torch_cpu": distributed.gather(torch.get_rng_state())}
            if torch.cuda.is_available():
                rank_rng["cuda"] = distributed.gather(torch.cuda.get_rng_state())
        if w.is_main:
            save_training_state(self, path, rank_rng)
        distributed.barrier()

    def load(self, path: str | Path, override_config: bool = False) -> None:
        """Restore the state saved at ``path`` into this one (built for the same model).

        The saved run's :class:`TrainConfig` must equal this state's, except for the fields in
        ``LOGISTICS``; otherwise this raises before touching anything, unless
        ``override_config``: then the weights, moments and random states are restored and the
        new config's learning rate, schedule, betas and weight decay apply from the saved step on.
        """
        meta = read_metadata(path)
        changed = _config_changes(meta.get("train_config"), self.config)
        if changed and not override_config:
            raise ValueError(
                f"{path} was written by a run with another TrainConfig ({'; '.join(changed)}); "
                "resuming with it would silently keep the saved schedule. Resume with the saved "
                "config, or pass override_config=True to apply the new one from the saved step on"
            )
        w = distributed.world()
        saved_size = meta.get("world_size", 1)
        if saved_size != w.size and w.is_main:
            warnings.warn(
                f"{path} was written by {saved_size} rank(s) and is resumed on {w.size}: the "
                "batches continue in the same order, but the gradients are summed in another "
                "order (equal up to float rounding) and each rank's dropout continues from the "
                "random state of the saved rank with its number, or rank 0's",
                stacklevel=3,
            )
        self.step, history = load_training_state(self, path, rank=w.rank)
        self.history = History.from_dict(history)
        if changed:
            self._apply_config()

    def _apply_config(self) -> None:
        """Make this state's config govern the optimizer and the schedule from ``step`` on."""
        for group in self.optimizer.param_groups:
            decays = all(p.ndim >= 2 for p in group["params"])  # configure_optimizer's group 0
            group.update(
                initial_lr=self.config.lr,
                betas=self.config.betas,
                weight_decay=self.config.weight_decay if decays else 0.0,
            )
        # LambdaLR steps once on construction: the next step's lr is lr_at(step + 1)
        self.scheduler = _scheduler(self.optimizer, self.config, last_step=self.step - 1)


def _config_changes(saved: dict | None, config: TrainConfig) -> list[str]:
    """``name: saved -> new`` for each TrainConfig field, except ``LOGISTICS``, that differs."""
    if saved is None:  # a checkpoint written without its config: nothing to compare
        return []
    current = config_as_json(config)
    return [
        f"{name}: {saved.get(name)!r} -> {current[name]!r}"
        for name in current
        if name not in LOGISTICS and saved.get(name) != current[name]
    ]


def train(
    model: nn.Module,
    loss_fn: LossFn,
    train_batches: Batches,
    config: TrainConfig | None = None,
    eval_batches: Batches | None = None,
    resume_from: str | Path | None = None,
    override_config: bool = False,
) -> History:
    """Train ``model`` in place for ``config.max_steps`` steps and return its :class:`History`.

    Args:
        model: the model, already on its device (seed and build it before calling, so that its
            initial weights are reproducible too).
        loss_fn: ``loss_fn(model, batch) -> scalar loss`` (e.g. :func:`lm_loss`), the batch's
            mean. In a distributed run it receives the wrapped model: call it, and reach the
            model's attributes through the ``model`` you passed to ``train``.
        train_batches: ``train_batches(generator) -> batch`` on the model's device, drawing its
            randomness from ``generator`` only (e.g. :class:`companion.data.TokenBatches`). The
            batch is the global one, a tensor or a tuple, list or dict of tensors whose first
            dimension is divisible by ``world size * config.grad_accum_steps``.
        config: hyperparameters; ``TrainConfig()`` if ``None``.
        eval_batches: like ``train_batches``, for validation every ``config.eval_every`` steps
            and at the end, on the same ``config.eval_batches`` batches each time.
        resume_from: a checkpoint written by a run with the same model and config; the run
            continues from its step to ``config.max_steps`` exactly as if never interrupted.
        override_config: resume even if ``config`` differs from the saved run's (see
            :meth:`TrainState.load`).

    Launched by ``torchrun`` after :func:`companion.distributed.init`, every rank calls
    ``train`` with the same arguments; the model is wrapped as ``config.parallel`` says, rank 0
    alone draws the progress bar and writes checkpoints, and every rank returns the same
    history (losses averaged over the ranks).

    Raises:
        FloatingPointError: when the loss or the gradient becomes NaN or infinite; the weights
            are those of the step before, and no checkpoint is written after the last good one.
        ValueError: for a ``config.parallel`` that does not fit the launch, or a batch that
            does not split into ``world size * grad_accum_steps`` equal parts.
    """
    config = config or TrainConfig()
    world = distributed.world()
    if resume_from is not None and config.parallel == "fsdp":
        check.fail(
            "parallel",
            "fsdp",
            "'ddp' or 'auto' to resume: companion does not read checkpoints into sharded models",
            "resume with parallel='ddp'",
        )
    _check_eval_shards(eval_batches, config, world)
    with checkpointed(model, config.activation_checkpointing):
        return _train(
            model, loss_fn, train_batches, config, eval_batches, resume_from, override_config, world
        )


def _train(
    model: nn.Module,
    loss_fn: LossFn,
    train_batches: Batches,
    config: TrainConfig,
    eval_batches: Batches | None,
    resume_from: str | Path | None,
    override_config: bool,
    world: distributed.World,
) -> History:
    engine = _parallelize(model, config, world)
    state = TrainState.start(model, config)
    if resume_from is None:
        seed_everything(config.seed + world.rank)  # each rank its own dropout
    else:
        state.load(resume_from, override_config)
    device = next(model.parameters()).device
    state.history.device, state.history.stopped_early = str(device), None
    checkpoint = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    autocast = _autocast(config.amp, device)

    evaluating = 0.0  # seconds of this call spent in run_eval

    def run_eval() -> None:
        nonlocal evaluating
        began = time.perf_counter()
        with autocast():
            loss = evaluate(engine, loss_fn, eval_batches, config.eval_batches, config.seed)
        state.history.eval_steps.append(state.step)
        state.history.eval_loss.append(loss)
        spent = time.perf_counter() - began
        evaluating += spent
        state.history.eval_s += spent

    engine.train()
    start, elapsed_before = time.perf_counter(), state.history.elapsed_s
    # leave=False: the bar shows progress while training and is erased at the end, so what stays
    # under a notebook cell is what the caller prints (evaluated numbers), not one batch's loss.
    bar = tqdm(
        total=config.max_steps,
        initial=state.step,
        desc="train",
        leave=False,
        disable=not (config.progress and world.is_main),
    )
    with bar:
        while state.step < config.max_steps:
            state.step += 1
            lr = state.lr
            value = _accumulate_gradients(
                engine, loss_fn, train_batches(state.generator), state, autocast, world
            )
            _step(state, config.grad_clip)
            state.history.record(
                state.step, value, lr, elapsed_before + time.perf_counter() - start - evaluating
            )
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}", refresh=False)
            if eval_batches is not None and state.step % config.eval_every == 0:
                run_eval()
            if checkpoint and _due(state.step, config.checkpoint_every):
                state.save(checkpoint)
            state.history.stopped_early = _time_up(
                config, state.step, time.perf_counter() - start, world
            )
            if state.history.stopped_early:
                break
    sys.stderr.flush()  # the bar's erasure, before whatever the caller prints (Jupyter buffers it)
    if eval_batches is not None and state.history.eval_steps[-1:] != [state.step]:
        run_eval()
    if checkpoint and not _due(state.step, config.checkpoint_every):
        state.save(checkpoint)
    return state.history


def _check_eval_shards(
    eval_batches: Batches | None, config: TrainConfig, world: distributed.World
) -> None:
    """Fail before the first step, not at the first evaluation, if an evaluation batch does not
    split into the ranks' equal shares: draw one from a throwaway generator and split it. (A
    training batch that does not split fails in step 1, before any update.)"""
    if eval_batches is None or not world.is_distributed:
        return
    try:
        distributed.shard(eval_batches(torch.Generator().manual_seed(config.seed)), 0, world.size)
    except ValueError as error:
        raise ValueError(f"eval_batches: {error}") from None


def _parallelize(model: nn.Module, config: TrainConfig, world: distributed.World) -> nn.Module:
    """The module to run forward: ``model`` itself, wrapped in DDP, or sharded with FSDP.

    FSDP changes ``model`` in place: it replaces the parameters by shards (``model`` stays
    sharded after training; gather it with :func:`companion.distributed.full_state_dict`).
    """
    mode = config.parallel
    if mode == "auto":
        mode = "ddp" if world.is_distributed else "none"
    if mode == "none" and world.is_distributed:
        check.fail(
            "parallel",
            "none",
            f"'ddp' or 'fsdp' in a run of {world.size} ranks (with 'none' each rank would "
            "train its own copy on its own share of the data)",
            "use parallel='auto'",
        )
    if mode != "none" and not distributed.is_initialized():
        check.fail(
            "parallel",
            mode,
            "'none' or 'auto' without a process group",
            "launch with torchrun (e.g. torchrun --nproc_per_node=2 script.py) and call "
            "companion.distributed.init() before train()",
        )
    if mode == "ddp":
        return nn.parallel.DistributedDataParallel(model)
    if mode == "fsdp":
        for layer in _layers(model):  # one all-gather per layer, then the rest at the root
            fully_shard(layer)
        fully_shard(model)
    return model


def _layers(model: nn.Module) -> list[nn.Module]:
    """The model's Transformer layers (the units FSDP shards and checkpointing recomputes)."""
    return [m for m in model.modules() if isinstance(m, EncoderLayer | DecoderLayer)]


@contextlib.contextmanager
def checkpointed(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Within the block, each Transformer layer of ``model`` recomputes its activations in the
    backward pass (activation checkpointing): the forward pass saves only the layer's input.

    ``torch.utils.checkpoint`` replays the random state, so dropout draws the same masks when it
    recomputes them. The layers' own ``forward`` comes back when the block ends, also on an error.
    With ``enabled=False`` this does nothing.

    Raises:
        ValueError: if ``model`` has no companion ``EncoderLayer`` or ``DecoderLayer``.
    """
    layers = _layers(model) if enabled else []
    if enabled and not layers:
        raise ValueError(
            f"activation_checkpointing=True found no EncoderLayer or DecoderLayer in "
            f"{type(model).__name__}; it checkpoints companion's Transformer layers only"
        )
    for layer in layers:  # an instance attribute shadows the class's forward
        layer.forward = functools.partial(
            torch.utils.checkpoint.checkpoint,
            type(layer).forward.__get__(layer),
            use_reentrant=False,
        )
    try:
        yield model
    finally:
        for layer in layers:
            del layer.forward


def _accumulate_gradients(
    engine: nn.Module,
    loss_fn: LossFn,
    batch: Any,
    state: TrainState,
    autocast: Callable[[], contextlib.AbstractContextManager],
    world: distributed.World,
) -> float:
    """Backpropagate this rank's micro-batches of the global ``batch``; return the batch's loss.

    With ``A = grad_accum_steps`` and ``W`` ranks, rank ``r`` runs micro-batches ``r*A .. r*A+A-1``
    of ``W*A``, each loss divided by ``A``; gradients are synchronized across ranks only in the
    last micro-step's backward pass (DDP's ``no_sync``, FSDP's ``set_requires_gradient_sync``).
    The returned loss, the mean over all micro-batches of all ranks, is checked to be finite
    on every rank alike before anything is updated.
    """
    accum = state.config.grad_accum_steps
    total = torch.zeros((), device=next(state.model.parameters()).device)
    for i in range(accum):
        micro = distributed.shard(batch, world.rank * accum + i, world.size * accum)
        last = i == accum - 1
        with _gradient_sync(engine, last):
            with autocast():
                loss = loss_fn(engine, micro)
            _check_scalar(loss)
            state.scaler.scale(loss / accum if accum > 1 else loss).backward()
        total += loss.detach().float()
    mean = distributed.all_mean(total / accum if accum > 1 else total)
    return _checked_loss(mean, state)


def _gradient_sync(engine: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """A context in which ``backward`` all-reduces the gradients only if ``sync``."""
    if isinstance(engine, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext() if sync else engine.no_sync()
    if isinstance(engine, FSDPModule):
        engine.set_requires_gradient_sync(sync)
    return contextlib.nullcontext()


def _autocast(amp: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the autocast context for ``amp`` on ``device`` (a no-op in full precision)."""
    dtype = _autocast_dtype(amp, device)
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


def _time_up(config: TrainConfig, step: int, spent: float, world: distributed.World) -> str | None:
    """Why the run stops before ``max_steps`` after ``spent`` seconds, or ``None`` to go on.

    In a distributed run the ranks decide together (any rank out of time stops all), so that no
    rank waits forever in an all-reduce that the others have left.
    """
    if config.max_seconds is None or step >= config.max_steps:
        return None
    out_of_time = spent >= config.max_seconds
    if world.is_distributed:
        out_of_time = distributed.all_mean(torch.tensor(float(out_of_time))).item() > 0
    if not out_of_time:
        return None
    return f"max_seconds={config.max_seconds} spent after step {step} of {config.max_steps} ({spent:.1f} s)"


def _due(step: int, every: int | None) -> bool:
    return every is not None and step % every == 0


def _check_scalar(loss: Any) -> None:
    if not torch.is_tensor(loss) or loss.ndim != 0:
        shape = tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__
        raise ValueError(
            f"loss_fn must return a scalar tensor, got {shape}; reduce it with .mean()"
        )


def _checked_loss(loss: Tensor, state: TrainState) -> float:
    """The value of ``loss``, checked to be finite before the weights are updated.

    On a NaN or infinite loss the gradients just computed are dropped, so the state is that
    after the previous step.
    """
    value = loss.item()
    if not math.isfinite(value):
        state.optimizer.zero_grad(set_to_none=True)
        raise FloatingPointError(
            f"the loss became {value} at step {state.step} (lr {state.lr:.3g}); training stopped "
            "before updating the weights, which are those after step "
            f"{state.step - 1}, and no checkpoint was written after the last good one. "
            + _NAN_ADVICE
        )
    return value


_NAN_ADVICE = (
    "Try a lower lr (e.g. half), gradient clipping (grad_clip=1.0), a longer warm-up, "
    "amp='bf16' or 'off' instead of fp16, and check the data (e.g. batches whose "
    "targets are all ignored give a NaN mean)"
)


def _step(state: TrainState, grad_clip: float | None) -> None:
    """Clip the global gradient norm, take one optimizer step, clear the gradients.

    With fp16 the loss was multiplied by the scaler's factor S before ``backward`` (so small
    gradients do not underflow) and the gradients are divided by S here, before clipping; a step
    whose gradients overflowed is skipped and S halved. Without fp16 the scaler does nothing, and
    a NaN or infinite gradient stops the run before the step, with the weights untouched.
    """
    state.scaler.unscale_(state.optimizer)
    # ||g||_2 over all parameters together; with clipping, g <- g * min(1, grad_clip / ||g||_2)
    max_norm = grad_clip if grad_clip is not None else math.inf
    norm = nn.utils.clip_grad_norm_(state.model.parameters(), max_norm)
    norm = norm.full_tensor() if isinstance(norm, DTensor) else norm  # FSDP: the global norm
    if not state.scaler.is_enabled() and not torch.isfinite(norm):
        state.optimizer.zero_grad(set_to_none=True)
        raise FloatingPointError(
            f"the gradient became {norm.item()} at step {state.step} although the loss was "
            f"finite; training stopped before the update, so the weights are those after step "
            f"{state.step - 1}, and no checkpoint was written after the last good one. "
            + _NAN_ADVICE
        )
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
