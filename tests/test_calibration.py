"""companion.calibration: the fitted temperature is the NLL minimizer (checked against a fine grid)
and recovers a known over- or under-confidence; the P(IK) head learns a rule it can see, and is
reproducible; the classifier's logits and features come out as its forward pass makes them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.calibration import PIKHead, fit_temperature, logits_and_features, train_pik_head
from companion.metrics import auroc
from companion.models import Encoder, SequenceClassifier, TransformerConfig
from companion.objectives import ClassificationBatches


def drawn(seed: int, n: int, k: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z), handed over as logits scale * z: the best T is near scale."""
    g = torch.Generator().manual_seed(seed)
    z = 2 * torch.randn(n, k, generator=g, dtype=torch.float64)
    labels = torch.multinomial(z.softmax(-1), 1, generator=g)[:, 0]
    return scale * z, labels


@pytest.mark.parametrize(("scale", "k"), [(3.0, 3), (0.5, 3), (1.0, 10), (1.7, 5)])
def test_fit_temperature_is_the_nll_minimizer(scale, k):
    logits, labels = drawn(int(10 * scale) + k, 3000, k, scale)
    t = fit_temperature(logits, labels)
    grid = torch.exp(
        torch.linspace(math.log(t) - 0.05, math.log(t) + 0.05, 201, dtype=torch.float64)
    )
    nll = torch.stack([F.cross_entropy(logits / g, labels) for g in grid])
    assert float(grid[nll.argmin()]) == pytest.approx(t, rel=1e-3)  # the grid agrees
    assert t == pytest.approx(scale, rel=0.15)  # it undoes the scaling, up to sampling noise
    # float32 logits give the same temperature
    assert fit_temperature(logits.float(), labels) == pytest.approx(t, rel=1e-4)


def test_fit_temperature_lowers_the_nll_and_keeps_every_prediction():
    logits, labels = drawn(0, 2000, 4, 2.5)
    t = fit_temperature(logits, labels)
    assert t > 1
    assert F.cross_entropy(logits / t, labels) < F.cross_entropy(logits, labels)
    assert torch.equal((logits / t).argmax(-1), logits.argmax(-1))


@pytest.mark.parametrize(
    ("logits", "labels", "error", "message"),
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), TypeError, "logits"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), TypeError, "float"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), ValueError, "shape \\(4,\\)"),
        (torch.zeros(4, 3), torch.zeros(4), TypeError, "torch.long"),
    ],
)
def test_fit_temperature_rejects_bad_input(logits, labels, error, message):
    with pytest.raises(error, match=message):
        fit_temperature(logits, labels)


def test_pik_head_learns_a_visible_rule_and_is_reproducible():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2000, 8, generator=g)
    correct = features[:, 0] + 0.5 * features[:, 1] ** 2 > 0.3  # a nonlinear rule of two features
    train, test = slice(0, 1500), slice(1500, None)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    head = train_pik_head(features[train], correct[train], seed=1)
    assert torch.equal(torch.rand(3), before)  # the global RNG is left alone
    assert not head.training
    with torch.no_grad():
        score = head(features[test])
    assert score.shape == (500,)
    assert auroc(score.numpy(), correct[test].numpy()) > 0.95
    again = train_pik_head(features[train], correct[train], seed=1)
    with torch.no_grad():
        assert torch.equal(again(features[test]), score)


def test_pik_head_rejects_bad_input():
    with pytest.raises(ValueError, match="features"):
        train_pik_head(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match="shape \\(5,\\)"):
        train_pik_head(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="d_in=0"):
        PIKHead(0)


def small_classifier(pooling: str) -> SequenceClassifier:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=10, d_model=16, n_heads=2, n_layers=1, max_len=6)
    return SequenceClassifier(Encoder(config), n_classes=3, pooling=pooling, dropout=0.3)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_logits_and_features_are_the_forward_pass(pooling):
    model = small_classifier(pooling).train()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 9, (7, 6), generator=g)
    lengths = torch.tensor([6, 1, 3, 6, 2, 5, 4])
    data = ClassificationBatches(ids, lengths, torch.zeros(7, dtype=torch.long), batch_size=4)
    logits, features = logits_and_features(model, data)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        want = model(ids, mask=data.mask)
        torch.testing.assert_close(logits, want)
        torch.testing.assert_close(features, model.features(ids, mask=data.mask))
        torch.testing.assert_close(model.head(features), want)
    assert features.shape == (7, 16)


def test_pik_head_on_a_classifiers_features_runs_end_to_end():
    model = small_classifier("mean")
    ids = torch.randint(0, 9, (40, 6), generator=torch.Generator().manual_seed(2))
    data = ClassificationBatches(ids, torch.full((40,), 6), torch.zeros(40, dtype=torch.long), 8)
    logits, features = logits_and_features(model, data)
    correct = logits.argmax(-1) == 0
    head = train_pik_head(features, correct, steps=20)
    with torch.no_grad():
        p = torch.sigmoid(head(features))
    assert p.shape == (40,) and bool(((p > 0) & (p < 1)).all())
    assert np.isfinite(p.numpy()).all()
