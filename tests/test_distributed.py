"""Data-parallel training: two gloo processes started by torchrun train as one process does.

The runs are tests/distributed_worker.py's scenarios (a tiny GPT, 12 steps, global batch 8, no
gradient clipping), started once per module: one process, then ``torchrun --standalone
--nproc_per_node=2``, then a checkpoint of step 6 resumed on the other number of ranks.

Tolerances (float32): the gradients that step 1 applies agree to ``GRAD_RTOL = 1e-4`` relative
(``GRAD_ATOL = 1e-7`` absolute) whether the batch is split over 1 or 2 ranks, 1 or 2 micro-steps,
DDP or FSDP; after 12 AdamW steps at lr 3e-3 the parameters agree to ``PARAM_ATOL = 2e-6``
absolute (the largest difference measured was 1.2e-7), except the key projections' biases, whose
true gradient is zero and which random-walk on rounding noise (chapter 35 shows why), and the
losses to ``LOSS_ATOL = 1e-5`` (measured: below 1e-6). A run resumed on the number of ranks that wrote the checkpoint equals
the uninterrupted run bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from companion import distributed
from companion.checkpoint import read_metadata
from companion.data import TokenBatches
from companion.models import GPT, GPTConfig
from companion.train import TrainConfig, lm_loss, train

WORKER = Path(__file__).with_name("distributed_worker.py")
PARAM_ATOL, LOSS_ATOL = 2e-6, 1e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-7


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "MASTER_ADDR")}
    return dict(
        env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"
    )  # both: 2 ranks x 2 MKL threads crawl


def _launch(out: Path, scenarios: list[str], ranks: int) -> subprocess.CompletedProcess:
    prefix = [sys.executable]
    if ranks > 1:
        prefix += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    done = subprocess.run(
        [*prefix, str(WORKER), str(out), *scenarios],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """``runs / "1"``: one process's scenarios; ``runs / "2"``: two ranks'; ``runs / "2to1"``:
    the two-rank checkpoint of step 6 resumed on one process, ``runs / "1to2"`` the reverse
    (their stderr in ``stderr.txt``)."""
    root = tmp_path_factory.mktemp("distributed")
    for name in ("1", "2", "2to1", "1to2"):
        (root / name).mkdir()
    _launch(root / "1", ["plain", "accum", "dropout", "plain_ckpt"], ranks=1)
    _launch(
        root / "2",
        ["plain", "accum", "fsdp", "dropout", "crash", "resume", "plain_ckpt", "budget"],
        ranks=2,
    )
    for source, target, ranks in (("2", "2to1", 1), ("1", "1to2", 2)):
        assert read_metadata(root / source / "plain_ckpt" / "last.safetensors")["step"] == 6
        shutil.copytree(root / source / "plain_ckpt", root / target / "plain_ckpt")
        done = _launch(root / target, ["resume_plain"], ranks=ranks)
        (root / target / "stderr.txt").write_text(done.stderr)
    return root


def _max_difference(a: Path, b: Path, skip: str | None = None) -> float:
    """The largest |difference| between the tensors of two safetensors files, except those whose
    name contains ``skip``."""
    wa, wb = load_file(a), load_file(b)
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa if skip is None or skip not in k)


def _history(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    "other",
    ["1/accum", "2/plain", "2/accum", "2/fsdp", "2to1/resume_plain", "1to2/resume_plain"],
    ids=[
        "1 rank, 2 micro-steps",
        "2 ranks DDP",
        "2 ranks x 2 micro-steps",
        "2 ranks FSDP",
        "2-rank checkpoint resumed on 1",
        "1-rank checkpoint resumed on 2",
    ],
)
def test_runs_equal_one_process_with_the_whole_batch(runs, other):
    reference = runs / "1" / "plain"
    difference = _max_difference(
        reference.with_suffix(".safetensors"), runs / f"{other}.safetensors", skip="k_proj.bias"
    )
    print(f"{other}: largest parameter difference {difference:.2e}")
    assert difference <= PARAM_ATOL
    h1, h2 = _history(reference.with_suffix(".json")), _history(runs / f"{other}.json")
    assert h1["steps"] == h2["steps"] == list(range(1, 13))
    assert (
        max(abs(a - b) for a, b in zip(h1["train_loss"], h2["train_loss"], strict=True))
        <= LOSS_ATOL
    )
    assert h1["eval_steps"] == h2["eval_steps"] == [6, 12]
    assert (
        max(abs(a - b) for a, b in zip(h1["eval_loss"], h2["eval_loss"], strict=True)) <= LOSS_ATOL
    )


@pytest.mark.slow
def test_the_runs_did_train(runs):
    history = _history(runs / "1" / "plain.json")
    assert history["train_loss"][-1] < history["train_loss"][0] - 0.3


@pytest.mark.slow
def test_a_resumed_two_rank_run_equals_an_uninterrupted_one_bit_for_bit(runs):
    assert not (runs / "2" / "crash.safetensors").exists()  # it crashed at step 8 ...
    assert (runs / "2" / "crash" / "last.safetensors").exists()  # ... after a checkpoint at 5
    assert (
        _max_difference(runs / "2" / "dropout.safetensors", runs / "2" / "resume.safetensors") == 0
    )
    whole, resumed = _history(runs / "2" / "dropout.json"), _history(runs / "2" / "resume.json")
    assert resumed["train_loss"] == whole["train_loss"]
    assert resumed["eval_loss"] == whole["eval_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("other", ["1/accum", "2/plain", "2/accum", "2/fsdp"])
def test_the_first_step_applies_the_whole_batchs_mean_gradient(runs, other):
    """The step-1 gradients themselves (no clipping in these runs): a factor off (a loss not
    divided by the micro-steps, ranks' gradients summed instead of averaged) fails here at once,
    while AdamW's normalization would all but cancel it in the parameters."""
    reference = load_file(runs / "1" / "plain.grads.safetensors")
    got = load_file(runs / f"{other}.grads.safetensors")
    assert got.keys() == reference.keys()
    for name, g in reference.items():
        torch.testing.assert_close(got[name], g, rtol=GRAD_RTOL, atol=GRAD_ATOL, msg=name)
    assert max(g.abs().max().item() for g in reference.values()) > 100 * GRAD_ATOL


@pytest.mark.slow
def test_a_spent_time_budget_stops_every_rank_together(runs):
    """Only the last rank runs out of time (it sleeps at step 2); had rank 0 gone on alone, it
    would wait forever in step 3's all-reduce and the launch would time out."""
    history = _history(runs / "2" / "budget.json")
    assert history["steps"] == [1, 2]
    assert history["stopped_early"].startswith("max_seconds=2.0 spent after step 2 of 12")


@pytest.mark.slow
def test_each_rank_draws_its_own_dropout(runs):
    """Each rank seeds seed + rank, and the checkpoint keeps every rank's generator state."""
    saved = load_file(runs / "2" / "dropout" / "last.safetensors")
    assert not torch.equal(saved["rng.rank.0.torch_cpu"], saved["rng.rank.1.torch_cpu"])
    assert torch.equal(saved["rng.rank.0.torch_cpu"], saved["rng.torch_cpu"])


@pytest.mark.slow
def test_resuming_on_another_number_of_ranks_warns(runs):
    assert (
        "was written by 2 rank(s) and is resumed on 1" in (runs / "2to1" / "stderr.txt").read_text()
    )
    assert (
        "was written by 1 rank(s) and is resumed on 2" in (runs / "1to2" / "stderr.txt").read_text()
    )


@pytest.mark.slow
def test_torchrun_recipe_trains_chapter_31s_gpt_as_one_process_does(tmp_path):
    """``torchrun --nproc_per_node=2 -m companion.train_gpt`` = ``python -m companion.train_gpt``."""
    args = ["-m", "companion.train_gpt", "--profile", "ci", "--steps", "4", "--no-progress"]
    one = subprocess.run(
        [sys.executable, *args, "--save", str(tmp_path / "one.safetensors")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            *args,
            "--save",
            str(tmp_path / "two.safetensors"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    assert "1 rank(s) on cpu" in one.stdout and "2 rank(s) on cpu" in two.stdout
    assert two.stdout.count("validation loss") == 1  # rank 0 alone prints
    difference = _max_difference(
        tmp_path / "one.safetensors", tmp_path / "two.safetensors", "k_proj.bias"
    )
    assert difference <= 2e-5  # the recipe clips gradients, lr 3e-3: 5.3e-6 measured after 4 steps


# --------------------------------------------------------------------------- in one process


def _tiny(dropout: float = 0.0) -> GPT:
    torch.manual_seed(0)
    return GPT(
        GPTConfig(vocab_size=11, d_model=16, n_heads=2, n_layers=2, max_len=8, dropout=dropout)
    )


BATCHES = TokenBatches(torch.arange(500) % 11, batch_size=6, context_len=8)


def _quick(**kw) -> TrainConfig:
    return TrainConfig(max_steps=4, warmup_steps=1, progress=False, **kw)


def test_grad_accumulation_needs_a_batch_that_splits_evenly():
    with pytest.raises(ValueError, match=r"global batch of 6 examples cannot be split into 4"):
        train(_tiny(), lm_loss, BATCHES, _quick(grad_accum_steps=4))


def test_activation_checkpointing_gives_the_same_gradients_and_is_undone():
    plain, checkpointed = _tiny(0.1), _tiny(0.1)
    train(plain, lm_loss, BATCHES, _quick())
    train(checkpointed, lm_loss, BATCHES, _quick(activation_checkpointing=True))
    for (name, a), (_, b) in zip(
        plain.named_parameters(), checkpointed.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name  # dropout replays the same masks when recomputed
    assert all("forward" not in layer.__dict__ for layer in checkpointed.body.layers)


def test_activation_checkpointing_needs_transformer_layers():
    with pytest.raises(ValueError, match="found no EncoderLayer or DecoderLayer in Linear"):
        train(
            torch.nn.Linear(2, 2),
            lambda m, b: m(b).sum(),
            lambda g: torch.randn(2, 2, generator=g),
            _quick(activation_checkpointing=True),
        )


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_ddp_and_fsdp_need_a_process_group(parallel):
    with pytest.raises(ValueError, match=r"launch with torchrun .* companion.distributed.init\(\)"):
        train(_tiny(), lm_loss, BATCHES, _quick(parallel=parallel))


def test_fsdp_refuses_a_checkpoint_dir(tmp_path):
    with pytest.raises(ValueError, match="does not write sharded checkpoints"):
        _quick(parallel="fsdp", checkpoint_dir=tmp_path)


def test_init_outside_torchrun_names_what_is_missing(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not"):
        distributed.init()
    monkeypatch.delenv("WORLD_SIZE")
    assert distributed.init() == distributed.World(0, 1, 0)  # no torchrun: one process


def test_shard_cuts_every_tensor_of_a_nested_batch():
    batch = {"x": torch.arange(8).reshape(4, 2), "pair": (torch.arange(4), [torch.zeros(4, 3)])}
    part = distributed.shard(batch, 1, 2)
    assert part["x"].tolist() == [[4, 5], [6, 7]]
    assert part["pair"][0].tolist() == [2, 3] and part["pair"][1][0].shape == (2, 3)
    assert distributed.shard(batch, 0, 1) is batch
    with pytest.raises(ValueError, match=r"first dimensions \[3, 4\]"):
        distributed.shard((torch.zeros(4), torch.zeros(3)), 0, 2)
    with pytest.raises(TypeError, match="found str"):
        distributed.shard(("text", torch.zeros(4)), 0, 2)


def test_fsdp_refuses_to_resume(tmp_path):
    with pytest.raises(ValueError, match="does not read checkpoints into sharded models"):
        train(_tiny(), lm_loss, BATCHES, _quick(parallel="fsdp"), resume_from=tmp_path / "x")


def test_checkpointed_layers_come_back_after_an_error():
    model = _tiny()

    def failing(m, batch):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train(model, failing, BATCHES, _quick(activation_checkpointing=True))
    assert all("forward" not in layer.__dict__ for layer in model.body.layers)


def test_init_refuses_more_ranks_than_gpus(monkeypatch):
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1"),
                        ("MASTER_ADDR", "localhost"), ("MASTER_PORT", "29500")):  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"LOCAL_RANK=1 but this machine has 1 GPU"):
        distributed.init()
