"""Grokking on modular addition (chapter 51): the task, the models, the training run, the reduction.

The task is ``a + b mod p`` for every pair ``(a, b)`` in ``[0, p)²`` (Power et al. 2022), a fraction
of the pairs for training and the rest for testing. :func:`train_grokking` trains a one-layer
Transformer (companion's :class:`~companion.models.GPT` on the three tokens ``a b =``) or a small
MLP with full-batch AdamW and strong weight decay, and returns a :class:`GrokkingRun`: the model,
the split, the history and the helpers later chapters reuse (``run.hidden``, ``run.predict``,
``run.logits``).

The reduction follows Nanda et al. (2023):

* :func:`fourier_basis` — the orthonormal basis of functions on ``Z_p``: the constant, then
  ``cos(w_k x)`` and ``sin(w_k x)`` for ``w_k = 2πk/p``, ``k = 1 … (p-1)/2``;
* :func:`fourier_spectrum` — the squared norm of an embedding matrix in each frequency (cos and
  sin of one frequency together), :func:`key_frequencies` and :func:`norm_fraction_in_top_k`;
* :func:`cos_logit_fraction` — how much of the logits' variance ``cos(w_k(a + b - c))`` explains;
* :func:`restricted_loss` and :func:`excluded_loss` — the progress measures: the loss with the
  logits kept to, or stripped of, the key frequencies' ``cos/sin(w_k(a + b))`` components.

Sizes per run profile live in ``GROKKING_CONFIGS``, once.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from tqdm import tqdm  # text bars: they render in the static book and need no widgets

from companion import validators as check
from companion.models import GPT, GPTConfig
from companion.runtime import PROFILES, Profile, device, profile, seed_everything

__all__ = [
    "GROKKING_CONFIGS",
    "GrokkingConfig",
    "GrokkingHistory",
    "GrokkingRun",
    "ModularMLP",
    "build_model",
    "cos_logit_fraction",
    "excluded_loss",
    "fourier_basis",
    "fourier_spectrum",
    "key_frequencies",
    "modular_addition",
    "norm_fraction_in_top_k",
    "restricted_loss",
    "train_grokking",
]

MODELS = ("transformer", "mlp")


@dataclass(frozen=True)
class GrokkingConfig:
    """One grokking run: the task, the model, the optimizer and the budget.

    Attributes:
        p: the modulus (a prime, so that every frequency ``k`` has period ``p``).
        train_fraction: the fraction of the ``p²`` pairs used for training.
        model: ``"transformer"`` (one layer on ``a b =``) or ``"mlp"`` (embed ``a`` and ``b``,
            concatenate, one ReLU layer, unembed).
        d_model: embedding width. n_heads: attention heads (transformer only).
        d_mlp: hidden width of the MLP block (transformer) or of the MLP model.
        layer_norm: keep the Transformer's LayerNorms (False: Nanda et al.'s model has none).
        init_scale: multiplies every weight matrix after initialisation (companion's N(0, 0.02²)
            for the Transformer, PyTorch's default for the MLP). A larger initial weight norm
            lengthens the memorisation plateau (Liu et al. 2023, "Omnigrok").
        lr, weight_decay, betas: full-batch AdamW.
        steps: optimizer steps. log_every: steps between two evaluations on every pair.
        checkpoint_every: steps between two saved weights, from which the progress measures are
            computed once the key frequencies of the final model are known.
        n_key: how many key frequencies the progress measures keep or remove.
    """

    p: int = 59
    train_fraction: float = 0.5
    model: str = "transformer"
    d_model: int = 64
    n_heads: int = 4
    d_mlp: int = 256
    layer_norm: bool = True
    init_scale: float = 1.0
    lr: float = 3e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    steps: int = 4000
    log_every: int = 10
    checkpoint_every: int = 100
    n_key: int = 5

    def __post_init__(self) -> None:
        check.positive_int("p", self.p)
        if self.p < 3 or any(self.p % d == 0 for d in range(2, math.isqrt(self.p) + 1)):
            check.fail("p", self.p, "an odd prime", "e.g. 59, 97 or 113")
        check.number("train_fraction", self.train_fraction, 0, 1, low_open=True, high_open=True)
        check.one_of("model", self.model, MODELS)
        for name in ("d_model", "n_heads", "d_mlp", "steps", "log_every", "checkpoint_every"):
            check.positive_int(name, getattr(self, name))
        check.divisible("d_model", self.d_model, "n_heads", self.n_heads)
        check.boolean("layer_norm", self.layer_norm)
        check.number("init_scale", self.init_scale, 0, low_open=True)
        check.number("lr", self.lr, 0, low_open=True)
        check.number("weight_decay", self.weight_decay, 0)
        check.sequence_of_numbers("betas", self.betas, 2, 0, 1, high_open=True)
        check.positive_int("n_key", self.n_key)
        if self.n_key > (self.p - 1) // 2:
            check.fail("n_key", self.n_key, f"<= (p - 1) / 2 = {(self.p - 1) // 2}")


# Per profile: the chapter's main run. cpu: a one-layer Transformer, p = 59, with a 10x initial
# scale so that memorising comes long before grokking; gpu: Nanda et al. (2023)'s configuration;
# ci: a small MLP that only has time to memorise (it exercises the code, not the phenomenon).
GROKKING_CONFIGS: dict[str, GrokkingConfig] = {
    "ci": GrokkingConfig(
        p=23, train_fraction=0.5, model="mlp", d_model=32, d_mlp=128, lr=1e-2, steps=300,
        log_every=10, checkpoint_every=25, n_key=3,
    ),
    "cpu": GrokkingConfig(init_scale=10.0, n_key=7),  # its embedding spreads over ~7 circles
    # gpu: init_scale 1/(0.02 sqrt(d_model)) gives Nanda et al.'s N(0, 1/d_model) weights. With
    # init_scale 1, on the CPU, it had train 0.65 / test 0.53 at step 4,000 (no memorising first);
    # with this one, train 1.00 / test 0.06 at step 250, test 0.09 at 1,500 (the full run unmeasured)
    "gpu": GrokkingConfig(
        p=113, train_fraction=0.3, d_model=128, n_heads=4, d_mlp=512, layer_norm=False, lr=1e-3,
        init_scale=1 / (0.02 * 128**0.5), steps=25_000, log_every=50, checkpoint_every=250,
    ),
}  # fmt: skip


def modular_addition(p: int, train_fraction: float, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Every pair of ``a + b mod p`` and a random split.

    Returns:
        pairs ``(p², 2)`` int64, row ``a·p + b`` holding ``(a, b)``; labels ``(p²,)`` ``(a + b) % p``;
        is_train ``(p²,)`` bool, True for ``round(train_fraction · p²)`` pairs drawn with ``seed``.
    """
    check.positive_int("p", p)
    check.number("train_fraction", train_fraction, 0, 1, low_open=True, high_open=True)
    check.nonnegative_int("seed", seed)
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")  # (p, p) each
    pairs = torch.stack([a.flatten(), b.flatten()], dim=1)  # (p², 2)
    labels = (pairs[:, 0] + pairs[:, 1]) % p  # (p²,)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    is_train = torch.zeros(p * p, dtype=torch.bool)
    is_train[order[: round(train_fraction * p * p)]] = True
    return pairs, labels, is_train


class ModularMLP(nn.Module):
    """``logits = W_U ReLU(W_in [E a ; E b] + b_in)``: one embedding shared by ``a`` and ``b``.

    ``forward(pairs (batch, 2))`` -> logits ``(batch, p)``; ``hidden(pairs)`` -> ``(batch, d_mlp)``.
    """

    def __init__(self, p: int, d_model: int, d_mlp: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, d_model)
        self.w_in = nn.Linear(2 * d_model, d_mlp)
        self.unembed = nn.Linear(d_mlp, p, bias=False)

    def hidden(self, pairs: Tensor) -> Tensor:
        """The hidden layer ``(batch, d_mlp)`` for ``pairs``, int64 ``(batch, 2)`` rows ``(a, b)``."""
        x = rearrange(self.embed(pairs), "batch two d -> batch (two d)")  # (batch, 2 d_model)
        return F.relu(self.w_in(x))  # (batch, d_mlp)

    def forward(self, pairs: Tensor) -> Tensor:
        """Logits ``(batch, p)`` for ``pairs``, int64 ``(batch, 2)`` rows ``(a, b)``."""
        return self.unembed(self.hidden(pairs))  # (batch, p)


def build_model(config: GrokkingConfig) -> nn.Module:
    """The untrained model ``config`` describes, with its weight matrices scaled by ``init_scale``
    (what :func:`train_grokking` starts from; also how chapter 70 counts parameters at other p)."""
    model = _architecture(config)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.ndim >= 2:  # matrices only: biases and LayerNorm gains stay as they are
                weight.mul_(config.init_scale)
    return model


def _architecture(config: GrokkingConfig) -> nn.Module:
    if config.model == "mlp":
        return ModularMLP(config.p, config.d_model, config.d_mlp)
    model = GPT(
        GPTConfig(
            vocab_size=config.p + 1,  # the p residues and "="
            d_model=config.d_model,
            n_heads=config.n_heads,
            n_layers=1,
            d_ff=config.d_mlp,
            max_len=3,
            activation="relu",
            tie_weights=False,
        )
    )
    if not config.layer_norm:  # Nanda et al.: no LayerNorm anywhere
        layer = model.body.layers[0]
        layer.norm1, layer.norm2, model.body.norm = nn.Identity(), nn.Identity(), nn.Identity()
    return model


@dataclass
class GrokkingHistory:
    """What :func:`train_grokking` measured. Every list is indexed like ``step`` (the first entry is
    step 0, before any update), except the progress measures, indexed like ``checkpoint_step``."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    checkpoint_step: list[int] = field(default_factory=list)
    restricted_loss: list[float] = field(default_factory=list)
    excluded_loss: list[float] = field(default_factory=list)

    def first_step(self, metric: str, threshold: float) -> int | None:
        """The first logged step at which ``metric`` (e.g. ``"test_acc"``) is ``>= threshold``."""
        check.one_of("metric", metric, ("train_acc", "test_acc"))
        return next(
            (s for s, v in zip(self.step, getattr(self, metric), strict=True) if v >= threshold),
            None,
        )


@dataclass
class GrokkingRun:
    """A trained run: the model (eval mode), its config, the split and the history.

    ``pairs (p², 2)``, ``labels (p²,)`` and ``is_train (p²,)`` are :func:`modular_addition`'s.
    ``checkpoints`` holds the weights at ``history.checkpoint_step``.
    """

    config: GrokkingConfig
    model: nn.Module
    pairs: Tensor
    labels: Tensor
    is_train: Tensor
    history: GrokkingHistory
    checkpoints: list[dict[str, Tensor]]
    seconds: float

    @property
    def p(self) -> int:
        return self.config.p

    @property
    def embedding(self) -> Tensor:
        """The token embedding of the ``p`` residues, ``W_E (p, d_model)`` (the "=" row left out)."""
        return self.embedding_at(len(self.checkpoints) - 1) if self.checkpoints else self._wte()

    def embedding_at(self, i: int) -> Tensor:
        """``W_E (p, d_model)`` at checkpoint ``i`` (step ``history.checkpoint_step[i]``)."""
        key = "embed.weight" if isinstance(self.model, ModularMLP) else "body.embed.token.weight"
        return self.checkpoints[i][key][: self.p].detach().cpu()

    def _wte(self) -> Tensor:
        if isinstance(self.model, ModularMLP):
            return self.model.embed.weight.detach().cpu()
        return self.model.body.embed.token.weight.detach()[: self.p].cpu()

    def _pairs(self, a: Tensor | int, b: Tensor | int) -> Tensor:
        a, b = torch.as_tensor(a).flatten(), torch.as_tensor(b).flatten()
        if a.shape != b.shape:
            check.fail("b", tuple(b.shape), f"the shape of a, {tuple(a.shape)}")
        for name, x in (("a", a), ("b", b)):
            if x.dtype.is_floating_point or bool(((x < 0) | (x >= self.p)).any()):
                check.fail(name, x.tolist()[:5], f"integers in [0, p={self.p})")
        return torch.stack([a, b], dim=1).long()  # (batch, 2)

    @torch.no_grad()
    def _forward(self, pairs: Tensor, hidden: bool) -> Tensor:
        dev = next(self.model.parameters()).device
        pairs = pairs.to(dev)
        if isinstance(self.model, ModularMLP):
            out = self.model.hidden(pairs) if hidden else self.model(pairs)
            return out.cpu()
        eq = torch.full((len(pairs), 1), self.p, device=dev)
        ids = torch.cat([pairs, eq], dim=1)  # (batch, 3): a b =
        h = self.model.body(ids, is_causal=True)[:, -1]  # (batch, d_model) at "="
        return (h if hidden else self.model.lm_head(h)[:, : self.p]).cpu()

    def hidden(self, a: Tensor | int, b: Tensor | int) -> Tensor:
        """The representation the answer is read from, ``(batch, d)``: the Transformer's residual
        stream at the ``=`` position after the last layer and the final LayerNorm where the model
        has one (``d = d_model``), or the MLP's hidden layer (``d = d_mlp``). ``a`` and ``b``: ints
        or int tensors of one shape, flattened."""
        return self._forward(self._pairs(a, b), hidden=True)

    def logits(self, a: Tensor | int | None = None, b: Tensor | int | None = None) -> Tensor:
        """Logits over the ``p`` answers, ``(batch, p)``; with no arguments, for every pair in
        ``self.pairs`` order, ``(p², p)``."""
        pairs = self.pairs if a is None and b is None else self._pairs(a, b)
        return self._forward(pairs, hidden=False)

    def predict(self, a: Tensor | int, b: Tensor | int) -> Tensor:
        """The model's answer to ``a + b mod p``, ``(batch,)`` int64."""
        return self.logits(a, b).argmax(-1)

    def load_checkpoint(self, i: int) -> nn.Module:
        """A copy of the model with the weights of checkpoint ``i`` (step
        ``history.checkpoint_step[i]``), in eval mode."""
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.checkpoints[i])
        return model.eval()


# --- Fourier analysis on Z_p ---------------------------------------------------------------


def fourier_basis(p: int) -> Tensor:
    """The orthonormal Fourier basis of functions on ``Z_p``, ``(p, p)``, one function per row:

    row 0 = ``1/√p``; rows ``2k-1, 2k`` = ``√(2/p) cos(w_k x)``, ``√(2/p) sin(w_k x)``, with
    ``w_k = 2πk/p`` for ``k = 1 … (p-1)/2`` (``p`` odd). ``basis @ basis.T = I``.
    """
    check.positive_int("p", p)
    if p % 2 == 0:
        check.fail("p", p, "odd", "the cos/sin pairs then cover every row (e.g. 59, 97, 113)")
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        w = 2 * math.pi * k / p
        rows += [math.sqrt(2 / p) * torch.cos(w * x), math.sqrt(2 / p) * torch.sin(w * x)]
    return torch.stack(rows)  # (p, p)


def _matrix(name: str, W: Tensor) -> Tensor:
    if not isinstance(W, Tensor):
        check.fail(name, type(W).__name__, "a torch.Tensor (p, d)", error=TypeError)
    if W.ndim != 2 or W.shape[0] % 2 == 0:
        check.fail(name, tuple(W.shape), "a 2-D tensor (p, d) with p odd", "one row per residue")
    return W.detach().double().cpu()


def fourier_spectrum(W: Tensor) -> Tensor:
    """The squared norm of ``W (p, d)`` in each frequency, ``((p+1)/2,)``, summing to ``‖W‖²_F``:

    ``s_0 = ‖F_0 W‖²`` (the constant), ``s_k = ‖F_cos_k W‖² + ‖F_sin_k W‖²`` for ``k ≥ 1``, where
    ``F = fourier_basis(p)``: cos and sin of one frequency are one direction of rotation, counted
    together.
    """
    W = _matrix("W", W)
    coefficients = fourier_basis(W.shape[0]) @ W  # (p, d)
    power = coefficients.pow(2).sum(-1)  # (p,): squared norm per basis function
    pairs = rearrange(power[1:], "(k two) -> k two", two=2).sum(-1)  # ((p-1)/2,)
    return torch.cat([power[:1], pairs])  # ((p+1)/2,): index = frequency k


def norm_fraction_in_top_k(W: Tensor, k: int) -> float:
    """The fraction of ``‖W‖²_F`` held by the ``k`` largest entries of :func:`fourier_spectrum`
    (the constant counts as a frequency like the others)."""
    spectrum = fourier_spectrum(W)
    check.positive_int("k", k)
    return float(spectrum.sort(descending=True).values[:k].sum() / spectrum.sum())


def key_frequencies(W: Tensor, k: int) -> list[int]:
    """The ``k`` non-constant frequencies with the largest squared norm in ``W (p, d)``, sorted."""
    spectrum = fourier_spectrum(W)[1:]
    check.positive_int("k", k)
    if k > len(spectrum):
        check.fail("k", k, f"<= (p - 1) / 2 = {len(spectrum)}")
    return sorted((spectrum.topk(k).indices + 1).tolist())


def _logit_cube(logits: Tensor, p: int) -> Tensor:
    if not isinstance(logits, Tensor) or logits.shape != (p * p, p):
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        check.fail(
            "logits", shape, f"a tensor (p², p) = ({p * p}, {p}), rows in pair order a·p + b"
        )
    return rearrange(logits.double(), "(a b) c -> a b c", a=p)  # (p, p, p)


def _check_frequencies(frequencies: list[int], p: int) -> list[int]:
    """Frequencies are distinct ints in ``1 … (p-1)/2``: ``k`` and ``p - k`` are one circle."""
    top = (p - 1) // 2
    if (
        not isinstance(frequencies, (list, tuple))
        or not frequencies
        or not all(isinstance(k, int) and 1 <= k <= top for k in frequencies)
        or len(set(frequencies)) != len(frequencies)
    ):
        check.fail(
            "frequencies", frequencies, f"a non-empty list of distinct ints in 1 … {top}",
            "use key_frequencies(W_E, n) (frequency 0, the constant, is not a circle)",
        )  # fmt: skip
    return list(frequencies)


def _sum_directions(p: int, frequencies: list[int]) -> Tensor:
    """``cos(w_k(a + b))`` and ``sin(w_k(a + b))`` over the grid, normalised: ``(2K, p, p)``."""
    s = (torch.arange(p)[:, None] + torch.arange(p)[None, :]).double()  # (p, p): a + b
    dirs = []
    for k in frequencies:
        w = 2 * math.pi * k / p
        dirs += [torch.cos(w * s), torch.sin(w * s)]
    dirs = torch.stack(dirs)  # (2K, p, p)
    return dirs / dirs.flatten(1).norm(dim=1)[:, None, None]


def _key_part(cube: Tensor, frequencies: list[int]) -> Tensor:
    """The component of the logits along ``cos/sin(w_k(a + b))``, for each answer ``c``."""
    dirs = _sum_directions(cube.shape[0], frequencies)  # (2K, p, p)
    coeff = torch.einsum("kab,abc->kc", dirs, cube)  # (2K, p): projection per answer c
    return torch.einsum("kab,kc->abc", dirs, coeff)  # (p, p, p)


def _loss(cube: Tensor, labels: Tensor, mask: Tensor) -> float:
    flat = rearrange(cube, "a b c -> (a b) c")  # (p², p)
    return float(F.cross_entropy(flat[mask], labels[mask]))


def restricted_loss(logits: Tensor, labels: Tensor, mask: Tensor, frequencies: list[int]) -> float:
    """Cross-entropy on the pairs in ``mask`` of the logits kept to the key frequencies (Nanda et
    al. 2023, §5.1): for each answer ``c``, the mean over ``(a, b)`` plus the projection onto
    ``cos(w_k(a + b))`` and ``sin(w_k(a + b))`` for ``k`` in ``frequencies``.

    ``logits (p², p)`` for every pair in :func:`modular_addition`'s order; ``labels (p²,)``;
    ``mask (p²,)`` bool. Low when the generalising circuit alone gives the answers.
    """
    p = logits.shape[-1]
    cube = _logit_cube(logits, p)
    frequencies = _check_frequencies(frequencies, p)
    kept = cube.mean(dim=(0, 1), keepdim=True) + _key_part(cube, frequencies)  # (p, p, p)
    return _loss(kept, labels, mask)


def excluded_loss(logits: Tensor, labels: Tensor, mask: Tensor, frequencies: list[int]) -> float:
    """Cross-entropy on the pairs in ``mask`` (the training pairs, in Nanda et al. 2023) of the
    logits with the key frequencies' ``cos/sin(w_k(a + b))`` components removed. It rises as the
    training answers come to rely on the circuit instead of memorisation."""
    p = logits.shape[-1]
    cube = _logit_cube(logits, p)
    frequencies = _check_frequencies(frequencies, p)
    return _loss(cube - _key_part(cube, frequencies), labels, mask)


def cos_logit_fraction(logits: Tensor, frequencies: list[int]) -> float:
    """The fraction of the logits' variance over answers explained by ``Σ_k α_k cos(w_k(a + b - c))``.

    The logits ``(p², p)`` are centred over ``c`` for each pair (softmax ignores a shift), then
    projected onto the functions ``cos(w_k(a + b - c))``, which are orthogonal on the grid:
    ``fraction = Σ_k <L, f_k>² / ‖f_k‖² / ‖L‖²``.
    """
    p = logits.shape[-1]
    cube = _logit_cube(logits, p)
    frequencies = _check_frequencies(frequencies, p)
    centred = cube - cube.mean(-1, keepdim=True)  # (p, p, p)
    r = torch.arange(p).double()
    phase = r[:, None, None] + r[None, :, None] - r[None, None, :]  # (p, p, p): a + b - c
    explained = 0.0
    for k in frequencies:
        f = torch.cos(2 * math.pi * k / p * phase)  # (p, p, p)
        explained += float((centred * f).sum() ** 2 / (f * f).sum())
    return explained / float(centred.pow(2).sum())


# --- training -------------------------------------------------------------------------------


def _config(config: GrokkingConfig | Profile | str | None) -> GrokkingConfig:
    if isinstance(config, GrokkingConfig):
        return config
    if config is None:
        config = profile()
    name = config.name if isinstance(config, Profile) else config
    if name not in PROFILES:
        check.fail("config", name, f"a GrokkingConfig or a profile name in {sorted(PROFILES)}")
    return GROKKING_CONFIGS[name]


def train_grokking(
    config: GrokkingConfig | Profile | str | None = None,
    *,
    seed: int = 0,
    steps: int | None = None,
    weight_decay: float | None = None,
    train_fraction: float | None = None,
    until_test_acc: float | None = None,
    progress: bool = True,
    run_device: torch.device | str | None = None,
) -> GrokkingRun:
    """Train on ``a + b mod p`` with full-batch AdamW and return the :class:`GrokkingRun`.

    Args:
        config: a :class:`GrokkingConfig`, or a profile (name) whose ``GROKKING_CONFIGS`` entry
            to use; ``None``: the environment's profile.
        seed: seeds the split and the initialisation.
        steps, weight_decay, train_fraction: override the config's (ablations).
        until_test_acc: stop at the first evaluation whose test accuracy reaches this value
            (sweeps that only need the step of generalisation); None trains every step.
        progress: a tqdm bar with the latest accuracies.
        run_device: where to train (default :func:`companion.runtime.device`).

    Every ``log_every`` steps (and at step 0 and the last) the model is evaluated on every pair;
    every ``checkpoint_every`` steps its weights are kept. At the end the ``n_key`` key frequencies
    of the final embedding give the progress measures at each checkpoint (training pairs).
    """
    config = _config(config)
    overrides = dict(steps=steps, weight_decay=weight_decay, train_fraction=train_fraction)
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    check.nonnegative_int("seed", seed)
    check.boolean("progress", progress)
    check.optional(check.number, "until_test_acc", until_test_acc, 0, 1, low_open=True)
    dev = torch.device(run_device) if run_device is not None else device()

    pairs, labels, is_train = modular_addition(config.p, config.train_fraction, seed)
    seed_everything(seed)
    model = build_model(config).to(dev)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
    )
    run = GrokkingRun(config, model, pairs, labels, is_train, GrokkingHistory(), [], 0.0)
    train_pairs, train_labels = pairs[is_train].to(dev), labels[is_train].to(dev)

    def logits_of(batch: Tensor) -> Tensor:
        if config.model == "mlp":
            return model(batch)  # (batch, p)
        eq = torch.full((len(batch), 1), config.p, device=dev)
        return model(torch.cat([batch, eq], dim=1))[:, -1, : config.p]  # (batch, p) at "="

    h = run.history

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            logits = logits_of(pairs.to(dev)).cpu().double()  # (p², p)
        model.train()
        losses = F.cross_entropy(logits, labels, reduction="none")  # (p²,)
        correct = (logits.argmax(-1) == labels).double()
        h.step.append(step)
        for split, mask in (("train", is_train), ("test", ~is_train)):
            getattr(h, f"{split}_loss").append(float(losses[mask].mean()))
            getattr(h, f"{split}_acc").append(float(correct[mask].mean()))

    def keep(step: int) -> None:
        h.checkpoint_step.append(step)
        run.checkpoints.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})

    start = time.perf_counter()
    evaluate(0)
    keep(0)
    bar = tqdm(range(1, config.steps + 1), disable=not progress, desc="grokking", mininterval=10)
    for step in bar:
        loss = F.cross_entropy(logits_of(train_pairs), train_labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.log_every == 0 or step == config.steps:
            evaluate(step)
            bar.set_postfix(
                train=f"{h.train_acc[-1]:.2f}", test=f"{h.test_acc[-1]:.2f}", refresh=False
            )
        done = (
            until_test_acc is not None and h.step[-1] == step and h.test_acc[-1] >= until_test_acc
        )
        if step % config.checkpoint_every == 0 or step == config.steps or done:
            keep(step)
        if done:
            break
    bar.close()
    model.eval()
    run.seconds = time.perf_counter() - start

    key = key_frequencies(run.embedding, config.n_key)
    for i in range(len(run.checkpoints)):
        saved = run.model
        run.model = run.load_checkpoint(i)
        logits = run.logits()  # (p², p)
        run.model = saved
        h.restricted_loss.append(restricted_loss(logits, labels, is_train, key))
        h.excluded_loss.append(excluded_loss(logits, labels, is_train, key))
    return run
