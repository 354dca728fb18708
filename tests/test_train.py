"""The training loop: it learns, it is reproducible, it resumes exactly, it stops on NaN."""

import copy
import functools
import json
import math
import sys
from dataclasses import dataclass

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from tqdm import tqdm

from companion.checkpoint import load_model, read_metadata
from companion.data import TokenBatches, split
from companion.models import GPT, GPTConfig
from companion.train import (
    History,
    TrainConfig,
    TrainState,
    configure_optimizer,
    evaluate,
    lm_loss,
    lr_at,
    train,
)

VOCAB = 16

# --------------------------------------------------------------------------- a toy model


@dataclass
class BigramConfig:
    vocab_size: int = VOCAB
    d_model: int = 32
    dropout: float = 0.0


class Bigram(nn.Module):
    """Embedding -> dropout -> LayerNorm -> Linear: next-token logits from the current token only.

    ``forward(ids (batch, seq))`` -> logits ``(batch, seq, vocab_size)``.
    """

    def __init__(self, config: BigramConfig) -> None:
        super().__init__()
        self.config = config
        self.emb = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.drop(self.emb(ids))))


def bigram(seed: int = 0, dropout: float = 0.0) -> Bigram:
    torch.manual_seed(seed)
    return Bigram(BigramConfig(dropout=dropout))


def corpus(seed: int, n: int = 2000) -> torch.Tensor:
    return torch.randint(VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


TRAIN = TokenBatches(corpus(0), batch_size=8, context_len=16)
VAL = TokenBatches(corpus(1), batch_size=8, context_len=16)


def quick(**overrides) -> TrainConfig:
    """A config for a run of a second or less."""
    settings = dict(max_steps=24, warmup_steps=4, lr=1e-2, eval_every=5, eval_batches=3)
    return TrainConfig(**{**settings, "progress": False, **overrides})


def lists(history: History) -> dict:
    """Everything in a history that must be reproducible (not the wall time)."""
    d = history.to_dict()
    return {k: d[k] for k in ("steps", "train_loss", "lr", "eval_steps", "eval_loss")}


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name


class Crash(Exception):
    """Stands for a killed process."""


def crash_at(batches, call: int):
    """``batches`` that raise :class:`Crash` when drawn for the ``call``-th time."""
    calls = 0

    def draw(generator):
        nonlocal calls
        calls += 1
        if calls == call:
            raise Crash
        return batches(generator)

    return draw


# --------------------------------------------------------------------------- learning


def test_overfits_one_fixed_batch():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(VOCAB, (4, 16), generator=gen)
    y = torch.randperm(VOCAB, generator=gen)[x]  # each token has one successor: learnable
    model = bigram()
    history = train(model, lm_loss, lambda g: (x, y), quick(max_steps=100, lr=5e-2))
    print(f"fixed batch: loss {history.train_loss[0]:.3f} -> {history.train_loss[-1]:.4f}")
    assert history.train_loss[-1] < 0.05
    assert history.device == "cpu" and history.stopped_early is None


def test_lm_loss_is_the_mean_next_token_cross_entropy():
    model = bigram()
    x, y = TRAIN(torch.Generator().manual_seed(0))
    logp = F.log_softmax(model(x), dim=-1)  # (batch, seq, vocab)
    expected = -logp.gather(-1, y[..., None]).mean()
    assert torch.allclose(lm_loss(model, (x, y)), expected, rtol=1e-6, atol=0)


# --------------------------------------------------------------------------- reproducibility


def test_two_seeded_runs_are_bit_identical():
    a, b = bigram(0, dropout=0.2), bigram(0, dropout=0.2)
    history_a = train(a, lm_loss, TRAIN, quick(), eval_batches=VAL)
    history_b = train(b, lm_loss, TRAIN, quick(), eval_batches=VAL)
    assert_same_parameters(a, b)
    assert lists(history_a) == lists(history_b)
    assert not torch.equal(a.emb.weight, bigram(0).emb.weight)  # it did train
    other = train(bigram(0, dropout=0.2), lm_loss, TRAIN, quick(seed=1), eval_batches=VAL)
    assert other.train_loss != history_a.train_loss  # and the seed matters


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, amp):
    config = dict(amp=amp, checkpoint_every=10)  # 24 steps; a crash at step 11
    whole = bigram(0, dropout=0.2)
    history = train(whole, lm_loss, TRAIN, quick(**config, checkpoint_dir=tmp_path / "whole"), VAL)

    run = tmp_path / "run"
    with pytest.raises(Crash):
        train(
            bigram(0, dropout=0.2),
            lm_loss,
            crash_at(TRAIN, 11),
            quick(**config, checkpoint_dir=run),
            VAL,
        )
    assert read_metadata(run / "last.safetensors")["step"] == 10

    resumed = bigram(seed=123, dropout=0.2)  # other weights, other RNG state: all restored
    draws = []

    def counted(generator):
        draws.append(generator)
        return TRAIN(generator)

    history2 = train(
        resumed,
        lm_loss,
        counted,
        quick(**config, checkpoint_dir=run),
        VAL,
        resume_from=run / "last.safetensors",
    )

    assert len(draws) == 14  # steps 11..24 only
    assert_same_parameters(resumed, whole)
    assert lists(history2) == lists(history)
    assert history2.eval_steps == [5, 10, 15, 20, 24]
    # optimizer moments, step counts and random states, as written at the end of both runs
    a = safetensors.torch.load_file(tmp_path / "whole" / "last.safetensors")
    b = safetensors.torch.load_file(run / "last.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("optimizer.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    meta_a, meta_b = (
        read_metadata(tmp_path / "whole" / "last.safetensors"),
        read_metadata(run / "last.safetensors"),
    )
    for key in (
        "step",
        "optimizer_param_groups",
        "scheduler",
        "scaler",
        "python_random",
        "numpy_random",
    ):
        assert meta_a[key] == meta_b[key], key
    assert (meta_a["scaler"] is not None) == (amp == "fp16")


# --------------------------------------------------------------------------- failures


def test_nan_loss_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "last.safetensors"
    calls, on_disk = 0, {}

    def loss_fn(model, batch):
        nonlocal calls
        calls += 1
        if calls == 3:
            on_disk["bytes"] = path.read_bytes()  # the checkpoint of step 2
            return lm_loss(model, batch) * float("nan")
        return lm_loss(model, batch)

    model = bigram()
    with pytest.raises(
        FloatingPointError, match=r"loss became nan at step 3 \(lr 0\.0075\).*lower lr"
    ):
        train(model, loss_fn, TRAIN, quick(checkpoint_dir=tmp_path, checkpoint_every=2))
    assert calls == 3
    assert path.read_bytes() == on_disk["bytes"]
    assert read_metadata(path)["step"] == 2
    restored = load_model(bigram(1), path)
    assert all(torch.isfinite(p).all() for p in restored.parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())  # step 3 updated nothing


def test_a_nan_gradient_stops_the_run_before_the_update(tmp_path):
    """A finite loss with a NaN gradient: the error says the weights were not updated, and they
    were not (they used to be NaN in memory while the message said otherwise)."""
    path = tmp_path / "last.safetensors"
    calls, before = 0, {}

    def loss_fn(model, batch):
        nonlocal calls
        calls += 1
        loss = lm_loss(model, batch)
        if calls == 4:  # a finite loss whose gradient is NaN: sqrt'(0) * 0
            before.update({n: p.detach().clone() for n, p in model.named_parameters()})
            loss = loss + 0 * torch.sqrt(model.head.weight.sum() * 0)
        return loss

    model = bigram()
    with pytest.raises(
        FloatingPointError, match=r"gradient became nan at step 4 .* weights are those after step 3"
    ):
        train(
            model,
            loss_fn,
            TRAIN,
            quick(checkpoint_dir=tmp_path, checkpoint_every=2, grad_clip=None),
        )
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert read_metadata(path)["step"] == 2


def test_nan_weights_are_never_written_over_a_good_checkpoint(tmp_path):
    path = tmp_path / "last.safetensors"
    model = bigram()
    state = TrainState.start(model, quick())
    state.save(path)
    good = path.read_bytes()
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    state.step = 5
    with pytest.raises(
        FloatingPointError, match=r"weights became NaN or infinite by step 5 \(head"
    ):
        state.save(path)
    assert path.read_bytes() == good


def test_a_loss_that_is_not_a_scalar_is_rejected():
    def per_token(model, batch):
        x, y = batch
        return F.cross_entropy(model(x).transpose(1, 2), y, reduction="none")

    with pytest.raises(ValueError, match=r"scalar tensor, got \(8, 16\)"):
        train(bigram(), per_token, TRAIN, quick())


# --------------------------------------------------------------------------- optimizer, schedule


def test_weight_decay_only_on_matrices_and_embeddings():
    model = bigram()
    groups = configure_optimizer(model, quick(weight_decay=0.1)).param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert {id(p) for p in groups[0]["params"]} == {id(model.emb.weight), id(model.head.weight)}
    assert {id(p) for p in groups[1]["params"]} == {
        id(model.norm.weight),
        id(model.norm.bias),
        id(model.head.bias),
    }


def test_the_fused_kernel_is_used_on_the_cpu_and_equals_the_loop():
    """One fused pass over all parameters; the same update as the default implementation."""
    model = bigram()
    assert configure_optimizer(model, quick()).defaults["fused"] is True
    twin = copy.deepcopy(model)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    fused = configure_optimizer(model, quick(lr=1e-2, weight_decay=0.1))
    looped = torch.optim.AdamW(
        twin.parameters(), lr=1e-2, betas=fused.defaults["betas"], weight_decay=0.1
    )
    for group in fused.param_groups:
        group["weight_decay"] = 0.1  # the same decay everywhere, as the plain optimizer has
    for _ in range(3):
        fused.step()
        looped.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_with_zero_gradients_only_decay_moves_the_weights():
    """AdamW's update is 0 for a zero gradient, so what moves is the decoupled decay alone."""
    model = bigram()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = quick(weight_decay=0.5)
    zero_loss = lambda model, batch: sum(p.sum() for p in model.parameters()) * 0  # noqa: E731
    train(model, zero_loss, TRAIN, config)
    shrink = math.prod(
        1 - lr_at(s, config) * config.weight_decay for s in range(1, config.max_steps + 1)
    )
    for name, p in model.named_parameters():
        if p.ndim >= 2:
            assert torch.allclose(p, before[name] * shrink, rtol=1e-5, atol=0), name
        else:
            assert torch.equal(p, before[name]), name


def test_learning_rate_warms_up_then_decays_by_cosine():
    config = quick(max_steps=30, warmup_steps=5, lr=1e-3, min_lr_ratio=0.1)
    schedule = [lr_at(s, config) for s in range(1, 31)]
    assert schedule[0] == pytest.approx(1e-3 / 5)
    assert lr_at(5, config) == pytest.approx(1e-3)  # the peak at the end of the warm-up
    assert all(a < b for a, b in zip(schedule[:4], schedule[1:5], strict=True))
    assert all(a > b for a, b in zip(schedule[4:], schedule[5:], strict=False))
    assert lr_at(5 + 25 // 2, config) == pytest.approx(
        1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 12 / 25)))
    )
    assert lr_at(30, config) == pytest.approx(1e-4)  # ends at lr * min_lr_ratio
    history = train(bigram(), lm_loss, TRAIN, config)
    assert history.lr == schedule  # the scheduler the loop uses is exactly this formula


def test_gradients_are_clipped_to_grad_clip():
    norms = []

    def record_norm(optimizer, args, kwargs):  # runs just before every optimizer step
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    handle = register_optimizer_step_pre_hook(record_norm)
    try:
        train(bigram(), lm_loss, TRAIN, quick(max_steps=5, warmup_steps=1, grad_clip=1e-3))
    finally:
        handle.remove()
    assert len(norms) == 5
    assert all(1e-3 * 0.999 <= n <= 1e-3 * 1.001 for n in norms)  # ||g|| >> 1e-3 before clipping


# --------------------------------------------------------------------------- evaluation, budget


def test_eval_history_uses_the_same_fixed_batches_every_time():
    model = bigram(dropout=0.3)
    config = quick(max_steps=12, eval_every=5, eval_batches=4)
    history = train(model, lm_loss, TRAIN, config, eval_batches=VAL)
    assert history.eval_steps == [5, 10, 12]  # every 5 steps and at the end
    assert all(math.isfinite(v) for v in history.eval_loss)
    assert model.training  # evaluation restored the training mode
    # the last evaluation is reproducible: same batches, dropout off
    assert history.eval_loss[-1] == evaluate(model, lm_loss, VAL, n_batches=4, seed=config.seed)
    without_eval = train(bigram(dropout=0.3), lm_loss, TRAIN, config)
    assert without_eval.train_loss == history.train_loss  # evaluating never perturbs training


def test_time_budget_stops_early_and_says_so(tmp_path):
    config = quick(max_steps=50, max_seconds=1e-9, checkpoint_dir=tmp_path)
    history = train(bigram(), lm_loss, TRAIN, config, eval_batches=VAL)
    assert history.steps == [1]
    assert history.stopped_early.startswith("max_seconds=1e-09 spent after step 1 of 50")
    assert history.eval_steps == [1]  # evaluated at the (early) end
    assert read_metadata(tmp_path / "last.safetensors")["step"] == 1  # and checkpointed


def test_a_checkpoint_is_written_at_the_end(tmp_path):
    history = train(bigram(), lm_loss, TRAIN, quick(max_steps=7, checkpoint_dir=tmp_path))
    meta = read_metadata(tmp_path / "last.safetensors")
    assert meta["step"] == 7 and meta["history"]["train_loss"] == history.train_loss


def test_progress_bar_shows_loss_and_lr_then_is_erased(capsys, monkeypatch):
    # mininterval=0: draw at every step (by default tqdm draws at most every 0.1 s)
    train_module = sys.modules[
        train.__module__
    ]  # companion.train, the module (the package exports the function)
    monkeypatch.setattr(train_module, "tqdm", functools.partial(tqdm, mininterval=0))
    train(bigram(), lm_loss, TRAIN, quick(max_steps=3, warmup_steps=1, progress=True))
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err and "lr=" in err
    assert err.rsplit("\r", 2)[-2].strip() == ""  # the last drawing is blank: the bar is gone


def test_history_round_trips_through_json():
    history = train(bigram(), lm_loss, TRAIN, quick(max_steps=6), eval_batches=VAL)
    assert History.from_dict(json.loads(json.dumps(history.to_dict()))) == history


# --------------------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"max_steps": 0}, ValueError, "max_steps=0 must be a positive int"),
        ({"max_steps": True}, TypeError, "max_steps=True must be a positive int"),
        ({"lr": 0}, ValueError, "lr=0 must be a number > 0"),
        ({"lr": float("nan")}, ValueError, "lr=nan"),
        ({"lr": "3e-4"}, TypeError, "lr='3e-4' must be a number > 0"),
        ({"min_lr_ratio": 1.5}, ValueError, r"min_lr_ratio=1.5 must be a number in \[0, 1\]"),
        ({"warmup_steps": -1}, ValueError, "warmup_steps=-1"),
        ({"warmup_steps": 200}, ValueError, "warmup_steps=200 must be smaller than max_steps=200"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay=-0.1"),
        ({"betas": (0.9, 1.0)}, ValueError, r"betas=\(0.9, 1.0\) must be 2 numbers in \[0, 1\)"),
        ({"betas": 0.9}, TypeError, r"betas=0.9 must be 2 numbers in \[0, 1\)"),
        ({"betas": (0.9, "x")}, TypeError, r"betas=\(0.9, 'x'\)"),
        ({"grad_clip": 0}, ValueError, "grad_clip=0 .* None: no clipping"),
        ({"eval_every": 0}, ValueError, "eval_every=0"),
        ({"eval_batches": 0}, ValueError, "eval_batches=0"),
        ({"amp": "fp8"}, ValueError, "amp='fp8' must be one of"),
        ({"checkpoint_every": 10}, ValueError, "checkpoint_every=10 .* set checkpoint_dir"),
        ({"checkpoint_every": 0, "checkpoint_dir": "x"}, ValueError, "checkpoint_every=0"),
        ({"seed": -1}, ValueError, "seed=-1"),
        ({"max_seconds": 0}, ValueError, "max_seconds=0"),
        ({"progress": "yes"}, TypeError, "progress='yes' must be True or False"),
    ],
)
def test_train_config_rejects_bad_values(overrides, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(**overrides)


def test_a_checkpoint_dir_that_is_a_file_is_refused_before_training(tmp_path):
    """Found at the first save, after the whole run, it would lose the run's history."""
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    with pytest.raises(ValueError, match="checkpoint_dir=.*notes.txt' must be a folder"):
        TrainConfig(checkpoint_dir=existing)
    assert existing.read_text() == "keep me"


def test_train_config_defaults_are_valid():
    config = TrainConfig(betas=[0.9, 0.99])
    assert config.max_steps == 200 and config.betas == (0.9, 0.99) and config.amp == "auto"


# --------------------------------------------------------------------------- GPT


def char_tokens(text: str) -> tuple[torch.Tensor, int]:
    """Character-level tokens (a CharTokenizer-like ``sorted(set(text))`` vocabulary)."""
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    return torch.tensor([stoi[c] for c in text]), len(stoi)


def unigram_cross_entropy(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int) -> float:
    """Cross-entropy (nats/token) on ``val_ids`` of unigram frequencies counted on ``train_ids``
    with add-one smoothing: ``p(c) = (n_c + 1) / (N + V)``."""
    counts = torch.bincount(train_ids, minlength=vocab_size).double()
    log_p = torch.log((counts + 1) / (counts.sum() + vocab_size))
    return -log_p[val_ids].mean().item()


def test_gpt_beats_the_unigram_model_on_tiny_shakespeare(shakespeare_text):
    ids, vocab_size = char_tokens(shakespeare_text[:100_000])
    train_ids, val_ids = split(ids, val_fraction=0.1)
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=vocab_size, d_model=128, n_heads=4, n_layers=2, max_len=64, dropout=0.0
        )
    )
    config = TrainConfig(max_steps=200, lr=1e-3, warmup_steps=20, eval_every=100, progress=False)
    history = train(
        model,
        lm_loss,
        TokenBatches(train_ids, batch_size=32, context_len=64),
        config,
        eval_batches=TokenBatches(val_ids, batch_size=32, context_len=64),
    )
    unigram = unigram_cross_entropy(train_ids, val_ids, vocab_size)
    print(
        f"GPT val loss after 200 steps: {history.eval_loss[-1]:.3f} nats/char; "
        f"unigram cross-entropy: {unigram:.3f} nats/char ({history.elapsed_s:.1f} s)"
    )
    assert history.eval_steps == [100, 200]
    assert history.eval_loss[-1] < unigram


def test_gpt_with_dropout_resumes_bit_identically(tmp_path, shakespeare_text):
    ids, vocab_size = char_tokens(shakespeare_text[:20_000])
    batches = TokenBatches(ids, batch_size=4, context_len=16)
    gpt_config = GPTConfig(
        vocab_size=vocab_size, d_model=32, n_heads=2, n_layers=2, max_len=16, dropout=0.2
    )

    def gpt(seed: int) -> GPT:
        torch.manual_seed(seed)
        return GPT(gpt_config)

    config = dict(
        max_steps=12, warmup_steps=2, lr=3e-3, eval_every=4, eval_batches=2, checkpoint_every=5
    )
    whole = gpt(0)
    history = train(
        whole, lm_loss, batches, quick(**config, checkpoint_dir=tmp_path / "a"), batches
    )
    with pytest.raises(Crash):
        train(
            gpt(0),
            lm_loss,
            crash_at(batches, 6),
            quick(**config, checkpoint_dir=tmp_path / "b"),
            batches,
        )
    resumed = gpt(1)
    last = tmp_path / "b" / "last.safetensors"
    history2 = train(
        resumed,
        lm_loss,
        batches,
        quick(**config, checkpoint_dir=tmp_path / "b"),
        batches,
        resume_from=last,
    )
    assert_same_parameters(resumed, whole)
    assert resumed.lm_head.weight is resumed.body.embed.token.weight
    assert lists(history2) == lists(history)


def small_gpt(seed: int = 0, dropout: float = 0.0) -> GPT:
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(vocab_size=VOCAB, d_model=32, n_heads=4, n_layers=2, max_len=16, dropout=dropout)
    )


def test_gpt_overfits_one_batch():
    x = torch.randint(VOCAB, (4, 16), generator=torch.Generator().manual_seed(0))
    batch = (x[:, :-1], x[:, 1:])  # random text: only memorisation can fit it
    model = small_gpt()
    history = train(model, lm_loss, lambda g: batch, quick(max_steps=150, lr=3e-3, warmup_steps=10))
    print(f"GPT on one batch: loss {history.train_loss[0]:.3f} -> {history.train_loss[-1]:.4f}")
    assert history.train_loss[0] > math.log(VOCAB) - 0.5  # starts near chance
    assert history.train_loss[-1] < 0.05


def test_two_seeded_gpt_runs_are_bit_identical():
    a, b = small_gpt(dropout=0.1), small_gpt(dropout=0.1)
    history_a = train(a, lm_loss, TRAIN, quick(), eval_batches=VAL)
    history_b = train(b, lm_loss, TRAIN, quick(), eval_batches=VAL)
    assert_same_parameters(a, b)
    assert lists(history_a) == lists(history_b)


# --------------------------------------------------------------------------- resuming with another config


def test_resuming_with_a_changed_config_is_refused_before_anything_changes(tmp_path):
    train(bigram(), lm_loss, TRAIN, quick(max_steps=12, checkpoint_dir=tmp_path))
    model = bigram(1)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(
        ValueError, match=r"another TrainConfig \(lr: 0.01 -> 0.02\).*override_config"
    ):
        train(
            model,
            lm_loss,
            TRAIN,
            quick(max_steps=12, lr=2e-2),
            resume_from=tmp_path / "last.safetensors",
        )
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


def test_logistics_may_change_on_resume(tmp_path):
    train(bigram(), lm_loss, TRAIN, quick(max_steps=12, checkpoint_dir=tmp_path))
    config = quick(max_steps=12, max_seconds=60.0, eval_every=3, checkpoint_dir=tmp_path / "new")
    history = train(bigram(1), lm_loss, TRAIN, config, resume_from=tmp_path / "last.safetensors")
    assert history.steps == list(range(1, 13))


def test_override_applies_the_new_schedule_from_the_saved_step(tmp_path):
    old = quick(max_steps=12, checkpoint_dir=tmp_path)
    train(bigram(), lm_loss, TRAIN, old)
    new = quick(max_steps=30, lr=2e-2, betas=(0.8, 0.9))
    model = bigram(1)
    history = train(
        model, lm_loss, TRAIN, new, resume_from=tmp_path / "last.safetensors", override_config=True
    )
    assert history.steps == list(range(1, 31))
    assert history.lr[:12] == pytest.approx([lr_at(s, old) for s in range(1, 13)])
    assert history.lr[12:] == pytest.approx([lr_at(s, new) for s in range(13, 31)])
