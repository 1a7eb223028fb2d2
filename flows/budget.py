"""Where to spend the next round's synthetic budget: an error-proportional split
over (digit, jitter) cells with a floor, so no cell starves.

    python -c "from flows.budget import split_budget; print(split_budget([[0, 1], [3, 0]], 10, 0.2))"

After round k the flow knows, per cell, how often the round's model got the
generated digits wrong. Round k + 1 draws ``floor * total`` digits evenly over
all cells and the rest in proportion to those error rates (evenly when the
model made no error at all). Rounding is by largest remainder, so the counts
sum to ``total`` exactly. The split of every round is written to
``RUN_DIR/budget/round-<k>.csv`` (one row per cell: digit, jitter, errors,
generated, error_rate, budget).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N_DIGITS = 10


def split_budget(error_rate, total: int, floor: float) -> np.ndarray:
    """Counts per cell, same shape as ``error_rate`` (digits, jitters), summing to ``total``.

    Every cell gets at least ``floor(floor * total / n_cells)`` digits.
    """
    rate = np.asarray(error_rate, dtype=np.float64)
    n_cells = rate.size
    weight = rate if rate.sum() > 0 else np.ones_like(rate)
    share = floor / n_cells + (1.0 - floor) * weight / weight.sum()
    exact = share * total
    counts = np.floor(exact).astype(np.int64)
    leftover = int(total - counts.sum())
    # largest remainder first; ties broken by cell order, so the split is deterministic
    order = np.argsort(-(exact - counts), kind="stable", axis=None)
    counts.flat[order[:leftover]] += 1
    return counts


def uniform_budget(n_jitters: int, total: int) -> np.ndarray:
    """Round 0's split: no errors known yet, every cell the same."""
    return split_budget(np.zeros((N_DIGITS, n_jitters)), total, floor=1.0)


def cell_counts(labels: np.ndarray, jitter_index: np.ndarray, n_jitters: int,
                weights: np.ndarray | None = None) -> np.ndarray:
    """(10, n_jitters) int: digits per (digit, jitter) cell (or the sum of ``weights``)."""
    flat = labels.astype(np.int64) * n_jitters + jitter_index
    counts = np.bincount(flat, weights=weights, minlength=N_DIGITS * n_jitters)
    return counts.reshape(N_DIGITS, n_jitters).astype(np.int64)


def cell_errors(labels: np.ndarray, jitter_index: np.ndarray, wrong: np.ndarray,
                n_jitters: int) -> tuple[np.ndarray, np.ndarray]:
    """(errors, generated) per (digit, jitter) cell, each (10, n_jitters) int."""
    return (cell_counts(labels, jitter_index, n_jitters, wrong.astype(np.float64)),
            cell_counts(labels, jitter_index, n_jitters))


def error_rate(errors: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Errors / generated per cell; 0 where nothing was generated."""
    return np.divide(errors, generated, out=np.zeros(errors.shape), where=generated > 0)


def expand(counts: np.ndarray, jitter: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-digit (labels, jitter radii, jitter indices) realising a split, cell by cell."""
    digit, j = np.indices(counts.shape)
    reps = counts.ravel()
    labels = np.repeat(digit.ravel(), reps).astype(np.uint8)
    jitter_index = np.repeat(j.ravel(), reps)
    return labels, np.asarray(jitter, dtype=np.float32)[jitter_index], jitter_index


def budget_table(counts: np.ndarray, jitter: tuple[float, ...],
                 errors: np.ndarray | None = None, generated: np.ndarray | None = None) -> pd.DataFrame:
    """One row per cell: digit, jitter, budget, and the errors it was derived from."""
    digit, j = np.indices(counts.shape)
    table = pd.DataFrame({
        "digit": digit.ravel(),
        "jitter": np.asarray(jitter, dtype=np.float64)[j.ravel()],
        "budget": counts.ravel(),
    })
    if errors is not None:
        table["errors"] = errors.ravel()
        table["generated"] = generated.ravel()
        table["error_rate"] = error_rate(errors, generated).ravel().round(4)
    return table


def write_budget(path: Path, table: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def read_budget(path: Path) -> np.ndarray:
    """The (10, n_jitters) counts of a recorded split."""
    table = pd.read_csv(path)
    n_jitters = len(table) // N_DIGITS
    return table["budget"].to_numpy(np.int64).reshape(N_DIGITS, n_jitters)
