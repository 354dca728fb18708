"""Train chapter 31's character GPT from the command line, on one process or data-parallel.

One process::

    python -m companion.train_gpt --profile ci --steps 50

Two processes on one machine (``gloo`` on the CPU, ``nccl`` with one GPU per process)::

    torchrun --nproc_per_node=2 -m companion.train_gpt --profile ci --steps 50

On the CPU, give each rank its share of the cores in both thread settings torch reads, e.g.
``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1`` for two ranks on two cores: more threads than cores make
the ranks wait for each other in every all-reduce (15 times slower, measured on 2 cores).

Several machines: run the same command on each, with ``--nnodes``, a shared rendezvous endpoint
and a shared folder for checkpoints::

    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST:29500 --rdzv-id=run1 -m companion.train_gpt --profile gpu ...

The options are :func:`companion.recipes.train_char_gpt`'s; rank 0 prints the result and
writes ``--save`` (the final weights, safetensors) and ``--history`` (the run's JSON history).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from companion import distributed
from companion.checkpoint import save_model
from companion.data import tiny_shakespeare
from companion.models import GPT
from companion.recipes import train_char_gpt
from companion.runtime import PROFILES
from companion.train import AMP_MODES, PARALLEL_MODES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m companion.train_gpt", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the profile's)")
    parser.add_argument(
        "--batch", type=int, help="global batch in windows (default: the profile's)"
    )
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-steps per optimizer step")
    parser.add_argument(
        "--eval-batches", type=int, default=40, help="batches of 64 windows per evaluation"
    )
    parser.add_argument(
        "--eval-every", type=int, help="steps between evaluations (default: a quarter of the run)"
    )
    parser.add_argument("--parallel", choices=PARALLEL_MODES, default="auto")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--amp", choices=AMP_MODES, default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", type=Path, help="write last.safetensors here")
    parser.add_argument("--checkpoint-every", type=int, help="also write it every N steps")
    parser.add_argument("--resume", type=Path, help="a training checkpoint to continue from")
    parser.add_argument("--save", type=Path, help="write the final weights here (safetensors)")
    parser.add_argument("--history", type=Path, help="write the run's history here (JSON)")
    parser.add_argument(
        "--peak-tflops", type=float, help="the hardware's peak dense TFLOP/s, to print the MFU"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    world = distributed.init()
    if world.is_main:
        tiny_shakespeare()  # one rank downloads (or checks the cache) while the others wait
    distributed.barrier()
    start = time.perf_counter()
    run = train_char_gpt(
        args.profile,
        steps=args.steps,
        seed=args.seed,
        device=distributed.device(),
        progress=not args.no_progress,
        batch=args.batch,
        grad_accum_steps=args.grad_accum,
        eval_batches=args.eval_batches,
        **({"eval_every": args.eval_every} if args.eval_every else {}),
        parallel=args.parallel,
        activation_checkpointing=args.activation_checkpointing,
        amp=args.amp,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        resume_from=args.resume,
    )
    seconds = time.perf_counter() - start
    weights = distributed.full_state_dict(run.model)
    if world.is_main:
        _report(run, world, seconds, args.peak_tflops)
        if args.save:
            model = GPT(run.model.config)
            model.load_state_dict(weights)
            save_model(model, args.save)
        if args.history:
            args.history.write_text(json.dumps(run.history.to_dict()))
    if distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _report(run, world: distributed.World, seconds: float, peak_tflops: float | None) -> None:
    h, size = run.history, run.size
    tokens = h.steps[-1] * size["batch"] * size["max_len"]
    flops = tokens * run.model.flops_per_token()
    print(
        f"{world.size} rank(s) on {h.device}: {run.model.num_parameters():,} parameters, "
        f"{h.steps[-1]} steps of {size['batch']} windows, {tokens:,} tokens in {seconds:.1f} s "
        f"({h.elapsed_s:.1f} s training, {h.eval_s:.1f} s evaluating, the rest setting up)"
    )
    print(f"train loss {h.train_loss[-1]:.4f}, validation loss {h.eval_loss[-1]:.4f}")
    print(
        f"throughput {tokens / h.elapsed_s:,.0f} tokens/s, {flops / h.elapsed_s / 1e9:.2f} GFLOP/s"
    )
    if peak_tflops:
        mfu = flops / h.elapsed_s / (peak_tflops * 1e12 * world.size)
        print(f"MFU {mfu:.1%} of {world.size} x {peak_tflops:g} TFLOP/s")


if __name__ == "__main__":
    main()
