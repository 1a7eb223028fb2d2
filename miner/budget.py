"""A round's plan: where to spend its synthetic budget, an error-proportional split
over (digit, jitter) cells with a floor, so no cell starves.

    python -c "from miner.budget import split_budget; print(split_budget([[0, 1], [3, 0]], 10, 0.2))"

After round k the flow knows, per cell, how often the round's model got the
generated digits wrong. Round k + 1 draws ``floor * total`` digits evenly over
all cells and the rest in proportion to those error rates (evenly when the
model made no error at all). Rounding is by largest remainder, so the counts
sum to ``total`` exactly. The split of every round is written to
``RUN_DIR/budget/round-<k>.csv`` (one row per cell: digit, jitter, errors,
generated, error_rate, budget).

:class:`Plan` is that split as one value: the flow passes round k's plan to
mining and gets round k + 1's back (:func:`miner.mining.mine`). Its
:meth:`Plan.layout` orders the cells of the ``total`` candidates so that every
prefix keeps the split's proportions (stride scheduling): a round that stops
early, or draws more than ``total`` candidates (candidate ``i`` takes layout
position ``i % total``), still draws each cell in proportion.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
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


@dataclass(frozen=True, eq=False)
class Plan:
    """Round k's budget: ``counts`` (10, n_jitters) int digits per (digit, jitter) cell,
    summing to ``total``; ``errors``/``generated`` (same shape) what it was derived from
    (None for a uniform plan)."""

    counts: np.ndarray
    jitter: tuple[float, ...]
    errors: np.ndarray | None = None
    generated: np.ndarray | None = None

    @classmethod
    def uniform(cls, jitter: tuple[float, ...], total: int) -> "Plan":
        return cls(uniform_budget(len(jitter), total), tuple(jitter))

    def next(self, errors: np.ndarray, generated: np.ndarray, floor: float) -> "Plan":
        """The plan after a round that made ``errors`` on ``generated`` valid digits per cell."""
        counts = split_budget(error_rate(errors, generated), self.total, floor)
        return Plan(counts, self.jitter, np.asarray(errors, np.int64), np.asarray(generated, np.int64))

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def fits(self, jitter: tuple[float, ...], total: int) -> bool:
        return tuple(self.jitter) == tuple(jitter) and self.total == total

    @cached_property
    def layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels uint8, radii float32, jitter indices) of the ``total`` candidates, cells
        interleaved: item m of a cell with n items sits at key (m + 0.5) / n, ties by cell."""
        labels, radii, jitter_index = expand(self.counts, self.jitter)
        cell = labels.astype(np.int64) * len(self.jitter) + jitter_index
        n = self.counts.ravel()[cell]  # (total,) size of each item's cell
        m = np.arange(len(cell)) - np.repeat(np.cumsum(self.counts.ravel()) - self.counts.ravel(),
                                             self.counts.ravel())  # rank within the cell
        order = np.lexsort((cell, (m + 0.5) / n))
        return labels[order], radii[order], jitter_index[order]

    def cells(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, radii, jitter indices) of candidates ``index`` (stream indices, any size)."""
        labels, radii, jitter_index = self.layout
        at = np.asarray(index, np.int64) % self.total
        return labels[at], radii[at], jitter_index[at]

    def table(self) -> pd.DataFrame:
        return budget_table(self.counts, self.jitter, self.errors, self.generated)

    def write(self, path: Path) -> Path:
        return write_budget(path, self.table())

    @classmethod
    def read(cls, path: Path) -> "Plan":
        table = pd.read_csv(path)
        counts = table["budget"].to_numpy(np.int64).reshape(N_DIGITS, -1)
        jitter = tuple(float(j) for j in table["jitter"].to_numpy()[:counts.shape[1]])
        return cls(counts, jitter)
