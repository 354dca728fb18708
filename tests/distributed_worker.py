"""Training runs for tests/test_distributed.py, started by ``torchrun --standalone`` or by itself.

    python tests/distributed_worker.py OUT SCENARIO [SCENARIO ...]

Each scenario trains the same tiny GPT on the same synthetic token stream and (on rank 0)
writes ``OUT/<scenario>.safetensors`` (the final weights) and ``OUT/<scenario>.json`` (the
history). Scenarios:

- ``plain``: 12 steps, global batch 8, no dropout;
- ``accum``: the same with ``grad_accum_steps=2``;
- ``fsdp``: the same with ``parallel="fsdp"``;
- ``dropout``: 12 steps with dropout 0.2, a checkpoint every 5 steps in ``OUT/dropout/``;
- ``crash``: the ``dropout`` run in ``OUT/crash/``, crashing when it draws step 8's batch;
- ``resume``: resumes ``OUT/crash/last.safetensors`` (step 5) to step 12;
- ``resume_plain``: resumes ``OUT/plain_ckpt/last.safetensors`` written by ``plain_ckpt`` (the
  ``plain`` run with a checkpoint at step 6), without dropout;
- ``plain_ckpt``: the ``plain`` run, writing a checkpoint at step 6 in ``OUT/plain_ckpt/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

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
    elif scenario == "plain_ckpt":
        options = dict(checkpoint_dir=out / "plain_ckpt", checkpoint_every=6)
    elif scenario == "resume_plain":
        options = dict(checkpoint_dir=out / "resume_plain")
        resume_from = out / "plain_ckpt" / "last.safetensors"
    net = model(dropout)
    config = TrainConfig(
        max_steps=STEPS,
        lr=3e-3,
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
    weights = distributed.full_state_dict(net)
    if distributed.world().is_main:
        plain = model(dropout)
        plain.load_state_dict(weights)
        save_model(plain, out / f"{scenario}.safetensors")
        (out / f"{scenario}.json").write_text(json.dumps(history.to_dict()))


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
