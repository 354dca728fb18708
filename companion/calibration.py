"""What a classifier can say about its own answers (chapter 71).

- :func:`fit_temperature`: temperature scaling (Guo et al. 2017), one number T fitted on a
  validation set so that ``softmax(logits / T)`` has the lowest negative log-likelihood;
- :class:`PIKHead` and :func:`train_pik_head`: a small head on the classifier's features trained to
  predict whether the classifier's own answer is right, P(IK) ("I know"), after Kadavath et al.
  (2022);
- :func:`logits_and_features`: a trained classifier's logits and pooled features on a data set.

The scores that judge them (expected calibration error, AUROC, bootstrap intervals) are in
:mod:`companion.metrics`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion import validators as check
from companion.models import SequenceClassifier
from companion.objectives import ClassificationBatches

__all__ = ["PIKHead", "fit_temperature", "logits_and_features", "train_pik_head"]


@torch.no_grad()
def logits_and_features(
    model: SequenceClassifier, data: ClassificationBatches
) -> tuple[Tensor, Tensor]:
    """The logits ``(n, n_classes)`` and pooled features ``(n, d_model)`` of every example of
    ``data``, in order, on the CPU, in evaluation mode (the model's mode is restored after)."""
    was_training = model.training
    model.eval()
    try:
        logits, features = [], []
        for ids, mask, _ in data.all():
            h = model.features(ids, mask=mask)  # (batch, d_model)
            features.append(h.cpu())
            logits.append(model.head(h).cpu())  # (batch, n_classes); dropout is off in eval
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(features)


def _check_logits_and_labels(logits: Tensor, labels: Tensor) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        check.fail("logits", shape, "a float tensor (n, n_classes)", error=TypeError)
    if not isinstance(labels, Tensor) or labels.shape != logits.shape[:1]:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        check.fail("labels", shape, f"an int64 tensor of shape ({logits.shape[0]},)")
    if labels.dtype != torch.long:
        check.fail("labels", labels.dtype, "torch.long class ids", error=TypeError)


def fit_temperature(logits: Tensor, labels: Tensor, max_iter: int = 100) -> float:
    """The temperature that minimizes the negative log-likelihood of ``labels`` under
    ``softmax(logits / T)``:

    .. math:: T^* = \\arg\\min_{T > 0} \\; -\\frac{1}{n} \\sum_{i=1}^n
              \\log \\mathrm{softmax}(z_i / T)_{y_i}.

    As Guo et al. (2017), with L-BFGS; here on :math:`\\log T`, so that T stays positive, in
    float64, starting from T = 1. Dividing every logit by one T > 0 changes no arg max, so the
    accuracy stays the same; T > 1 flattens over-confident probabilities, T < 1 sharpens
    under-confident ones. Fit it on held-out data: on the training set an over-fitted model looks
    right, and T would come out near or below 1.

    Args:
        logits: ``(n, n_classes)``, e.g. a validation set's.
        labels: ``(n,)`` int64 true classes.
        max_iter: L-BFGS iterations at most.

    Returns:
        T as a float. If every input is already classified right, the NLL falls as T -> 0 and the
        fit stops where L-BFGS converges, at a small T.
    """
    _check_logits_and_labels(logits, labels)
    check.positive_int("max_iter", max_iter)
    z, y = logits.detach().cpu().double(), labels.detach().cpu()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )  # fmt: skip

    def nll() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)  # -1/n sum_i log softmax(z_i / T)_{y_i}
        loss.backward()
        return loss

    optimizer.step(nll)
    return float(log_t.detach().exp())


class PIKHead(nn.Module):
    """P(IK), the probability that the classifier's answer is right, from its pooled features
    (or, as a control, its logits): a one-hidden-layer network ``features (n, d_in) -> logit (n,)``,
    with :math:`P(\\mathrm{IK}) = \\sigma(\\mathrm{logit})`. It sees the input's features, not the
    answer."""

    def __init__(self, d_in: int, d_hidden: int = 32) -> None:
        super().__init__()
        check.positive_int("d_in", d_in)
        check.positive_int("d_hidden", d_hidden)
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, 1))

    def forward(self, features: Tensor) -> Tensor:
        """``(n, d_in)`` -> ``(n,)`` logits of P(IK)."""
        return self.net(features).squeeze(-1)


def train_pik_head(
    features: Tensor,
    correct: Tensor,
    *,
    d_hidden: int = 32,
    steps: int = 500,
    lr: float = 1e-2,
    weight_decay: float = 1e-2,
    seed: int = 0,
) -> PIKHead:
    """A :class:`PIKHead` trained to predict ``correct`` from ``features``: full-batch AdamW on
    the binary cross-entropy

    .. math:: -\\frac1n \\sum_i \\bigl[c_i \\log \\sigma(h(x_i)) + (1 - c_i)\\log(1 - \\sigma(h(x_i)))\\bigr].

    The features and labels must come from inputs the classifier was **not** trained on: on its
    own training set an over-fitted classifier is nearly always right, which would teach the head
    little about where it goes wrong.

    Args:
        features: ``(n, d_in)``, the classifier's pooled features or logits
            (:func:`logits_and_features`).
        correct: ``(n,)`` bool or 0/1: whether the classifier's arg max was the true class.
        d_hidden, steps, lr, weight_decay: the head's width and its optimizer's settings.
        seed: seeds the head's initial weights.

    Returns:
        The trained head, in evaluation mode, on the features' device.
    """
    if not isinstance(features, Tensor) or features.ndim != 2:
        check.fail("features", getattr(features, "shape", features), "a (n, d_in) tensor")
    if not isinstance(correct, Tensor) or correct.shape != features.shape[:1]:
        check.fail("correct", getattr(correct, "shape", correct), f"shape ({len(features)},)")
    check.positive_int("steps", steps)
    check.number("lr", lr, 0, low_open=True, hint="e.g. 1e-2")
    check.number("weight_decay", weight_decay, 0, hint="e.g. 1e-2")
    x, target = features.detach().float(), correct.detach().float().to(features.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = PIKHead(x.shape[1], d_hidden).to(x.device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(head(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval()
