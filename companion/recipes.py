"""The book's training recipes, as functions: a later chapter reuses a model without copying cells.

* :func:`train_char_gpt` — chapter 31's character GPT on Tiny Shakespeare (chapters 40 and 43
  start from it);
* :func:`train_number_translator` — chapter 32's encoder–decoder that translates English number
  words into Chinese numerals (chapter 42 scores its translations);
* :func:`train_char_lm` — a character GPT of any width and depth on Tiny Shakespeare for a given
  number of tokens (chapter 53's scaling sweeps), with :func:`non_embedding_parameters`.

Each takes a run profile (``"ci"``, ``"cpu"`` or ``"gpu"``; by default the one
:func:`companion.runtime.profile` names) that sets the model's size and the number of steps
exactly as the chapter that introduced the recipe does, and returns the trained model in
evaluation mode with everything needed to use it. The sizes live here, once:
``CHAR_GPT_SIZES`` is chapter 31's table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from companion import validators as check
from companion.data import TokenBatches, split, tiny_shakespeare
from companion.data.number_words import (
    BOS,
    EOS,
    PAD,
    NumberBatches,
    NumberSplit,
    chinese_numeral,
    encode_pairs,
    number_tokenizers,
    split_numbers,
)
from companion.generate import greedy_decode
from companion.models import GPT, EncoderDecoder, EncoderDecoderConfig, GPTConfig, num_parameters
from companion.runtime import PROFILES, Profile, profile
from companion.seq2seq import seq2seq_loss
from companion.tokenizers import CharTokenizer
from companion.train import History, TrainConfig, lm_loss, train

# Chapter 31's table: per profile, the model, the batch, the optimizer steps and the peak lr.
CHAR_GPT_SIZES: dict[str, dict] = {
    "ci": dict(
        n_layers=2, d_model=64, n_heads=4, max_len=32, dropout=0.0, batch=32, steps=250, lr=3e-3
    ),
    "cpu": dict(
        n_layers=4, d_model=128, n_heads=4, max_len=64, dropout=0.0, batch=32, steps=2000, lr=2e-3
    ),
    "gpu": dict(
        n_layers=6, d_model=384, n_heads=6, max_len=256, dropout=0.2, batch=64, steps=1000, lr=1e-3
    ),
}
_MODEL_KEYS = ("n_layers", "d_model", "n_heads", "max_len", "dropout")

# Chapter 32's translator: one model size; the steps and the batch grow with the profile.
TRANSLATOR_STEPS = {"ci": 150, "cpu": 700, "gpu": 2000}
TRANSLATOR_BATCH = {"ci": 32, "cpu": 64, "gpu": 128}
TRANSLATOR_MAX_OUTPUT = 12  # characters: the longest numeral below 100,000 has 11, plus <eos>


def _profile(p: Profile | str | None) -> Profile:
    """``None`` -> the environment's profile; a name -> its :class:`Profile`."""
    if p is None:
        return profile()
    if isinstance(p, Profile):
        return p
    if p not in PROFILES:
        raise ValueError(
            f"profile={p!r} is not a known profile; expected one of {sorted(PROFILES)}"
        )
    return PROFILES[p]


def _steps(steps: int | None, default: int) -> int:
    if steps is None:
        return default
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(
            f"steps={steps!r} must be a positive int, or None for the profile's default"
        )
    return steps


@dataclass
class CharGPTRun:
    """A character GPT trained by :func:`train_char_gpt`, and what it was trained on.

    ``train_ids`` / ``val_ids`` are chapter 31's split of Tiny Shakespeare's character ids
    (the first 90% and the last 10%); ``size`` is the row of :data:`CHAR_GPT_SIZES` used.
    """

    model: GPT
    tokenizer: CharTokenizer
    history: History
    size: dict
    text: str
    train_ids: Tensor  # (1_003_854,) int64
    val_ids: Tensor  # (111_540,) int64


def train_char_gpt(
    profile: Profile | str | None = None,
    *,
    steps: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    batch: int | None = None,
    **options,
) -> CharGPTRun:
    """Train chapter 31's character-level GPT on Tiny Shakespeare and return it in eval mode.

    The recipe is chapter 31's section 4: the profile's row of :data:`CHAR_GPT_SIZES`, AdamW with
    betas (0.9, 0.99) and weight decay 0.1, linear warm-up over the first tenth of the steps then
    cosine decay, random windows of ``max_len`` characters, the last 10% of the text for validation
    (evaluated four times on 40 batches of 64 windows).

    Args:
        profile: ``"ci"``, ``"cpu"``, ``"gpu"`` or a :class:`~companion.runtime.Profile`;
            ``None`` uses ``COMPANION_PROFILE`` (see :func:`companion.runtime.profile`).
        steps: optimizer steps; ``None`` for the profile's (250, 2,000 and 1,000).
        seed: seeds the initial weights and the batches.
        device: where to train; ``None`` for the CPU.
        progress: show a progress bar.
        batch: windows per optimizer step (the global batch of a distributed run); ``None`` for
            the profile's.
        options: :class:`~companion.train.TrainConfig` fields that replace or add to the recipe's
            (``eval_batches``, ``grad_accum_steps``, ``parallel``, ``activation_checkpointing``,
            ``amp``, ``checkpoint_dir``, ...) and ``train``'s ``resume_from``. Under ``torchrun``
            every rank calls this alike.

    Raises:
        ValueError: for an unknown profile or a non-positive ``steps``.
    """
    size = CHAR_GPT_SIZES[_profile(profile).name]
    steps = _steps(steps, size["steps"])
    text = tiny_shakespeare(progress=progress)
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = split(torch.tensor(tokenizer.encode(text)), val_fraction=0.1)
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, **{k: size[k] for k in _MODEL_KEYS})
    model = GPT(config).to(device)
    window, batch = size["max_len"], size["batch"] if batch is None else batch
    resume_from = options.pop("resume_from", None)
    recipe = dict(
        max_steps=steps,
        lr=size["lr"],
        warmup_steps=steps // 10,
        betas=(0.9, 0.99),
        weight_decay=0.1,
        eval_every=max(1, steps // 4),
        eval_batches=40,
        seed=seed,
        progress=progress,
    )
    train_config = TrainConfig(**{**recipe, **options})
    history = train(
        model,
        lm_loss,
        TokenBatches(train_ids, batch, window, device=device),
        train_config,
        eval_batches=TokenBatches(val_ids, 64, window, device=device),
        resume_from=resume_from,
    )
    return CharGPTRun(
        model.eval(),
        tokenizer,
        history,
        dict(size, steps=steps, batch=batch),
        text,
        train_ids,
        val_ids,
    )


@dataclass
class TranslatorRun:
    """A number-words translator trained by :func:`train_number_translator`.

    ``split`` holds the numbers it was trained, validated and tested on (disjoint);
    :meth:`translate` decodes greedily.
    """

    model: EncoderDecoder
    src_tokenizer: CharTokenizer
    tgt_tokenizer: CharTokenizer
    split: NumberSplit
    history: History

    def translate(self, numbers: list[int], chunk: int = 1000) -> list[str]:
        """Greedy translations of ``english_words(n)`` for each ``n``, as Chinese numerals.

        Decodes ``chunk`` numbers per batch, at most :data:`TRANSLATOR_MAX_OUTPUT` characters each;
        the ``<eos>`` that ends a translation is not part of the string.
        """
        device = next(self.model.parameters()).device
        bos, eos = (self.tgt_tokenizer.token_to_id(t) for t in (BOS, EOS))
        out: list[str] = []
        for i in range(0, len(numbers), chunk):
            batch = encode_pairs(
                numbers[i : i + chunk], self.src_tokenizer, self.tgt_tokenizer, device
            )
            ids = greedy_decode(
                self.model, batch.src, bos, eos, TRANSLATOR_MAX_OUTPUT, batch.src_mask
            )
            out += [self.tgt_tokenizer.decode([t for t in row if t != eos]) for row in ids]
        return out

    def exact_match(self, numbers: list[int]) -> float:
        """The share of ``numbers`` whose greedy translation equals ``chinese_numeral(n)``."""
        if not numbers:
            raise ValueError("numbers is empty: pass at least one number to score")
        outputs = self.translate(numbers)
        return sum(o == chinese_numeral(n) for o, n in zip(outputs, numbers, strict=True)) / len(
            numbers
        )


def train_number_translator(
    profile: Profile | str | None = None,
    *,
    steps: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> TranslatorRun:
    """Train chapter 32's English-words -> Chinese-numerals translator and return it in eval mode.

    The recipe is chapter 32's section 4: a pre-LN encoder–decoder (2 + 2 layers, d_model 64,
    4 heads, d_ff 256), trained on ``split_numbers(0.05, 0.05, seed=0)``'s training numbers drawn
    with balanced lengths, AdamW at lr 3e-3 with warm-up over a tenth of the steps, weight decay
    0.01; validation on 2 batches of 256 held-out numbers ten times per run.

    Args:
        profile: as in :func:`train_char_gpt`; it sets the steps (150, 700, 2,000) and the batch
            (32, 64, 128 pairs).
        steps: optimizer steps; ``None`` for the profile's.
        seed: seeds the initial weights and the batches (the split is always seed 0's, so runs
            with different seeds are scored on the same held-out numbers).
        device: where to train; ``None`` for the CPU.
        progress: show a progress bar.
    """
    name = _profile(profile).name
    steps = _steps(steps, TRANSLATOR_STEPS[name])
    numbers = split_numbers(val_fraction=0.05, test_fraction=0.05, seed=0)
    src_tok, tgt_tok = number_tokenizers()
    config = EncoderDecoderConfig(
        vocab_size=src_tok.vocab_size,
        tgt_vocab_size=tgt_tok.vocab_size,
        d_model=64,
        n_heads=4,
        n_layers=2,
        d_ff=256,
        max_len=80,
        norm_first=True,
        dropout=0.0,
    )
    torch.manual_seed(seed)
    model = EncoderDecoder(config).to(device)
    pad_id = tgt_tok.token_to_id(PAD)
    train_config = TrainConfig(
        max_steps=steps,
        lr=3e-3,
        warmup_steps=steps // 10,
        weight_decay=0.01,
        eval_every=max(1, steps // 10),
        eval_batches=2,
        seed=seed,
        progress=progress,
    )
    history = train(
        model,
        lambda m, b: seq2seq_loss(m, b, pad_id),
        NumberBatches(numbers.train, TRANSLATOR_BATCH[name], src_tok, tgt_tok, device=device),
        train_config,
        NumberBatches(numbers.val, 256, src_tok, tgt_tok, device=device, balanced=False),
    )
    return TranslatorRun(model.eval(), src_tok, tgt_tok, numbers, history)


# Chapter 53's scaling sweeps, per profile: model shapes (n_layers, d_model, n_heads) trained on one
# number of tokens each (the size sweep, L(N) at fixed D), and FLOP budgets C = 6 N D, each with the
# shapes trained at it (IsoFLOP curves; N is the non-embedding count). Every run: 32 windows of 64
# characters per step (2,048 tokens), lr 3e-3.
SCALING_SWEEP: dict[str, dict] = {
    "ci": dict(
        shapes=[(1, 16, 2), (1, 24, 2), (1, 32, 2), (2, 32, 2), (2, 48, 4)], tokens=40 * 2048
    ),
    "cpu": dict(
        shapes=[
            (1, 24, 2),
            (1, 32, 2),
            (2, 32, 2),
            (2, 48, 4),
            (2, 64, 4),
            (3, 96, 4),
            (4, 128, 4),
        ],
        tokens=250 * 2048,
    ),
    # gpu: measured once, on an H200 (benchmarks/gpu-runs/2026-12-04-h200): at these 5.1M tokens,
    # five passes over Tiny Shakespeare, the loss stops falling past 4 x 256 (1.554; 6 x 256 1.557,
    # 6 x 384 1.607, 8 x 512 1.749), so the sweep ends there and starts lower instead.
    "gpu": dict(
        shapes=[
            (1, 32, 2),
            (2, 32, 2),
            (2, 48, 4),
            (2, 64, 4),
            (2, 128, 4),
            (4, 128, 4),
            (4, 256, 4),
        ],
        tokens=2500 * 2048,
    ),
}
ISOFLOP_BUDGETS: dict[str, dict[float, list[tuple[int, int, int]]]] = {
    # budgets C in training FLOPs as GPT.flops_per_token counts them (6 N + 12 L d T per token,
    # N with the tied output layer): D = C / flops_per_token. The grids of one profile overlap,
    # so that the best size can be compared across budgets, and reach down far enough to turn up
    # (1 x 16 at 4e11 would be 10 epochs of Tiny Shakespeare and the slowest run: left out).
    "ci": {3e9: [(1, 16, 2), (1, 32, 2), (2, 32, 2)]},
    "cpu": {
        1e11: [(1, 16, 2), (1, 24, 2), (1, 32, 2), (2, 32, 2), (2, 48, 4), (2, 64, 4)],
        4e11: [(1, 24, 2), (1, 32, 2), (2, 32, 2), (2, 48, 4), (2, 64, 4)],
    },
    "gpu": {
        1e13: [(1, 32, 2), (2, 32, 2), (2, 64, 4), (2, 128, 4), (4, 128, 4), (4, 256, 4)],
        4e13: [(2, 32, 2), (2, 64, 4), (2, 128, 4), (4, 128, 4), (4, 256, 4), (6, 256, 8)],
        1.6e14: [(2, 64, 4), (2, 128, 4), (4, 128, 4), (4, 256, 4), (6, 256, 8), (6, 384, 6)],
    },
}


def non_embedding_parameters(model: GPT) -> int:
    """The parameters of ``model`` less its token and position embeddings: Kaplan et al.'s ``N``.

    Kaplan et al. (2020, section 2.1) count the weights that do the computation, the attention and
    feed-forward layers (and the norms), not the lookup tables: with them left out, models of
    different depths fall on one curve. With tied weights the output layer *is* the token
    embedding, so it is left out too.
    """
    embed = model.body.embed
    tables = [embed.token] + ([embed.position] if embed.position is not None else [])
    return model.num_parameters() - sum(num_parameters(t) for t in tables)


@dataclass
class CharLMRun:
    """A character GPT trained by :func:`train_char_lm`.

    ``n_params`` counts every parameter, ``n_non_embedding`` Kaplan's ``N``
    (:func:`non_embedding_parameters`); ``tokens = steps * batch * context`` is ``D``; the
    history's ``eval_loss[-1]`` is the final validation loss.
    """

    model: GPT
    history: History
    n_params: int
    n_non_embedding: int
    tokens: int
    steps: int

    @property
    def loss(self) -> float:
        """The validation loss at the end of training (nats per character)."""
        return self.history.eval_loss[-1]


def train_char_lm(
    train_ids: Tensor,
    val_ids: Tensor,
    *,
    n_layers: int,
    d_model: int,
    n_heads: int,
    tokens: int,
    vocab_size: int = 65,
    context: int = 64,
    batch: int = 32,
    lr: float = 3e-3,
    evals: int = 1,
    eval_batches: int = 20,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> CharLMRun:
    """Train a character GPT of ``n_layers`` x ``d_model`` on ``tokens`` training tokens.

    Chapter 31's recipe at another size and budget: pre-LN GPT, no dropout, AdamW with betas
    (0.9, 0.99) and weight decay 0.1, warm-up over a tenth of the steps then cosine decay to a
    tenth of ``lr`` *at the last step* (so every run, long or short, ends its schedule: the
    comparison Hoffmann et al. 2022 showed Kaplan et al.'s fixed schedule got wrong). Random
    windows of ``context`` characters from ``train_ids``, ``batch`` per step, for
    ``steps = round(tokens / (batch * context))`` steps (at least 10); ``evals`` evaluations on
    the same ``eval_batches`` batches of 64 windows of ``val_ids``.

    Args:
        train_ids, val_ids: 1-D token ids, e.g. chapter 31's split of Tiny Shakespeare.
        n_layers, d_model, n_heads: the model's shape (``n_heads`` divides ``d_model``).
        tokens: the training budget ``D`` in tokens.

    Raises:
        ValueError: a non-positive ``tokens``, ``batch``, ``context`` or ``lr``, ids not below
            ``vocab_size``, or a shape :class:`~companion.models.GPTConfig` refuses.
    """
    check.positive_int("tokens", tokens, "the training budget D, e.g. 1_000_000")
    check.positive_int("evals", evals)
    check.positive_int("batch", batch, "windows per step, e.g. 32")
    check.positive_int("context", context, "characters per window, e.g. 64")
    check.number("lr", lr, 0, low_open=True, hint="the peak learning rate, e.g. 3e-3")
    check.positive_int("vocab_size", vocab_size, "pass tokenizer.vocab_size")
    for name, ids in (("train_ids", train_ids), ("val_ids", val_ids)):
        if int(ids.max()) >= vocab_size:
            check.fail(
                name,
                f"ids up to {int(ids.max())}",
                f"ids below vocab_size={vocab_size}",
                "pass tokenizer.vocab_size as vocab_size",
            )
    steps = max(10, round(tokens / (batch * context)))
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=vocab_size,
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        max_len=context,
        dropout=0.0,
    )
    model = GPT(config).to(device)
    train_config = TrainConfig(
        max_steps=steps,
        lr=lr,
        warmup_steps=steps // 10,
        betas=(0.9, 0.99),
        weight_decay=0.1,
        eval_every=max(1, steps // evals),
        eval_batches=eval_batches,
        seed=seed,
        progress=progress,
    )
    history = train(
        model,
        lm_loss,
        TokenBatches(train_ids, batch, context, device=device),
        train_config,
        eval_batches=TokenBatches(val_ids, 64, context, device=device),
    )
    return CharLMRun(
        model.eval(),
        history,
        model.num_parameters(),
        non_embedding_parameters(model),
        steps * batch * context,
        steps,
    )
