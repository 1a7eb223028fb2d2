"""Which synthetic digits go into the bank: the selection strategies, as a table.

    python -c "from flows.select import STRATEGIES; print(list(STRATEGIES))"

Each strategy maps the round model's probabilities on the generated digits to
candidate indices, hardest first; :func:`select` then keeps at most ``cap`` of
them. The cap is the same for every strategy, so an experiment compares what
is stored, not how much (issue 6):

- ``misclassified`` (default): the model's top class is wrong; most confidently
  wrong first.
- ``margin``: the true class gets probability below ``margin``, wrong or not;
  lowest true-class probability first.
- ``entropy``: every digit, most uncertain (highest predictive entropy) first.
- ``random``: every digit in a seeded random order, without looking at the
  model -- the control arm.

Invalid digits (``miner.is_valid`` is false: ink left the frame or collapsed)
are removed before a strategy sees them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# probs (N, 10) float, labels (N,) int, margin, rng -> candidate indices (M,), hardest first
Strategy = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], np.ndarray]


def _true_prob(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return probs[np.arange(len(labels)), labels]


def misclassified(probs, labels, margin, rng):
    wrong = np.flatnonzero(probs.argmax(axis=1) != labels)
    return wrong[np.argsort(_true_prob(probs, labels)[wrong], kind="stable")]


def below_margin(probs, labels, margin, rng):
    p_true = _true_prob(probs, labels)
    low = np.flatnonzero(p_true < margin)
    return low[np.argsort(p_true[low], kind="stable")]


def entropy(probs, labels, margin, rng):
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    h = -(p * np.log(p)).sum(axis=1)
    return np.argsort(-h, kind="stable")


def random(probs, labels, margin, rng):
    return rng.permutation(len(labels))


STRATEGIES: dict[str, Strategy] = {
    "misclassified": misclassified,
    "margin": below_margin,
    "entropy": entropy,
    "random": random,
}


def select(strategy: str, probs: np.ndarray, labels: np.ndarray, valid: np.ndarray,
           cap: int, margin: float = 0.5, seed: int = 0) -> np.ndarray:
    """Indices (into the generated batch) of the digits to store, at most ``cap``.

    ``probs`` (N, 10) float, ``labels`` (N,) int, ``valid`` (N,) bool. Invalid
    digits are never returned. The result is sorted ascending so the bank keeps
    generation order.
    """
    keep = np.flatnonzero(valid)
    rng = np.random.default_rng(seed)
    order = STRATEGIES[strategy](probs[keep], labels[keep], margin, rng)
    return np.sort(keep[order[:cap]])
