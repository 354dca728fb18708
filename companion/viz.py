"""Plots for the book: attention heatmaps, loss curves, position encodings and reliability diagrams.

Every function draws with matplotlib and returns the :class:`~matplotlib.figure.Figure`; none
calls ``plt.show()`` (Jupyter shows a returned figure; scripts save it with ``fig.savefig``).
Tensors are accepted as they come out of a model: they are detached and moved to the CPU.

The figures are made with ``pyplot``, so Jupyter's inline backend shows each one once at the end
of the cell; when a call is the cell's last line, end it with ``;`` (or assign the figure) so
that the returned figure is not displayed a second time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Patch

__all__ = ["plot_attention", "plot_history", "plot_positional_encoding", "plot_reliability_diagram"]

HISTORY_FIELDS = ("steps", "train_loss", "eval_steps", "eval_loss")
# A reliability diagram's gaps: over-confidence is a light red bar above the accuracy bar;
# under-confidence lies inside the accuracy bar, so it is hatched on it and not filled (a fill,
# even a translucent one, would mix with the bar's blue)
OVER_CONFIDENT = (0.97, 0.78, 0.78, 1.0)  # RGBA fill of an over-confidence gap
UNDER_CONFIDENT = (0.0, 0.0, 0.0, 0.0)  # no fill: the accuracy bar shows through the hatching


def _to_numpy(x: Any) -> np.ndarray:
    """A float array from a tensor (detached, on the CPU) or anything ``np.asarray`` takes."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def _check_labels(labels: Sequence[str] | None, n: int, name: str, axis: str) -> None:
    if labels is not None and len(labels) != n:
        raise ValueError(
            f"{name} has {len(labels)} labels but the weights have {n} {axis}; "
            f"pass one label per {axis[:-1]}"
        )


def _heatmap(
    ax: Axes,
    w: np.ndarray,
    x_labels: Sequence[str] | None,
    y_labels: Sequence[str] | None,
    cmap: str,
) -> AxesImage:
    """Draw ``w (q_len, k_len)`` on ``ax``: keys along x, queries along y; return the image."""
    image = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    if x_labels is not None:
        ax.set_xticks(range(len(x_labels)), labels=list(x_labels), rotation=90)
    if y_labels is not None:
        ax.set_yticks(range(len(y_labels)), labels=list(y_labels))
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    return image


def plot_attention(
    weights: Any,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    heads: Sequence[int] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Heatmap(s) of attention weights: row ``i`` is how query ``i`` spreads over the keys.

    Args:
        weights: ``(q_len, k_len)`` for one heatmap; ``(n_heads, q_len, k_len)`` or
            ``(1, n_heads, q_len, k_len)`` (a batch of one, as the models return) for a grid of
            heads titled "head i". Values are softmax weights in ``[0, 1]``; the colour scale
            is fixed to ``[0, 1]`` so that plots compare.
        x_labels: ``k_len`` key tokens, on the x axis (rotated).
        y_labels: ``q_len`` query tokens, on the y axis; default: ``x_labels`` when the weights
            are square (self-attention).
        heads: indices of the heads to draw (default: all).
        title: the axes title (one heatmap) or the figure title (a grid).
        ax: draw a single heatmap on this axes; a grid always makes a new figure.
        cmap: a matplotlib colormap name.

    Returns:
        The figure: the heatmap axes (one per head) and one colour bar.
    """
    w = _to_numpy(weights)
    if w.ndim == 4 and w.shape[0] == 1:
        w = w[0]
    if w.ndim not in (2, 3):
        raise ValueError(
            f"weights must have shape (q_len, k_len), (n_heads, q_len, k_len) or "
            f"(1, n_heads, q_len, k_len), got {w.shape}; select one sequence with weights[i]"
        )
    if w.size and (np.nanmin(w) < -1e-6 or np.nanmax(w) > 1 + 1e-6):
        raise ValueError(
            f"weights must lie in [0, 1], got values in [{np.nanmin(w):.3g}, {np.nanmax(w):.3g}]; "
            "pass the softmax weights (need_weights=True), not the raw scores"
        )
    q_len, k_len = w.shape[-2:]
    if y_labels is None and x_labels is not None and q_len == k_len:
        y_labels = x_labels
    _check_labels(x_labels, k_len, "x_labels", "keys")
    _check_labels(y_labels, q_len, "y_labels", "queries")

    if w.ndim == 2:
        if heads is not None:
            raise ValueError(
                f"heads={heads!r} needs weights with a head dimension (n_heads, q_len, k_len), "
                f"got {w.shape}"
            )
        fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(layout="constrained")
        image = _heatmap(ax, w, x_labels, y_labels, cmap)
        if title is not None:
            ax.set_title(title)
        fig.colorbar(image, ax=ax, label="attention weight")
        return fig

    heads = list(range(w.shape[0])) if heads is None else list(heads)
    bad = [h for h in heads if not 0 <= h < w.shape[0]]
    if not heads or bad:
        raise ValueError(
            f"heads={heads!r} must be a non-empty list of head indices in [0, {w.shape[0]})"
        )
    if ax is not None:
        raise ValueError("ax draws one heatmap; leave ax=None for a grid of heads (a new figure)")
    ncols = min(len(heads), 4)
    nrows = math.ceil(len(heads) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3 * ncols + 1, 3 * nrows), squeeze=False, layout="constrained"
    )
    for cell, h in zip(axes.flat, heads, strict=False):
        image = _heatmap(cell, w[h], x_labels, y_labels, cmap)
        cell.set_title(f"head {h}")
    for cell in axes.flat[len(heads) :]:
        fig.delaxes(cell)
    if title is not None:
        fig.suptitle(title)
    fig.colorbar(image, ax=axes.flat[: len(heads)].tolist(), label="attention weight")
    return fig


def _history_field(history: Any, name: str) -> np.ndarray:
    if isinstance(history, Mapping):
        if name not in history:
            raise ValueError(
                f"history has no key {name!r}; plot_history needs {HISTORY_FIELDS} "
                "(companion.train.History.to_dict() has them)"
            )
        return np.asarray(history[name], dtype=float)
    if not hasattr(history, name):
        raise TypeError(
            f"history ({type(history).__name__}) has no attribute {name!r}; pass a "
            f"companion.train.History or a dict with keys {HISTORY_FIELDS}"
        )
    return np.asarray(getattr(history, name), dtype=float)


def _centred_average(x: np.ndarray, half: int) -> np.ndarray:
    """Centred moving average: ``out[i]`` is the mean of ``x[i - k : i + k + 1]`` with
    ``k = min(half, i // 4, n - 1 - i)``; same length as ``x``, ``out[0] = x[0]``.

    The window is symmetric, so the mean belongs to the step it is drawn at: a trailing average
    drawn at its window's last step would lag ``half`` steps behind a falling loss and sit above
    it. Early on, where a training loss falls fastest, the window is a quarter of the steps so far
    at most on each side, so a steep, curved drop is not averaged flat either."""
    n = len(x)
    i = np.arange(n)
    k = np.minimum.reduce([np.full(n, half), i // 4, n - 1 - i])  # (n,): half-width at each step
    total = np.concatenate([[0.0], np.cumsum(x)])  # total[j] = x[0] + ... + x[j - 1]
    return (total[i + k + 1] - total[i - k]) / (2 * k + 1)


def plot_history(
    history: Any, ax: Axes | None = None, log_y: bool = False, show_lr: bool = False
) -> Figure:
    """Loss curves of a training run: cross-entropy in nats per token against the optimizer step.

    Draws, in this order (``ax.lines[0..2]``): the training loss at every step as a thin line;
    its centred moving average over a window of up to about ``n / 20`` steps, narrower near the
    ends, each mean drawn at the middle step of its window (so the smooth curve neither lags the
    raw one nor starts late); the evaluation loss as markers (when there is any). With ``show_lr`` the learning rate of each step is drawn
    on a second y axis at the right (``fig.axes[1]``), dashed.

    Args:
        history: a :class:`companion.train.History`, or any object or dict with ``steps``,
            ``train_loss``, ``eval_steps`` and ``eval_loss`` (lists of equal length in pairs),
            and ``lr`` (one per step) for ``show_lr``.
        ax: axes to draw on (default: a new figure).
        log_y: a logarithmic loss axis.
        show_lr: also draw the learning-rate schedule, on a twin axis.

    Returns:
        The figure.
    """
    steps, train, eval_steps, eval_loss = (_history_field(history, n) for n in HISTORY_FIELDS)
    for xs, ys, names in ((steps, train, "steps/train_loss"), (eval_steps, eval_loss, "eval")):
        if len(xs) != len(ys):
            raise ValueError(f"history {names}: {len(xs)} steps but {len(ys)} losses")
    if not len(train) and not len(eval_loss):
        raise ValueError("history holds no losses; train for at least one step first")
    lr = _history_field(history, "lr") if show_lr else None
    if lr is not None and len(lr) != len(steps):
        raise ValueError(
            f"history lr: {len(lr)} learning rates but {len(steps)} steps; show_lr needs one "
            "per step (companion.train.History records them)"
        )

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(layout="constrained")
    if len(train):
        half = len(train) // 40  # window 2 * half + 1, about n / 20
        ax.plot(steps, train, lw=0.8, alpha=0.4, color="C0", label="train")
        smooth = _centred_average(train, half)
        label = f"train (centred mean of up to {2 * half + 1})"
        ax.plot(steps, smooth, lw=1.8, color="C0", label=label)
    if len(eval_loss):
        ax.plot(eval_steps, eval_loss, "o", color="C1", label="eval")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if lr is not None:
        right = ax.twinx()
        right.plot(steps, lr, ls="--", lw=1.0, color="C2", label="learning rate")
        right.set_ylabel("learning rate", color="C2")
        right.tick_params(axis="y", colors="C2")
        right.set_ylim(bottom=0)
    return fig


def plot_positional_encoding(pe: Any, ax: Axes | None = None) -> Figure:
    """Heatmap of a position-encoding matrix ``pe (max_len, d_model)``: positions down, dimensions across.

    For the sinusoidal encoding the left columns (high frequencies) alternate fast down the
    positions and the right ones (low frequencies) barely change. The colour scale is
    symmetric around 0.
    """
    pe = _to_numpy(pe)
    if pe.ndim != 2:
        raise ValueError(
            f"pe must have shape (max_len, d_model), got {pe.shape}; e.g. "
            "sinusoidal_encoding(max_len, d_model) or a learned embedding's weight"
        )
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(layout="constrained")
    limit = float(np.abs(pe).max()) if pe.size else 1.0
    image = ax.imshow(pe, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xlabel("dimension")
    ax.set_ylabel("position")
    fig.colorbar(image, ax=ax, label="value")
    return fig


def plot_reliability_diagram(
    bins: Any, ax: Axes | None = None, title: str | None = None, counts_ax: Axes | None = None
) -> Figure:
    """A reliability diagram (Guo et al. 2017): for each confidence bin, a bar up to the bin's
    accuracy and a hatched bar between its accuracy and its mean confidence (the gap): filled red
    above the accuracy bar where the confidence is the higher (over-confidence), orange hatching on
    the accuracy bar where the accuracy is (under-confidence). The diagonal is perfect calibration.

    Args:
        bins: a :class:`companion.metrics.ReliabilityBins` (``edges``, ``count``, ``accuracy``,
            ``confidence``); empty bins are not drawn.
        ax: axes to draw on (default: a new figure).
        title: the axes' title.
        counts_ax: if given, axes below ``ax`` on which the number of inputs in each bin is drawn
            as bars on a log scale, so that one can see which bars rest on few inputs.

    Returns:
        The figure. ``ax.patches`` holds the accuracy bars of the non-empty bins, then their gaps
        (each from the accuracy to the confidence: a negative height is under-confidence).
    """
    for name in ("edges", "count", "accuracy", "confidence"):
        if not hasattr(bins, name):
            raise TypeError(
                f"bins ({type(bins).__name__}) has no attribute {name!r}; pass "
                "companion.metrics.reliability_bins(probs, labels)"
            )
    edges, count = _to_numpy(bins.edges), _to_numpy(bins.count)
    accuracy, confidence = _to_numpy(bins.accuracy), _to_numpy(bins.confidence)
    full = count > 0
    left, width = edges[:-1][full], np.diff(edges)[full]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(layout="constrained")
    ax.bar(left, accuracy[full], width=width, align="edge", color="C0", edgecolor="k")
    gap = confidence[full] - accuracy[full]  # > 0: over-confident; < 0: under-confident
    over = gap > 0
    face = np.where(over[:, None], [OVER_CONFIDENT], [UNDER_CONFIDENT])  # (bins, 4)
    ax.bar(left, gap, bottom=accuracy[full], width=width, align="edge", color=face,
           edgecolor=np.where(over, "C3", "C1"), hatch="//")  # fmt: skip
    diagonal = ax.plot([0, 1], [0, 1], ls="--", color="gray", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_aspect("equal")
    handles = [
        Patch(facecolor="C0", edgecolor="k", label="accuracy"),
        Patch(facecolor=OVER_CONFIDENT, edgecolor="C3", hatch="//", label="gap: over-confident"),
        Patch(facecolor="C0", edgecolor="C1", hatch="//", label="gap: under-confident"),
        *diagonal,
    ]
    ax.legend(handles=handles, loc="upper left")
    if title:
        ax.set_title(title)
    if counts_ax is None:
        ax.set_xlabel("confidence (largest probability)")
    else:
        counts_ax.bar(left, count[full], width=width, align="edge", color="0.6", edgecolor="k")
        counts_ax.set_xlim(0, 1)
        counts_ax.set_yscale("log")
        counts_ax.set_xlabel("confidence (largest probability)")
        counts_ax.set_ylabel("inputs")
    return fig
