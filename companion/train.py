"""The training loop every chapter uses: AdamW, warm-up + cosine schedule, clipping, AMP,
evaluation, checkpoints and exact resume.

One step of :func:`train`, for a batch drawn from a seeded generator::

    loss = loss_fn(model, batch)            # under autocast on CUDA
    loss.backward()                         # through a GradScaler when the autocast is fp16
    clip_grad_norm_(params, grad_clip)      # rescale g so that ||g||_2 <= grad_clip
    optimizer.step()                        # AdamW, below
    scheduler.step()                        # the next step's learning rate, below

A seeded CPU run is bit-identical when repeated, and a run resumed from a checkpoint ends
bit-identical to one that was never interrupted: the checkpoint holds the model, the optimizer,
the schedule and every random state, including the generator that draws the batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion.checkpoint import load_training_state, save_training_state
from companion.runtime import seed_everything

__all__ = [
    "AMP_MODES",
    "History",
    "TrainConfig",
    "configure_optimizer",
    "evaluate",
    "lm_loss",
    "lr_at",
    "train",
]

AMP_MODES = ("auto", "bf16", "fp16", "off")
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
            it is erased when training ends.
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

    def __post_init__(self) -> None:
        for name in ("max_steps", "eval_every", "eval_batches"):
            _check(name, getattr(self, name), _is_int(getattr(self, name), 1), "a positive int")
        _check("warmup_steps", self.warmup_steps, _is_int(self.warmup_steps, 0), "an int >= 0")
        _check("seed", self.seed, _is_int(self.seed, 0), "an int >= 0")
        _check("lr", self.lr, _is_number(self.lr) and self.lr > 0, "a positive number, e.g. 3e-4")
        _check(
            "min_lr_ratio",
            self.min_lr_ratio,
            _is_number(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1,
            "in [0, 1], e.g. 0.1",
        )
        _check(
            "weight_decay",
            self.weight_decay,
            _is_number(self.weight_decay) and self.weight_decay >= 0,
            "a number >= 0, e.g. 0.1",
        )
        _check(
            "betas",
            self.betas,
            len(self.betas) == 2 and all(_is_number(b) and 0 <= b < 1 for b in self.betas),
            "two numbers in [0, 1), e.g. (0.9, 0.95)",
        )
        _check(
            "grad_clip",
            self.grad_clip,
            self.grad_clip is None or (_is_number(self.grad_clip) and self.grad_clip > 0),
            "a positive number (e.g. 1.0) or None for no clipping",
        )
        _check(
            "max_seconds",
            self.max_seconds,
            self.max_seconds is None or (_is_number(self.max_seconds) and self.max_seconds > 0),
            "a positive number of seconds or None for no budget",
        )
        _check("amp", self.amp, self.amp in AMP_MODES, f"one of {AMP_MODES}")
        _check("progress", self.progress, isinstance(self.progress, bool), "True or False")
        if self.checkpoint_every is not None:
            _check(
                "checkpoint_every",
                self.checkpoint_every,
                _is_int(self.checkpoint_every, 1),
                "a positive int or None",
            )
            if self.checkpoint_dir is None:
                raise ValueError(
                    f"checkpoint_every={self.checkpoint_every} needs a folder to write to; "
                    "set checkpoint_dir (e.g. checkpoint_dir='checkpoints')"
                )
        if self.warmup_steps >= self.max_steps:
            raise ValueError(
                f"warmup_steps={self.warmup_steps} must be smaller than max_steps="
                f"{self.max_steps}, or the learning rate never decays; use e.g. "
                f"warmup_steps={self.max_steps // 10}"
            )
        self.betas = tuple(self.betas)


def _is_int(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check(name: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"TrainConfig {name}={value!r} is invalid: expected {expected}")


@dataclass
class History:
    """What a run did, step by step; JSON-able through :meth:`to_dict`, stored in checkpoints.

    ``train_loss[i]`` and ``lr[i]`` belong to optimizer step ``steps[i]`` (1-based);
    ``eval_loss[j]`` is the mean loss on the fixed evaluation batches after step ``eval_steps[j]``.
    ``elapsed_s`` is the training wall time summed over resumed calls; ``stopped_early`` says
    why a run ended before ``max_steps`` (``None`` if it did not); ``device`` is where it ran.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    stopped_early: str | None = None
    device: str = ""

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
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    # LambdaLR counts from 0 (the learning rate before the first step), our steps from 1.
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: _lr_factor(i + 1, config))


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
    Runs in ``model.eval()`` mode (no dropout) and restores the previous mode.
    """
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        losses = [loss_fn(model, batches(generator)).float() for _ in range(n_batches)]
    finally:
        model.train(was_training)
    return torch.stack(losses).mean().item()


def _autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; ``None`` means full precision."""
    if amp == "auto":
        if device.type != "cuda":
            return None
        amp = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


def train(
    model: nn.Module,
    loss_fn: LossFn,
    train_batches: Batches,
    config: TrainConfig | None = None,
    eval_batches: Batches | None = None,
    resume_from: str | Path | None = None,
) -> History:
    """Train ``model`` in place for ``config.max_steps`` steps and return its :class:`History`.

    Args:
        model: the model, already on its device (seed and build it before calling, so that its
            initial weights are reproducible too).
        loss_fn: ``loss_fn(model, batch) -> scalar loss`` (e.g. :func:`lm_loss`).
        train_batches: ``train_batches(generator) -> batch`` on the model's device, drawing its
            randomness from ``generator`` only (e.g. :class:`companion.data.TokenBatches`).
        config: hyperparameters; ``TrainConfig()`` if ``None``.
        eval_batches: like ``train_batches``, for validation every ``config.eval_every`` steps
            and at the end, on the same ``config.eval_batches`` batches each time.
        resume_from: a checkpoint written by a run with the same model and config; the run
            continues from its step to ``config.max_steps`` exactly as if never interrupted.

    Raises:
        FloatingPointError: when the loss becomes NaN or infinite; no checkpoint is written
            after the last good one.
    """
    config = config or TrainConfig()
    device = next(model.parameters()).device
    optimizer = configure_optimizer(model, config)
    scheduler = _scheduler(optimizer, config)
    amp_dtype = _autocast_dtype(config.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    generator = torch.Generator().manual_seed(config.seed)
    if resume_from is None:
        seed_everything(config.seed)
        step, history = 0, History()
    else:
        step, saved = load_training_state(
            resume_from, model, optimizer, scheduler, generator, scaler
        )
        history = History.from_dict(saved)
    history.device, history.stopped_early = str(device), None
    checkpoint = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None

    def autocast() -> contextlib.AbstractContextManager:
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=amp_dtype)

    def run_eval() -> None:
        with autocast():
            loss = evaluate(model, loss_fn, eval_batches, config.eval_batches, config.seed)
        history.eval_steps.append(step)
        history.eval_loss.append(loss)

    def save() -> None:
        _save_checkpoint(checkpoint, model, optimizer, scheduler, scaler, step, generator, history)

    model.train()
    start, elapsed_before = time.perf_counter(), history.elapsed_s
    # leave=False: the bar shows progress while training and is erased at the end, so what stays
    # under a notebook cell is what the caller prints (evaluated numbers), not one batch's loss.
    bar = tqdm(
        total=config.max_steps, initial=step, desc="train", leave=False, disable=not config.progress
    )
    with bar:
        while step < config.max_steps:
            step += 1
            lr = optimizer.param_groups[0]["lr"]
            with autocast():
                loss = loss_fn(model, train_batches(generator))
            value = _checked_loss(loss, step, lr)
            _backward_and_step(model, loss, optimizer, scaler, config.grad_clip)
            scheduler.step()
            history.steps.append(step)
            history.train_loss.append(value)
            history.lr.append(lr)
            history.elapsed_s = elapsed_before + time.perf_counter() - start
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}", refresh=False)
            if eval_batches is not None and step % config.eval_every == 0:
                run_eval()
            if checkpoint and _due(step, config.checkpoint_every):
                save()
            history.stopped_early = _time_up(config, step, time.perf_counter() - start)
            if history.stopped_early:
                break
    sys.stderr.flush()  # the bar's erasure, before whatever the caller prints (Jupyter buffers it)
    if eval_batches is not None and history.eval_steps[-1:] != [step]:
        run_eval()
    if checkpoint and not _due(step, config.checkpoint_every):
        save()
    return history


def _time_up(config: TrainConfig, step: int, spent: float) -> str | None:
    """Why the run stops before ``max_steps`` after ``spent`` seconds, or ``None`` to go on."""
    if config.max_seconds is None or spent < config.max_seconds or step >= config.max_steps:
        return None
    return f"max_seconds={config.max_seconds} spent after step {step} of {config.max_steps} ({spent:.1f} s)"


def _due(step: int, every: int | None) -> bool:
    return every is not None and step % every == 0


def _checked_loss(loss: Tensor, step: int, lr: float) -> float:
    """The value of ``loss``, checked to be a finite scalar before anything is updated."""
    if not torch.is_tensor(loss) or loss.ndim != 0:
        shape = tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__
        raise ValueError(
            f"loss_fn must return a scalar tensor, got {shape}; reduce it with .mean()"
        )
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the loss became {value} at step {step} (lr {lr:.3g}); training stopped before "
            "updating the weights, and no checkpoint was written after the last good one. "
            "Try a lower lr (e.g. half), gradient clipping (grad_clip=1.0), a longer warm-up, "
            "amp='bf16' or 'off' instead of fp16, and check the data (e.g. batches whose "
            "targets are all ignored give a NaN mean)"
        )
    return value


def _backward_and_step(
    model: nn.Module,
    loss: Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    grad_clip: float | None,
) -> None:
    """Backpropagate, clip the global gradient norm, take one optimizer step, clear the grads.

    With fp16 the loss is multiplied by the scaler's factor S before ``backward`` (so small
    gradients do not underflow) and the gradients divided by S before clipping; a step whose
    gradients overflowed is skipped and S halved. Without fp16 the scaler does nothing.
    """
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        # g <- g * min(1, grad_clip / ||g||_2), with ||g||_2 over all parameters together
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def _save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    step: int,
    generator: torch.Generator,
    history: History,
) -> None:
    """Write the training state to ``path``, unless a weight has become NaN or infinite."""
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise FloatingPointError(
            f"weights became NaN or infinite by step {step} ({', '.join(bad[:5])}); not writing "
            f"{path}, so the last good checkpoint survives. Try a lower lr or grad_clip=1.0"
        )
    save_training_state(
        path, model, optimizer, scheduler, step, generator, history.to_dict(), scaler
    )
