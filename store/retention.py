"""Retention policies: which cases a size cap keeps.

    hardmine bank prune bank.h5 --keep 50000 --policy hardest

Each policy ranks every case (first = most worth keeping); the cap keeps the
first ``keep``. Ranking looks only at ids, true labels and the probability of
the true class, so it runs on small columns without touching any pixels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from miner.config import HardmineError

Ranker = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _newest(ids: np.ndarray, true: np.ndarray, p_true: np.ndarray) -> np.ndarray:
    return np.argsort(-ids, kind="stable")


def _hardest(ids: np.ndarray, true: np.ndarray, p_true: np.ndarray) -> np.ndarray:
    # Imported cases have no probabilities (NaN): a person chose them as hard,
    # so they rank as hardest of all. Ties go to the newest.
    p = np.where(np.isnan(p_true), -1.0, p_true)
    return np.lexsort((-ids, p))


def _balanced(ids: np.ndarray, true: np.ndarray, p_true: np.ndarray) -> np.ndarray:
    # Rank r within its class (newest first), then take every class's r-th case
    # before anyone's (r+1)-th: equal counts per class, and a class with fewer
    # cases than its share leaves the rest to the others.
    order = np.lexsort((-ids, true))
    sorted_true = true[order]
    starts = np.searchsorted(sorted_true, sorted_true, side="left")
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids)) - starts
    return np.lexsort((-ids, rank))


POLICIES: dict[str, Ranker] = {"newest": _newest, "hardest": _hardest, "balanced": _balanced}


def keep_ids(ids: np.ndarray, true: np.ndarray, p_true: np.ndarray, keep: int, policy: str) -> np.ndarray:
    """Sorted ids of the cases a cap of ``keep`` cases keeps under ``policy``."""
    if policy not in POLICIES:
        raise HardmineError(f"bank prune: unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
    if keep < 0:
        raise HardmineError(f"bank prune: --keep must be >= 0, got {keep}")
    if keep >= len(ids):
        return np.sort(ids)
    return np.sort(ids[POLICIES[policy](ids, true, p_true)[:keep]])
