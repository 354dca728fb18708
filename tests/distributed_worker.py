"""Training runs for tests/test_distributed.py, started by ``torchrun --standalone`` or by itself.

    python tests/distributed_worker.py OUT SCENARIO [SCENARIO ...]

Each scenario trains the same tiny GPT on the same synthetic token stream, without gradient
clipping (clipping rescales each step by its own factor, which would distort a gradient off by a
constant factor; AdamW's normalization all but cancels one: the step-1 gradients are compared),
and (on rank 0) writes ``OUT/<scenario>.safetensors`` (the final weights),
``OUT/<scenario>.grads.safetensors`` (the gradients that step 1 applies, gathered from every
rank) and ``OUT/<scenario>.json`` (the history). Scenarios:

- ``plain``: 12 steps, global batch 8, no dropout;
- ``accum``: the same with ``grad_accum_steps=2``;
- ``fsdp``: the same with ``parallel="fsdp"``;
- ``dropout``: 12 steps with dropout 0.2, a checkpoint every 5 steps in ``OUT/dropout/``;
- ``crash``: the ``dropout`` run in ``OUT/crash/``, crashing when it draws step 8's batch;
- ``resume``: resumes ``OUT/crash/last.safetensors`` (step 5) to step 12;
- ``resume_plain``: resumes ``OUT/plain_ckpt/last.safetensors`` written by ``plain_ckpt``
  (step 6 of the ``plain`` run) to step 12, without dropout;
- ``plain_ckpt``: the ``plain`` run, writing a checkpoint at step 6 in ``OUT/plain_ckpt/`` and
  crashing when it draws step 7's batch;
- ``budget``: the ``plain`` run with ``max_seconds=2``, where the last rank alone sleeps 3 s
  while drawing step 2's batch: every rank must stop after step 2 together.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.distributed.tensor import DTensor
from torch.optim.optimizer import register_optimizer_step_pre_hook

from companion import distributed
from companion.checkpoint import save_model
from companion.data import TokenBatches
from companion.models import GPT, GPTConfig
from companion.train import TrainConfig, lm_loss, train

STEPS, BATCH, CONTEXT, VOCAB = 12, 8, 16, 23


class Crash(RuntimeError):
    pass


def model(dropout: float = 0.0) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=VOCAB, d_model=32, n_heads=4, n_layers=2, max_len=CONTEXT, dropout=dropout
    )
    return GPT(config)


def stream() -> torch.Tensor:
    """A token stream with structure to learn: each token is the one before plus 1 or 2."""
    steps = torch.randint(1, 3, (6000,), generator=torch.Generator().manual_seed(0))
    return torch.cumsum(steps, 0) % VOCAB


def run(out: Path, scenario: str) -> None:
    ids = stream()
    batches = TokenBatches(ids, BATCH, CONTEXT)
    options: dict = {}
    resume_from = None
    dropout = 0.0
    if scenario == "accum":
        options = dict(grad_accum_steps=2)
    elif scenario == "fsdp":
        options = dict(parallel="fsdp")
    elif scenario in ("dropout", "crash", "resume"):
        dropout = 0.2
        folder = "crash" if scenario == "resume" else scenario
        options = dict(checkpoint_dir=out / folder, checkpoint_every=5)
        if scenario == "crash":
            batches = crash_at(batches, 8)
        if scenario == "resume":
            resume_from = out / "crash" / "last.safetensors"
    elif scenario == "budget":
        options = dict(max_seconds=2.0)
        batches = sleep_at(batches, 2, 3.0)
    elif scenario == "plain_ckpt":
        options = dict(checkpoint_dir=out / "plain_ckpt", checkpoint_every=6)
        batches = crash_at(batches, 7)  # so that last.safetensors stays the one of step 6
    elif scenario == "resume_plain":
        options = dict(checkpoint_dir=out / "resume_plain")
        resume_from = out / "plain_ckpt" / "last.safetensors"
    net = model(dropout)
    grads = FirstStepGradients(net)
    config = TrainConfig(
        max_steps=STEPS,
        lr=3e-3,
        grad_clip=None,
        warmup_steps=2,
        eval_every=6,
        eval_batches=2,
        progress=False,
        **options,
    )
    try:
        history = train(
            net,
            lm_loss,
            batches,
            config,
            eval_batches=TokenBatches(ids[-1000:], BATCH, CONTEXT),
            resume_from=resume_from,
        )
    except Crash:
        return
    finally:
        grads.remove()
    weights = distributed.full_state_dict(net)
    if distributed.world().is_main:
        plain = model(dropout)
        plain.load_state_dict(weights)
        save_model(plain, out / f"{scenario}.safetensors")
        (out / f"{scenario}.json").write_text(json.dumps(history.to_dict()))
        if grads.recorded:
            save_file(grads.recorded, out / f"{scenario}.grads.safetensors")


class FirstStepGradients:
    """Records, before the first optimizer step of any optimizer, ``net``'s gradients (whole,
    gathered across ranks under FSDP): what that step applies. ``remove()`` unhooks it."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net, self.recorded = net, {}
        self.handle = register_optimizer_step_pre_hook(self)

    def __call__(self, optimizer, args, kwargs) -> None:
        if self.recorded:
            return
        for name, p in self.net.named_parameters():
            grad = p.grad.full_tensor() if isinstance(p.grad, DTensor) else p.grad
            self.recorded[name] = grad.detach().cpu().clone()

    def remove(self) -> None:
        self.handle.remove()


def sleep_at(batches, step: int, seconds: float):
    """``batches``, except that the last rank sleeps ``seconds`` before drawing step ``step``'s."""
    drawn = []

    def draw(generator):
        drawn.append(1)
        w = distributed.world()
        if len(drawn) == step and w.rank == w.size - 1:
            time.sleep(seconds)
        return batches(generator)

    return draw


def crash_at(batches, step: int):
    drawn = []

    def draw(generator):
        drawn.append(1)
        if len(drawn) == step:
            raise Crash(f"crash at step {step}")
        return batches(generator)

    return draw


if __name__ == "__main__":
    torch.set_num_threads(1)
    distributed.init()
    out = Path(sys.argv[1])
    for scenario in sys.argv[2:]:
        run(out, scenario)
    if distributed.is_initialized():
        torch.distributed.destroy_process_group()
