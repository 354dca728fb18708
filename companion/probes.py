"""Probes and interventions (chapter 72): what a hidden state holds, and what the model uses.

A **linear probe** (Alain & Bengio 2016) is a linear map fitted from a model's hidden states to a
property of its input; its score on held-out inputs says how much of the property can be read
linearly from that place. Two controls keep the score honest:

* the same probe on a **randomly initialised** copy of the network: is the property readable
  before any training, from the input's encoding and the probe alone?
* Hewitt & Liang's (2019) **control tasks**: every input *type* (here a residue) gets the targets
  of another, randomly chosen type, so a probe can fit them only by memorising types;
  **selectivity** = task score - control score. Hewitt & Liang draw each type's output
  independently (with replacement); here the types' targets are permuted, a variant without
  replacement that keeps the distribution of targets exactly.

An **intervention** then asks whether the model *uses* what the probe found: remove the probe's
directions from the hidden state (**mean ablation**) or copy them from another input
(**activation patching**), and measure the output, against control directions of the same rank
that remove about as much of the hidden state: those of control tasks, and random subspaces
distributed like the hidden states (isotropic ones remove only about ``r / d`` of the variance).

* :func:`fit_probe`, :class:`LinearProbe`, :func:`r2_score`, :func:`probe_r2`,
  :func:`probe_accuracy` — ridge-regression probes scored on a held-out split;
* :func:`control_targets`, :func:`random_permutations`, :func:`selectivity`,
  :class:`Selectivity` — control tasks;
* :func:`capture`, :func:`intervene` — read or edit a hidden state with a forward pre-hook: a
  *site* is named by the module that reads it (its input is the hidden state);
* :func:`orthonormal_basis`, :func:`covariance_basis`, :func:`random_basis`,
  :func:`data_basis` — the directions to edit; :func:`ablate`, :func:`patch` — the edits;
  :func:`variance_fraction`, :func:`subspace_overlap` — how much of the hidden state an edit
  touches, and how much two subspaces share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion import validators as check

__all__ = [
    "LinearProbe",
    "Selectivity",
    "ablate",
    "capture",
    "control_targets",
    "covariance_basis",
    "data_basis",
    "fit_probe",
    "intervene",
    "orthonormal_basis",
    "patch",
    "probe_accuracy",
    "probe_r2",
    "r2_score",
    "random_basis",
    "random_permutations",
    "selectivity",
    "subspace_overlap",
    "variance_fraction",
]


# --- argument checks --------------------------------------------------------------------------


def _matrix(name: str, x: Any, rows: int | None = None) -> Tensor:
    """``x`` as a float64 ``(n, d)`` tensor (a 1-D one becomes ``(n, 1)``)."""
    if not isinstance(x, Tensor):
        check.fail(name, type(x).__name__, "a torch.Tensor", error=TypeError)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or not x.is_floating_point():
        check.fail(name, f"tensor {tuple(x.shape)} {x.dtype}", "a non-empty float tensor (n, d)")
    if rows is not None and x.shape[0] != rows:
        check.fail(name, tuple(x.shape), f"{rows} rows, one per example of X")
    x = x.detach().double().cpu()
    if not torch.isfinite(x).all():
        check.fail(name, "a tensor with NaN or inf", "finite")
    return x


def _split(train: Any, n: int) -> Tensor:
    """The boolean ``(n,)`` mask of the probe's training examples; both parts non-empty."""
    if not isinstance(train, Tensor) or train.dtype != torch.bool or train.shape != (n,):
        what = (
            f"tensor {tuple(train.shape)} {train.dtype}"
            if isinstance(train, Tensor)
            else type(train).__name__
        )
        check.fail("train", what, f"a bool tensor ({n},): True for the probe's training examples")
    train = train.cpu()
    if bool(train.all()) or not bool(train.any()):
        check.fail(
            "train", f"{int(train.sum())} of {n} True", "a split with examples on both sides"
        )
    return train


def _types(types: Any, n_types: int) -> Tensor:
    """``(n,)`` int64 type indices in ``[0, n_types)``."""
    if not isinstance(types, Tensor) or types.ndim != 1 or types.is_floating_point():
        check.fail("types", types if not isinstance(types, Tensor) else tuple(types.shape),
                   "an int tensor (n,): the type (e.g. the residue) of each example")  # fmt: skip
    types = types.long().cpu()
    if bool(((types < 0) | (types >= n_types)).any()):
        check.fail("types", types.tolist()[:5], f"ints in [0, {n_types}), one row of table each")
    return types


def _permutation(perm: Any, n_types: int) -> Tensor:
    if (
        not isinstance(perm, Tensor)
        or perm.shape != (n_types,)
        or perm.is_floating_point()
        or not torch.equal(perm.long().sort().values.cpu(), torch.arange(n_types))
    ):
        shown = tuple(perm.shape) if isinstance(perm, Tensor) else type(perm).__name__
        check.fail("permutation", shown, f"a permutation of range({n_types}) (torch.randperm)")
    return perm.long().cpu()


# --- probes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearProbe:
    """``Y_hat = X W + b``: ``weight (d, m)``, ``bias (m,)``, float64. Call it on ``X (n, d)``."""

    weight: Tensor
    bias: Tensor

    def __call__(self, X: Tensor) -> Tensor:
        """Predictions ``(n, m)`` for hidden states ``X (n, d)``."""
        X = _matrix("X", X)
        if X.shape[1] != self.weight.shape[0]:
            check.fail("X", tuple(X.shape), f"(n, {self.weight.shape[0]}), the probe's width")
        return X @ self.weight + self.bias  # (n, m)


def fit_probe(X: Tensor, Y: Tensor, *, ridge: float = 1e-3) -> LinearProbe:
    """Least squares with a small ridge, on centred data (so the bias is not penalised):

    ``W = (X_cᵀ X_c + λ I)⁻¹ X_cᵀ Y_c``,  ``b = ȳ - x̄ W``,  ``λ = ridge · tr(X_cᵀ X_c) / d``.

    ``λ`` is relative to the mean eigenvalue of ``X_cᵀ X_c``, so the fit does not depend on the
    scale of ``X`` (a random network's activations are larger than a trained one's).

    Args:
        X: hidden states ``(n, d)``. Y: targets ``(n, m)`` or ``(n,)``.
        ridge: ``>= 0``; 0 is ordinary least squares (``X_c`` must then have full column rank).
    """
    X = _matrix("X", X)
    Y = _matrix("Y", Y, rows=X.shape[0])
    check.number("ridge", ridge, 0)
    x_mean, y_mean = X.mean(0), Y.mean(0)  # (d,), (m,)
    Xc, Yc = X - x_mean, Y - y_mean  # (n, d), (n, m)
    gram = Xc.T @ Xc  # (d, d)
    lam = ridge * gram.diagonal().sum() / X.shape[1]
    weight = torch.linalg.solve(gram + lam * torch.eye(X.shape[1], dtype=X.dtype), Xc.T @ Yc)
    return LinearProbe(weight, y_mean - x_mean @ weight)  # (d, m), (m,)


def r2_score(Y: Tensor, Y_hat: Tensor) -> float:
    """The coefficient of determination, averaged over the ``m`` targets:

    ``R² = mean_j [1 - Σ_i (y_ij - ŷ_ij)² / Σ_i (y_ij - ȳ_j)²]``

    (``ȳ_j`` the mean of the examples scored; scikit-learn's ``uniform_average``). 1 is a perfect
    fit, 0 is no better than predicting the mean, and it is negative when worse."""
    Y = _matrix("Y", Y)
    Y_hat = _matrix("Y_hat", Y_hat, rows=Y.shape[0])
    if Y_hat.shape != Y.shape:
        check.fail("Y_hat", tuple(Y_hat.shape), f"the shape of Y, {tuple(Y.shape)}")
    total = (Y - Y.mean(0)).pow(2).sum(0)  # (m,)
    if bool((total == 0).any()):
        check.fail("Y", "a constant column", "targets that vary over the examples scored")
    residual = (Y - Y_hat).pow(2).sum(0)  # (m,)
    return float((1 - residual / total).mean())


def probe_r2(X: Tensor, Y: Tensor, train: Tensor, *, ridge: float = 1e-3) -> float:
    """Fit a probe on the examples where ``train`` is True and return its R² on the others.

    ``X (n, d)``, ``Y (n, m)`` or ``(n,)``, ``train (n,)`` bool."""
    X = _matrix("X", X)
    Y = _matrix("Y", Y, rows=X.shape[0])
    train = _split(train, X.shape[0])
    probe = fit_probe(X[train], Y[train], ridge=ridge)
    return r2_score(Y[~train], probe(X[~train]))


def probe_accuracy(X: Tensor, labels: Tensor, train: Tensor, *, ridge: float = 1e-3) -> float:
    """A linear classifier by least squares: fit a probe from ``X (n, d)`` to the one-hot
    ``labels (n,)`` (ints in ``[0, C)``) on the ``train`` examples; return the fraction of the
    others whose largest predicted score is at the right label."""
    X = _matrix("X", X)
    if (
        not isinstance(labels, Tensor)
        or labels.shape != (X.shape[0],)
        or labels.is_floating_point()
    ):
        check.fail("labels", labels if not isinstance(labels, Tensor) else tuple(labels.shape),
                   f"an int tensor ({X.shape[0]},), one class per example")  # fmt: skip
    labels = labels.long().cpu()
    if bool((labels < 0).any()):
        check.fail("labels", labels.tolist()[:5], "ints >= 0")
    train = _split(train, X.shape[0])
    one_hot = F.one_hot(labels, int(labels.max()) + 1).double()  # (n, C)
    probe = fit_probe(X[train], one_hot[train], ridge=ridge)
    return float((probe(X[~train]).argmax(-1) == labels[~train]).double().mean())


# --- control tasks ----------------------------------------------------------------------------


def control_targets(types: Tensor, table: Tensor, permutation: Tensor) -> Tensor:
    """Hewitt & Liang's control task: an example of type ``t`` gets the targets of type
    ``permutation[t]``, ``table[permutation[types]]``, ``(n, m)``.

    The task's targets are ``table[types]``: one row of ``table (n_types, m)`` per type (e.g.
    ``cos/sin(w_k x)`` for residue ``x``). The control keeps what a probe could exploit without the
    property — which examples share a type, and the distribution of targets (a permutation moves
    rows, it changes none) — and destroys the property itself, the link between a type and its
    targets. Hewitt & Liang draw each type's output independently, with replacement; a
    permutation is the variant without replacement."""
    table = _matrix("table", table)
    types = _types(types, table.shape[0])
    permutation = _permutation(permutation, table.shape[0])
    return table[permutation[types]]  # (n, m)


def random_permutations(n_types: int, count: int, seed: int = 0) -> list[Tensor]:
    """``count`` random permutations of ``range(n_types)``, drawn from ``seed``."""
    check.positive_int("n_types", n_types)
    check.positive_int("count", count)
    check.nonnegative_int("seed", seed)
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(n_types, generator=g) for _ in range(count)]


@dataclass(frozen=True)
class Selectivity:
    """The held-out R² of the task's probe, ``task``, and of one probe per control task,
    ``controls (n_controls,)``. ``value = task - mean(controls)``."""

    task: float
    controls: Tensor

    @property
    def value(self) -> float:
        return self.task - float(self.controls.mean())

    @property
    def interval(self) -> tuple[float, float]:
        """The range of ``task - control`` over the control tasks (their spread is the noise)."""
        return self.task - float(self.controls.max()), self.task - float(self.controls.min())


def selectivity(
    X: Tensor,
    types: Tensor,
    table: Tensor,
    train: Tensor,
    permutations: Sequence[Tensor],
    *,
    ridge: float = 1e-3,
) -> Selectivity:
    """Selectivity (Hewitt & Liang 2019): the probe's held-out R² on the task, targets
    ``table[types]``, minus its mean R² on the control tasks ``table[perm[types]]``, one per
    permutation, with the same hidden states ``X (n, d)``, the same split ``train (n,)`` and the
    same probe. High: the hidden state holds this property, not just which type the input is.
    Near 0: a probe could fit any assignment of targets to types as well."""
    X = _matrix("X", X)
    table = _matrix("table", table)
    types = _types(types, table.shape[0])
    if types.shape != (X.shape[0],):
        check.fail("types", tuple(types.shape), f"({X.shape[0]},), one type per row of X")
    if isinstance(permutations, Tensor) or not permutations:
        check.fail("permutations", type(permutations).__name__,
                   "a non-empty list of permutations of range(n_types)",
                   "e.g. random_permutations(n_types, 10)")  # fmt: skip
    task = probe_r2(X, table[types], train, ridge=ridge)
    controls = [
        probe_r2(X, control_targets(types, table, perm), train, ridge=ridge)
        for perm in permutations
    ]
    return Selectivity(task, torch.tensor(controls, dtype=torch.float64))


# --- reading and editing hidden states ----------------------------------------------------------


def _site(model: nn.Module, site: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        check.fail("model", type(model).__name__, "a torch.nn.Module", error=TypeError)
    names = [name for name, _ in model.named_modules() if name]
    if not isinstance(site, str) or site not in names:
        check.fail("site", site, "the name of one of the model's submodules, whose input is read",
                   f"e.g. {', '.join(names[:4])} (model.named_modules())")  # fmt: skip
    return model.get_submodule(site)


@contextlib.contextmanager
def _pre_hook(module: nn.Module, hook: Callable) -> Iterator[None]:
    handle = module.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()  # also when forward raises: the model is left as it was


def _check_position(position: int) -> int:
    if not isinstance(position, int) or isinstance(position, bool):
        check.fail("position", position, "an int: the sequence position read (-1: the last)")
    return position


def capture(
    model: nn.Module, site: str, forward: Callable[[], Any], *, position: int = -1
) -> Tensor:
    """Run ``forward()`` (which calls ``model``) and return the hidden state at ``site``: the
    input of the submodule of that name, ``(batch, d)``, detached, on the CPU. For an input
    ``(batch, seq, d)`` the row at sequence ``position`` is kept (-1: the last token, the ``=``
    of the modular-addition prompt ``a b =``); an input ``(batch, d)`` is kept whole. Several calls
    of the module during ``forward`` are concatenated along the batch."""
    module = _site(model, site)
    position = _check_position(position)
    captured: list[Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        h = args[0]
        captured.append((h[:, position] if h.ndim == 3 else h).detach().cpu())

    with _pre_hook(module, hook):
        forward()
    if not captured:
        check.fail(
            "forward",
            "a function that never ran the site",
            f"a call of the model that reaches {site!r}",
        )
    return torch.cat(captured)  # (batch, d)


def intervene(
    model: nn.Module,
    site: str,
    edit: Callable[[Tensor], Tensor],
    forward: Callable[[], Any],
    *,
    position: int = -1,
) -> Any:
    """Run ``forward()`` with the hidden state at ``site`` replaced by ``edit(h)`` and return what
    ``forward()`` returns. ``h (batch, d)`` is the input of the submodule ``site`` (at sequence
    ``position`` for an input ``(batch, seq, d)``; the other positions are left alone);
    ``edit`` must return the same shape."""
    module = _site(model, site)
    position = _check_position(position)

    def hook(_module: nn.Module, args: tuple) -> tuple:
        h = args[0]
        row = h[:, position] if h.ndim == 3 else h  # (batch, d)
        new = edit(row)
        if not isinstance(new, Tensor) or new.shape != row.shape:
            shown = tuple(new.shape) if isinstance(new, Tensor) else type(new).__name__
            check.fail("edit", f"a function returning {shown}", f"one returning {tuple(row.shape)}")
        if h.ndim == 3:  # put the edited row back among the other positions
            out = h.clone()
            out[:, position] = new
            new = out
        return (new.to(h.dtype), *args[1:])

    with _pre_hook(module, hook):
        return forward()


def orthonormal_basis(directions: Tensor) -> Tensor:
    """An orthonormal basis ``Q (d, r)`` of the span of the columns of ``directions (d, r)``
    (reduced QR), e.g. a probe's ``weight``: the directions along which it reads its targets."""
    D = _matrix("directions", directions)
    if D.shape[1] > D.shape[0]:
        check.fail("directions", tuple(D.shape), "(d, r) with r <= d")
    Q, R = torch.linalg.qr(D)  # (d, r), (r, r)
    if bool((R.diagonal().abs() <= 1e-10 * R.diagonal().abs().max()).any()):
        check.fail("directions", tuple(D.shape), "linearly independent columns (full rank r)")
    return Q


def covariance_basis(X: Tensor, Y: Tensor, *, rtol: float = 1e-8) -> Tensor:
    """An orthonormal basis ``Q (d, r)`` of the directions along which ``X (n, d)`` covaries with
    ``Y (n, m)``: the column span of the cross-covariance ``X_cᵀ Y_c`` (``r <= m``; directions
    whose singular value is below ``rtol`` times the largest are dropped).

    Removing them (:func:`ablate` with ``mean = x̄``) leaves ``Cov(X', Y) = 0`` on these examples,
    so no linear probe fitted on them predicts these ``m`` targets better than their mean
    (Belrose et al. 2023's condition for linear guardedness), not only the one direction a probe
    happened to use (:func:`orthonormal_basis` of its ``weight``), which other directions can
    stand in for. The guarantee is in-sample and for ``Y`` only: another function of the same
    property (e.g. its one-hot classes, of rank up to their number) can stay readable. This is the
    orthogonal-projection eraser; Belrose et al.'s LEACE meets the same condition with the edit
    that moves ``X`` least."""
    X = _matrix("X", X)
    Y = _matrix("Y", Y, rows=X.shape[0])
    check.number("rtol", rtol, 0, 1, low_open=True, high_open=True)
    C = (X - X.mean(0)).T @ (Y - Y.mean(0))  # (d, m): the cross-covariance, times n
    U, S, _ = torch.linalg.svd(C, full_matrices=False)  # U (d, min(d, m)), S (min(d, m),)
    keep = S > rtol * S.max()
    if not bool(keep.any()):
        check.fail("Y", "targets uncorrelated with X", "targets that X covaries with")
    return U[:, keep]  # (d, r)


def random_basis(d: int, r: int, generator: torch.Generator | None = None) -> Tensor:
    """An orthonormal basis ``(d, r)`` of a uniformly random ``r``-dimensional subspace of R^d
    (QR of a Gaussian matrix): the control for :func:`orthonormal_basis` of a probe."""
    check.positive_int("d", d)
    check.positive_int("r", r)
    if r > d:
        check.fail("r", r, f"<= d = {d}")
    return orthonormal_basis(torch.randn(d, r, generator=generator, dtype=torch.float64))


def data_basis(X: Tensor, r: int, generator: torch.Generator | None = None) -> Tensor:
    """An orthonormal basis ``(d, r)`` of a random subspace distributed like the data: the span of
    ``X_cᵀ G`` for ``X (n, d)`` centred and ``G (n, r)`` standard Gaussian.

    Each column ``X_cᵀ g`` has covariance ``X_cᵀ X_c``, so these directions lean towards where
    ``X`` varies most, as :func:`covariance_basis` does when its targets are weak (then ``X_cᵀ Y_c``
    is mostly sampling noise of the same kind). The control for an edit whose subspace carries
    more of the variance than a :func:`random_basis` of the same rank, which removes about
    ``r / d`` of it."""
    X = _matrix("X", X)
    check.positive_int("r", r)
    if r > min(X.shape):
        check.fail("r", r, f"<= min(n, d) = {min(X.shape)}")
    G = torch.randn(X.shape[0], r, generator=generator, dtype=torch.float64)  # (n, r)
    return orthonormal_basis((X - X.mean(0)).T @ G)  # (d, r)


def variance_fraction(X: Tensor, Q: Tensor) -> float:
    """The fraction of the variance of ``X (n, d)`` that lies in the span of ``Q (d, r)``:

    ``tr(Qᵀ Σ Q) / tr(Σ)``,  ``Σ`` the covariance of ``X``

    — what :func:`ablate` with ``mean = x̄`` removes (about ``r / d`` for a :func:`random_basis`)."""
    X = _matrix("X", X)
    Q = _basis(Q, X)
    Xc = X - X.mean(0)  # (n, d)
    total = Xc.pow(2).sum()
    if float(total) == 0:
        check.fail("X", "constant rows", "hidden states that vary")
    return float((Xc @ Q).pow(2).sum() / total)


def subspace_overlap(Q1: Tensor, Q2: Tensor) -> float:
    """How much two subspaces share: ``‖Q1ᵀ Q2‖²_F / r``, ``Q1 (d, r)``, ``Q2 (d, r2)``,
    ``r = min(r, r2)``: the mean squared cosine of their principal angles (1: one contains the
    other, 0: orthogonal; two random ``r``-dimensional subspaces of R^d share about ``r / d``)."""
    if not isinstance(Q1, Tensor) or Q1.ndim != 2:
        check.fail("Q1", tuple(Q1.shape) if isinstance(Q1, Tensor) else type(Q1).__name__,
                   "an orthonormal basis (d, r), from orthonormal_basis")  # fmt: skip
    rows = torch.empty(0, Q1.shape[0], dtype=torch.float64)  # (0, d): fixes d and the dtype
    Q1, Q2 = _basis(Q1, rows, "Q1"), _basis(Q2, rows, "Q2")
    return float((Q1.T @ Q2).pow(2).sum() / min(Q1.shape[1], Q2.shape[1]))


def _basis(Q: Tensor, h: Tensor, name: str = "Q") -> Tensor:
    """``Q`` checked to be an orthonormal ``(d, r)`` basis for rows ``h (..., d)``, on h's device
    and dtype."""
    if not isinstance(Q, Tensor) or Q.ndim != 2 or Q.shape[0] != h.shape[-1]:
        shown = tuple(Q.shape) if isinstance(Q, Tensor) else type(Q).__name__
        check.fail(name, shown, f"an orthonormal basis ({h.shape[-1]}, r), from orthonormal_basis")
    Q = Q.to(device=h.device, dtype=h.dtype)
    eye = torch.eye(Q.shape[1], device=h.device, dtype=h.dtype)
    if not torch.allclose(Q.T @ Q, eye, atol=1e-4):
        check.fail(
            name, "a matrix whose columns are not orthonormal", "QᵀQ = I (orthonormal_basis)"
        )
    return Q


def ablate(h: Tensor, Q: Tensor, mean: Tensor | None = None) -> Tensor:
    """Set the component of ``h (n, d)`` in the span of ``Q (d, r)`` to that of ``mean (d,)``:

    ``h' = h - (h - μ) Q Qᵀ``

    — mean ablation, which removes how the component varies (its information) and leaves the
    hidden state at its usual place; ``mean=None`` (μ = 0) removes the component altogether.
    The part of ``h`` orthogonal to ``Q`` is unchanged."""
    if not isinstance(h, Tensor) or h.ndim != 2:
        check.fail("h", tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__, "(n, d)")
    Q = _basis(Q, h)
    mu = torch.zeros_like(h[0]) if mean is None else mean.to(h)
    if mu.shape != h.shape[1:]:
        check.fail("mean", tuple(mu.shape), f"({h.shape[1]},), the mean hidden state")
    return h - (h - mu) @ Q @ Q.T  # (n, d)


def patch(h: Tensor, source: Tensor, Q: Tensor) -> Tensor:
    """Activation patching along a subspace: the component of ``h (n, d)`` in the span of
    ``Q (d, r)`` is replaced by that of ``source (n, d)`` (row ``i`` from another input), the rest
    of ``h`` is kept:

    ``h' = h + (source - h) Q Qᵀ``
    """
    if not isinstance(h, Tensor) or h.ndim != 2:
        check.fail("h", tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__, "(n, d)")
    if not isinstance(source, Tensor) or source.shape != h.shape:
        shown = tuple(source.shape) if isinstance(source, Tensor) else type(source).__name__
        check.fail("source", shown, f"the shape of h, {tuple(h.shape)}")
    Q = _basis(Q, h)
    return h + (source.to(h) - h) @ Q @ Q.T  # (n, d)
