"""Streaming the bank for training: one shuffled pass, block by block.

    python -c "from store import stream_batches; print(sum(len(y) for _, y in stream_batches('bank.h5', 128)))"

Each call opens the bank as it is *now* (cases appended since the last epoch
are in), shuffles the order of its blocks (``block_rows`` rows of one shard),
and shuffles rows within a bounded buffer. Memory is one buffer of images
(``buffer_rows`` x 784 bytes) plus one byte per case for ``balance``, never
the whole bank. The order is a pure function of the bank, ``seed`` and ``epoch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from miner.config import HardmineError, checked_replace
from store.schema import N_CLASSES
from store.shards import Snapshot


@dataclass(frozen=True)
class StreamConfig:
    block_rows: int = 4096  # rows per read (3.2 MB of images); blocks are the unit of shuffling
    buffer_rows: int = 32768  # shuffle buffer (26 MB of images): half is emitted per refill

    def __post_init__(self):
        if self.block_rows < 1 or self.buffer_rows < 1:
            raise HardmineError(f"StreamConfig: block_rows and buffer_rows must be >= 1, got {self}")


# filter name -> (shard column it reads, keep(column values, filter value, round of each append))
FILTERS = {
    "rounds": ("append", lambda col, want, round_of: np.isin(round_of[col], want)),
    "labels": ("true", lambda col, want, round_of: np.isin(col, want)),
    "jitter": ("jitter", lambda col, want, round_of: (col >= want[0]) & (col <= want[1])),
}


def stream_batches(path, batch_size: int, seed: int = 0, epoch: int = 0, rounds=None, labels=None, jitter=None,
                   balance: bool = False, config: StreamConfig | None = None, **overrides
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x (b, 28, 28) uint8, y (b,) uint8) over every case passing the filters
    (``rounds``/``labels``: lists, ``jitter``: (low, high) inclusive) once, shuffled;
    the last batch may be smaller. ``balance`` resamples so each present true class
    contributes the same expected count, keeping the pass length."""
    cfg = checked_replace(config or StreamConfig(), overrides, "StreamConfig")
    if int(batch_size) < 1:
        raise HardmineError(f"stream_batches: batch_size must be >= 1, got {batch_size}")
    if jitter is not None and (len(jitter) != 2 or jitter[0] > jitter[1]):
        raise HardmineError(f"stream_batches: jitter must be (low, high) with low <= high, got {jitter!r}")
    wanted = {k: v for k, v in (("rounds", rounds), ("labels", labels), ("jitter", jitter)) if v is not None}
    rng = np.random.default_rng([int(seed), int(epoch)])
    with Snapshot(path) as snap:
        round_of = snap.manifest.appends["round"]
        blocks = snap.blocks(cfg.block_rows)

        def passing(s: int, a: int, z: int) -> tuple[np.ndarray, np.ndarray]:
            f = snap.files[s]
            y = f["true"][a:z]
            keep = np.ones(z - a, bool)
            for name, want in wanted.items():
                column, test = FILTERS[name]
                keep &= test(y if column == "true" else f[column][a:z], want, round_of)
            return np.flatnonzero(keep), y

        repeat = _balance_rates(blocks, passing) if balance else None
        yield from _shuffled(blocks, passing, snap, repeat, rng, int(batch_size), cfg)


def _balance_rates(blocks, passing) -> np.ndarray:
    """(10,) expected repeats per true class so every present class gets total/present cases."""
    counts = np.zeros(N_CLASSES, np.int64)
    for s, a, z in blocks:
        rows, y = passing(s, a, z)
        counts += np.bincount(y[rows], minlength=N_CLASSES)
    present = counts > 0
    rate = np.zeros(N_CLASSES)
    rate[present] = counts.sum() / present.sum() / counts[present]
    return rate


def _shuffled(blocks, passing, snap, repeat, rng, batch_size, cfg):
    pending_x, pending_y, size = [], [], 0
    for b in rng.permutation(len(blocks)):
        s, a, z = blocks[b]
        rows, y = passing(s, a, z)
        if repeat is not None:
            r = repeat[y[rows]]
            rows = np.repeat(rows, np.floor(r).astype(np.int64) + (rng.random(len(rows)) < r % 1))
        if not len(rows):
            continue
        pending_x.append(snap.files[s]["image"][a:z][rows])
        pending_y.append(y[rows])
        size += len(rows)
        if size < cfg.buffer_rows:
            continue
        x, y = _permute(pending_x, pending_y, rng)
        emit = (size - cfg.buffer_rows // 2) // batch_size * batch_size
        yield from _batches(x[:emit], y[:emit], batch_size)
        pending_x, pending_y, size = [x[emit:]], [y[emit:]], size - emit
    if size:
        x, y = _permute(pending_x, pending_y, rng)
        yield from _batches(x, y, batch_size)


def _permute(xs, ys, rng):
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


def _batches(x, y, batch_size):
    for a in range(0, len(y), batch_size):
        yield x[a:a + batch_size], y[a:a + batch_size]
