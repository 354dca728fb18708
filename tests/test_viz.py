"""Plots: the right axes, labels and data; clear errors for the wrong shapes."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from companion.positional import sinusoidal_encoding
from companion.train import History
from companion.viz import plot_attention, plot_history, plot_positional_encoding

matplotlib.use("Agg")  # no display: draw into memory

TOKENS = ["the", "cat", "sat", "down"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def weights(*shape: int) -> torch.Tensor:
    """Random attention weights: each row a distribution over the last dimension."""
    scores = torch.randn(*shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    return scores.softmax(-1)  # still attached to the graph, as a model returns it


def image_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.images]


def tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


def test_one_heatmap_has_token_labels_and_a_colour_bar():
    w = weights(4, 4)
    fig = plot_attention(w, x_labels=TOKENS, title="layer 0")
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    ax = image_axes(fig)[0]
    assert tick_texts(ax.get_xticklabels()) == TOKENS
    assert tick_texts(ax.get_yticklabels()) == TOKENS  # square: queries default to the keys
    assert all(t.get_rotation() == 90 for t in ax.get_xticklabels())
    assert ax.get_title() == "layer 0"
    np.testing.assert_allclose(ax.images[0].get_array(), w.detach().numpy())
    assert ax.images[0].get_clim() == (0.0, 1.0)


def test_cross_attention_heatmap_has_queries_on_y_and_keys_on_x():
    fig = plot_attention(weights(2, 4).numpy(force=True), x_labels=TOKENS, y_labels=["le", "chat"])
    ax = image_axes(fig)[0]
    assert tick_texts(ax.get_xticklabels()) == TOKENS
    assert tick_texts(ax.get_yticklabels()) == ["le", "chat"]
    assert ax.images[0].get_array().shape == (2, 4)


def test_heatmap_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    assert plot_attention(weights(3, 3), ax=ax) is fig
    assert ax.images


@pytest.mark.parametrize("shape", [(6, 4, 4), (1, 6, 4, 4)])
def test_grid_has_one_image_axes_per_head(shape):
    w = weights(*shape)
    fig = plot_attention(w, x_labels=TOKENS, title="layer 1")
    axes = image_axes(fig)
    assert len(axes) == 6
    assert len(fig.axes) == 7  # six heads, one shared colour bar; empty grid cells removed
    assert [ax.get_title() for ax in axes] == [f"head {i}" for i in range(6)]
    np.testing.assert_allclose(axes[5].images[0].get_array(), w.reshape(6, 4, 4)[5].detach())
    assert fig.get_suptitle() == "layer 1"


def test_heads_selects_a_subset():
    w = weights(4, 3, 3)
    axes = image_axes(plot_attention(w, heads=[3, 1]))
    assert [ax.get_title() for ax in axes] == ["head 3", "head 1"]
    np.testing.assert_allclose(axes[0].images[0].get_array(), w[3].detach())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": torch.rand(5)}, r"weights must have shape \(q_len, k_len\)"),
        ({"weights": torch.rand(2, 3, 4, 4)}, r"select one sequence"),
        ({"weights": torch.randn(4, 4) * 5}, r"must lie in \[0, 1\].*not the raw scores"),
        (
            {"weights": weights(4, 4), "x_labels": TOKENS[:3]},
            r"x_labels has 3 labels but .* 4 keys",
        ),
        (
            {"weights": weights(2, 4), "x_labels": TOKENS, "y_labels": ["a"]},
            r"y_labels has 1 labels",
        ),
        ({"weights": weights(4, 4), "heads": [0]}, r"needs weights with a head dimension"),
        ({"weights": weights(2, 4, 4), "heads": [2]}, r"head indices in \[0, 2\)"),
        ({"weights": weights(2, 4, 4), "heads": []}, r"non-empty"),
    ],
)
def test_plot_attention_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_attention(**kwargs)


def test_grid_refuses_a_single_axes():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"leave ax=None for a grid"):
        plot_attention(weights(2, 3, 3), ax=ax)


HISTORY = History(
    steps=list(range(1, 41)),
    train_loss=[4.0 - 0.05 * i for i in range(40)],
    eval_steps=[10, 20, 30, 40],
    eval_loss=[3.8, 3.3, 2.9, 2.5],
)


@pytest.mark.parametrize("history", [HISTORY, HISTORY.to_dict()], ids=["History", "dict"])
def test_plot_history_draws_train_smoothed_and_eval(history):
    fig = plot_history(history, log_y=True)
    ax = fig.axes[0]
    train, smooth, evals = ax.lines
    np.testing.assert_array_equal(train.get_xdata(), HISTORY.steps)
    np.testing.assert_allclose(train.get_ydata(), HISTORY.train_loss)
    # 40 steps: windows of up to 2 * (40 // 40) + 1 = 3 steps, each mean drawn at its middle step;
    # steps 1-4 (k = i // 4 = 0) and the last step (no neighbour after it) are the points themselves
    np.testing.assert_array_equal(smooth.get_xdata(), HISTORY.steps)
    loss = HISTORY.train_loss
    middle = [(a + b + c) / 3 for a, b, c in zip(loss[3:], loss[4:], loss[5:], strict=False)]
    np.testing.assert_allclose(smooth.get_ydata(), [*loss[:4], *middle, loss[-1]])
    np.testing.assert_array_equal(evals.get_xdata(), HISTORY.eval_steps)
    np.testing.assert_allclose(evals.get_ydata(), HISTORY.eval_loss)
    assert evals.get_linestyle() == "None" and evals.get_marker() == "o"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss (nats/token)"
    assert ax.get_yscale() == "log"
    assert len(fig.axes) == 1  # no learning-rate axis unless asked


def test_smoothed_curve_does_not_lag_a_falling_loss():
    """On a loss that falls in a straight line the centred mean equals the loss at the step it
    is drawn at, ends included; a trailing mean drawn at its window's last step would sit above
    it (by the slope times half the window: 0.001 * 50 = 0.05 nats here)."""
    steps = np.arange(1, 2001)
    loss = 4.0 - 0.001 * steps  # 4.0 falling to 2.0
    fig = plot_history({"steps": steps, "train_loss": loss, "eval_steps": [], "eval_loss": []})
    _, smooth = fig.axes[0].lines
    x, y = smooth.get_xdata(), smooth.get_ydata()
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_allclose(y, loss, atol=1e-9)
    # in the middle the window is 2 * (2000 // 40) + 1 = 101 steps: step 1000 is the mean of 950..1050
    assert y[999] == pytest.approx(loss[949:1050].mean())


def test_smoothed_curve_starts_where_the_loss_starts():
    """A loss that drops steeply at first (as training losses do): the smooth curve starts on the
    first raw point and stays close to it over the drop, where a window of 101 steps would sit
    up to 0.2 nats above it (the mean of a curve that bends upward lies above its middle)."""
    steps = np.arange(1, 2001)
    loss = 1.5 + 2.7 * np.exp(-steps / 40)
    fig = plot_history({"steps": steps, "train_loss": loss, "eval_steps": [], "eval_loss": []})
    _, smooth = fig.axes[0].lines
    y = smooth.get_ydata()
    assert y[0] == loss[0]
    assert np.abs(y[:300] - loss[:300]).max() < 0.03


def test_noise_is_smoothed_around_the_trend():
    g = np.random.default_rng(0)
    steps = np.arange(1, 1001)
    trend = 3.0 * np.exp(-steps / 300) + 1.5
    noisy = trend + g.normal(0, 0.2, size=steps.shape)
    fig = plot_history({"steps": steps, "train_loss": noisy, "eval_steps": [], "eval_loss": []})
    _, smooth = fig.axes[0].lines
    error = np.abs(smooth.get_ydata() - trend)[100:]  # from step 101 the window is 51 steps wide
    # noise sd 0.2 averaged over 51 steps: about 0.03; the curvature bias is far smaller
    assert error.max() < 0.15 and error.mean() < 0.04


def test_plot_history_shows_the_learning_rate_on_a_twin_axis():
    lr = [1e-3 * min(1.0, s / 4) for s in HISTORY.steps]
    history = HISTORY.to_dict() | {"lr": lr}
    fig = plot_history(history, show_lr=True)
    assert len(fig.axes) == 2
    right = fig.axes[1]
    (line,) = right.lines
    np.testing.assert_array_equal(line.get_xdata(), HISTORY.steps)
    np.testing.assert_allclose(line.get_ydata(), lr)
    assert right.get_ylabel() == "learning rate" and right.get_ylim()[0] == 0
    assert len(fig.axes[0].lines) == 3  # the loss axes is unchanged


def test_show_lr_needs_one_rate_per_step():
    with pytest.raises(ValueError, match=r"2 learning rates but 40 steps"):
        plot_history(HISTORY.to_dict() | {"lr": [1e-3, 1e-3]}, show_lr=True)
    with pytest.raises(ValueError, match=r"no key 'lr'"):
        plot_history({k: v for k, v in HISTORY.to_dict().items() if k != "lr"}, show_lr=True)


def test_plot_history_without_evaluation_draws_train_only():
    fig, ax = plt.subplots()
    assert (
        plot_history(
            {"steps": [1, 2, 3], "train_loss": [3, 2, 1], "eval_steps": [], "eval_loss": []}, ax=ax
        )
        is fig
    )
    assert len(ax.lines) == 2 and ax.get_yscale() == "linear"
    # three steps: half = 3 // 40 = 0, the smooth curve is the loss itself
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [3, 2, 1])


@pytest.mark.parametrize(
    ("history", "error", "match"),
    [
        ({"steps": [1], "train_loss": [1.0], "eval_steps": []}, ValueError, r"no key 'eval_loss'"),
        (object(), TypeError, r"has no attribute 'steps'"),
        (History(steps=[1, 2], train_loss=[1.0]), ValueError, r"2 steps but 1 losses"),
        (History(), ValueError, r"no losses"),
    ],
)
def test_plot_history_errors(history, error, match):
    with pytest.raises(error, match=match):
        plot_history(history)


def test_positional_encoding_heatmap():
    pe = sinusoidal_encoding(50, 16)
    fig = plot_positional_encoding(pe)
    ax = image_axes(fig)[0]
    assert len(fig.axes) == 2
    np.testing.assert_allclose(ax.images[0].get_array(), pe.numpy())
    assert ax.get_xlabel() == "dimension" and ax.get_ylabel() == "position"
    low, high = ax.images[0].get_clim()
    assert low == -high == pytest.approx(-float(pe.abs().max()))


def test_positional_encoding_refuses_a_batch():
    with pytest.raises(ValueError, match=r"pe must have shape \(max_len, d_model\)"):
        plot_positional_encoding(torch.zeros(2, 50, 16))
