"""Time a training step of companion.GPT against the same model built from torch.nn.

    .venv/bin/python benchmarks/train_gpt.py                 # CPU, 2 threads, the book's cpu model
    .venv/bin/python benchmarks/train_gpt.py --device cuda   # autocast bf16 (fp16 if unsupported)

The reference is what a PyTorch user would write: token and learned position embeddings, an
``nn.TransformerEncoder`` of pre-LN ``nn.TransformerEncoderLayer`` (GELU, batch_first) with a final
LayerNorm, run under a causal mask (``is_causal=True`` with the mask torch asks for), and a language
model head tied to the token embedding. Both models have the same parameter count (asserted) and
get the same AdamW (fused on CUDA) and the same batches. Each "step" is forward, cross-entropy,
backward, optimizer step. The two are timed in alternating rounds, so that a change of machine load
hits both, and the median round is reported. The ratio printed is reference time / companion
time: above 1.0, companion is faster.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from companion.models import GPT, GPTConfig, init_weights, num_parameters
from companion.train import TrainConfig, configure_optimizer


class TorchGPT(nn.Module):
    """GPT from torch.nn building blocks, parameter for parameter the same as companion.GPT."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.token = nn.Embedding(c.vocab_size, c.d_model)
        self.position = nn.Embedding(c.max_len, c.d_model)
        layer = nn.TransformerEncoderLayer(
            c.d_model,
            c.n_heads,
            dim_feedforward=c.d_ff,
            dropout=c.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.body = nn.TransformerEncoder(
            layer, c.n_layers, norm=nn.LayerNorm(c.d_model), enable_nested_tensor=False
        )
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.apply(init_weights)
        self.lm_head.weight = self.token.weight

    def forward(self, ids: Tensor) -> Tensor:
        t = ids.shape[1]
        x = self.token(ids) + self.position(torch.arange(t, device=ids.device))  # (b, t, d)
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)  # -inf above
        return self.lm_head(self.body(x, mask=mask, is_causal=True))  # (b, t, vocab)


def step_time(model, optimizer, batches, autocast, n_steps: int, sync) -> float:
    """Seconds per training step, averaged over ``n_steps`` steps."""
    sync()
    start = time.perf_counter()
    for x, y in batches[:n_steps]:
        with autocast():
            logits = model(x)
            loss = F.cross_entropy(rearrange(logits, "b t v -> (b t) v"), y.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync()
    return (time.perf_counter() - start) / n_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = GPTConfig(
        vocab_size=65,
        d_model=args.d_model,
        n_heads=args.heads,
        n_layers=args.layers,
        max_len=args.context,
    )
    torch.manual_seed(0)
    models = {"companion": GPT(config).to(device), "torch.nn": TorchGPT(config).to(device)}
    counts = {name: num_parameters(m) for name, m in models.items()}
    assert len(set(counts.values())) == 1, f"the two models differ in size: {counts}"
    optimizers = {name: configure_optimizer(m, TrainConfig(lr=1e-3)) for name, m in models.items()}

    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        autocast = lambda: torch.autocast("cuda", dtype=dtype)  # noqa: E731
        sync = torch.cuda.synchronize
        where = f"{torch.cuda.get_device_name(device)}, autocast {dtype}"
    else:
        autocast, sync = contextlib.nullcontext, lambda: None
        where = f"CPU, {torch.get_num_threads()} threads, float32"
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, args.context)
    batches = [
        (t.to(device), t.roll(-1, 1).to(device))
        for t in (torch.randint(65, shape, generator=g) for _ in range(args.steps))
    ]
    print(
        f"GPT: {args.layers} layers, d_model {args.d_model}, {args.heads} heads, context "
        f"{args.context}, batch {args.batch}, {counts['companion']:,} parameters; {where}"
    )
    for name, m in models.items():  # warm-up: allocator, kernels, optimizer state
        step_time(m, optimizers[name], batches, autocast, 3, sync)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, m in models.items():
            times[name].append(step_time(m, optimizers[name], batches, autocast, args.steps, sync))
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, t in median.items():
        print(f"  {name:<10} {t * 1e3:8.2f} ms/step (median of {args.rounds} rounds)")
    print(f"ratio torch.nn / companion: {median['torch.nn'] / median['companion']:.2f}x")


if __name__ == "__main__":
    main()
