"""Which synthetic digits go into the bank: the selection strategies, as a table.

    python -c "from miner.select import STRATEGIES; print(list(STRATEGIES))"

Each strategy maps the round model's probabilities on the candidates to which
of them are eligible and a key per candidate, lower = harder; :func:`ranked`
orders the eligible ones by (key, stream index) and :func:`select` keeps at
most ``cap`` of them. Because the order is a total order on (key, index), the
top ``cap`` of a union of blocks is the top ``cap`` of the union of each
block's top ``cap``: a round scored in chunks, on any number of workers,
selects the same digits (:mod:`miner.mining`). The cap is the same for every
strategy, so an experiment compares what is stored, not how much (issue 6):

- ``misclassified`` (default): the model's top class is wrong; most confidently
  wrong (lowest true-class probability) first.
- ``margin``: the true class gets probability below ``margin``, wrong or not;
  lowest true-class probability first.
- ``entropy``: every digit, most uncertain (highest predictive entropy) first.
- ``random``: every digit, in an order drawn from (seed, stream index) alone,
  without looking at the model -- the control arm.

Invalid digits (``miner.is_valid`` is false: ink left the frame or collapsed)
are never eligible.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# probs (N, 10) float32, labels (N,) int, index (N,) uint64 stream indices, margin, seed
#   -> eligible (N,) bool, key (N,) float64 (lower = harder)
Strategy = Callable[[np.ndarray, np.ndarray, np.ndarray, float, int], tuple[np.ndarray, np.ndarray]]


def _true_prob(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return probs[np.arange(len(labels)), np.asarray(labels, np.int64)].astype(np.float64)


def misclassified(probs, labels, index, margin, seed):
    return probs.argmax(axis=1) != labels, _true_prob(probs, labels)


def below_margin(probs, labels, index, margin, seed):
    p_true = _true_prob(probs, labels)
    return p_true < margin, p_true


def entropy(probs, labels, index, margin, seed):
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    h = np.zeros(len(p))
    for c in range(p.shape[1]):  # column by column: the same sum for a row whatever the batch
        h += p[:, c] * np.log(p[:, c])
    return np.ones(len(p), bool), h  # h = -entropy: most uncertain first


def random(probs, labels, index, margin, seed):
    return np.ones(len(labels), bool), uniform_hash(seed, index)


STRATEGIES: dict[str, Strategy] = {
    "misclassified": misclassified,
    "margin": below_margin,
    "entropy": entropy,
    "random": random,
}


def uniform_hash(seed: int, index: np.ndarray) -> np.ndarray:
    """(N,) float64 in [0, 1): splitmix64 of (seed, index), a counter-based draw per candidate."""
    with np.errstate(over="ignore"):
        z = np.asarray(index, np.uint64) + np.uint64(int(seed) % 2**64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def ranked(strategy: str, probs: np.ndarray, labels: np.ndarray, index: np.ndarray,
           valid: np.ndarray, margin: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(positions, keys) of the valid eligible candidates, hardest first: by key, then index."""
    eligible, key = STRATEGIES[strategy](probs, labels, index, margin, seed)
    pos = np.flatnonzero(eligible & valid)
    order = np.lexsort((np.asarray(index)[pos], key[pos]))
    return pos[order], key[pos[order]]


def select(strategy: str, probs: np.ndarray, labels: np.ndarray, valid: np.ndarray,
           cap: int, margin: float = 0.5, seed: int = 0, index: np.ndarray | None = None) -> np.ndarray:
    """Positions (into the batch) of the digits to store, at most ``cap``, ascending.

    ``probs`` (N, 10) float, ``labels`` (N,) int, ``valid`` (N,) bool, ``index`` (N,) the
    candidates' stream indices (default 0..N-1). Invalid digits are never returned.
    """
    index = np.arange(len(labels), dtype=np.uint64) if index is None else index
    pos, _ = ranked(strategy, probs, labels, index, valid, margin, seed)
    return np.sort(pos[:cap])
