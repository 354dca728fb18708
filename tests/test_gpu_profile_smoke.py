"""The `gpu` profile of notebooks/31_train_gpt, which no CI machine runs: each configuration it
trains is built from the notebook's own SIZES cell (whose table is companion.recipes'
CHAR_GPT_SIZES, so chapters 40 and 43 train the same rows) and takes two optimizer steps on the
CPU, so a typo in that row (a width the heads do not divide, a warm-up longer than the run) fails
here and not on a learner's Colab GPU.

The same holds for the grokking run of chapters 51, 70 and 72, whose `gpu` configuration is
companion.grokking's GROKKING_CONFIGS["gpu"]: it takes two full-batch steps on the CPU; and for
chapter 35's gpu-only run, `python -m companion.train_gpt --profile gpu --peak-tflops P`, which
takes two steps here. (Chapter 35's CUDA memory cell calls torch.cuda only: no CPU stand-in.)

Chapter 61's `gpu` profile trains one model per task and position scheme: each is built from the
notebook's own SIZE cell and takes two steps of the gpu batch on the CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from companion import GPT, GPTConfig, TokenBatches, TrainConfig, lm_loss, train
from companion.data.length_tasks import TASKS, LengthTask
from companion.grokking import GROKKING_CONFIGS, train_grokking
from companion.length import exact_match_by_length, train_length_model
from companion.recipes import CHAR_GPT_SIZES
from companion.runtime import PROFILES
from companion.train_gpt import main as train_gpt

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "31_train_gpt.ipynb"
VOCAB = 65  # Tiny Shakespeare's characters


def run_cell(notebook: str, marker: str, namespace: dict) -> dict:
    """Run the one code cell of ``notebooks/<notebook>`` that contains ``marker`` in ``namespace``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))["cells"]
    (src,) = ["".join(c["source"]) for c in cells if marker in "".join(c["source"])]
    exec(compile(src, f"{notebook}: the cell with {marker!r}", "exec"), namespace)
    return namespace


def sizes_cell() -> dict:
    """Run chapter 31's SIZES cell (it defines SIZES, build and the profile constants)."""
    namespace = {"GPT": GPT, "GPTConfig": GPTConfig, "V": VOCAB, "CHAR_GPT_SIZES": CHAR_GPT_SIZES}
    return run_cell(NOTEBOOK.name, "SIZES = CHAR_GPT_SIZES", namespace)


CELL = sizes_cell()
GPU = CELL["SIZES"]["gpu"]
# what the notebook trains under the gpu profile: the main run (and the too-little-text exercise,
# the same model), and the double-the-context exercise
CONFIGURATIONS = {"main": GPU, "double context": dict(GPU, max_len=2 * GPU["max_len"])}


@pytest.mark.parametrize("profile", ["ci", "cpu", "gpu"])
def test_every_profile_has_a_valid_training_config(profile):
    size = CELL["SIZES"][profile]
    config = TrainConfig(  # as the training cell builds it
        max_steps=size["steps"],
        lr=size["lr"],
        warmup_steps=size["steps"] // 10,
        eval_every=size["steps"] // CELL["EVALS"],
        eval_batches=CELL["EVAL_BATCHES"],
    )
    assert config.warmup_steps < config.max_steps


@pytest.mark.parametrize("name", list(CONFIGURATIONS))
def test_gpu_configuration_takes_two_steps_on_the_cpu(name):
    size = CONFIGURATIONS[name]
    torch.manual_seed(0)
    model = CELL["build"](size)
    assert model.config.max_len == size["max_len"] and model.config.dropout == size["dropout"]
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(VOCAB, (4 * size["max_len"],), generator=g)
    # the model and context as the notebook trains them; the batch is cut to 2 windows
    batches = TokenBatches(tokens, batch_size=2, context_len=size["max_len"])
    config = TrainConfig(
        max_steps=2,
        lr=size["lr"],
        warmup_steps=1,
        betas=(0.9, 0.99),
        eval_every=2,
        eval_batches=1,
        progress=False,
    )
    history = train(model, lm_loss, batches, config, eval_batches=batches)
    assert history.steps == [1, 2] and history.stopped_early is None
    assert all(math.isfinite(v) for v in history.train_loss + history.eval_loss)
    assert abs(history.train_loss[0] - math.log(VOCAB)) < 1.0  # starts near the uniform loss


def test_the_gpu_estimate_is_printed_under_five_minutes(capsys):
    sizes_cell()  # the cell asserts its own margin; here its printed estimate is read back
    line = [s for s in capsys.readouterr().out.splitlines() if s.startswith("gpu on a T4")]
    assert line and float(line[0].split("=")[-1].split()[0]) < 5


def test_the_grokking_gpu_configuration_takes_two_steps_on_the_cpu():
    config = GROKKING_CONFIGS["gpu"]
    run = train_grokking("gpu", steps=2, progress=False, run_device="cpu")
    h = run.history
    assert run.p == config.p and h.step == [0, 2]  # evaluated before the first step and at the last
    assert all(math.isfinite(v) for v in h.train_loss + h.test_loss)
    assert abs(h.train_loss[0] - math.log(config.p)) < 1.0  # starts near the uniform loss
    assert run.embedding.shape == (config.p, config.d_model)


def test_the_scaling_out_gpu_run_takes_two_steps_on_the_cpu(capsys):
    args = [
        "--profile",
        "gpu",
        "--steps",
        "2",
        "--batch",
        "2",
        "--eval-batches",
        "1",
        "--eval-every",
        "2",
    ]
    train_gpt([*args, "--no-progress", "--peak-tflops", "989"])
    out = capsys.readouterr().out
    assert "1 rank(s) on cpu: 10,770,816 parameters, 2 steps of 2 windows" in out
    assert "MFU" in out and "of 1 x 989 TFLOP/s" in out


def length_size_cell(profile: str) -> dict:
    """Run chapter 61's SIZE cell under ``profile``: it defines SIZE, SCHEMES and run_task."""
    namespace = {
        "p": PROFILES[profile],
        "TASKS": TASKS,
        "LengthTask": LengthTask,
        "train_length_model": train_length_model,
        "exact_match_by_length": exact_match_by_length,
        "dev": torch.device("cpu"),
    }
    return run_cell("61_length_generalization.ipynb", "SIZE = p.pick(", namespace)


@pytest.mark.parametrize("task", TASKS)
def test_the_length_generalization_gpu_models_take_two_steps_on_the_cpu(task):
    cell = length_size_cell("gpu")
    size = cell["SIZE"]
    assert set(size["steps"]) == set(TASKS) and size["lengths"][-1] == cell["TEST_MAX"]
    for scheme in cell["SCHEMES"]:
        run = train_length_model(
            LengthTask(task),
            scheme,
            train_max=cell["TRAIN_MAX"],
            test_max=cell["TEST_MAX"],
            d_model=size["d_model"],
            n_layers=size["n_layers"],
            steps=2,
            batch_size=size["batch"],
        )
        assert run.model.config.n_layers == size["n_layers"], scheme
        assert all(math.isfinite(v) for v in run.history.train_loss), scheme
        assert exact_match_by_length(run, [cell["TEST_MAX"]], per_length=2).keys() == {40}
