"""Streaming the bank for training: one shuffled pass, block by block.

    python -c "from store import stream_batches; print(sum(len(y) for _, y in stream_batches('bank.h5', 128)))"

Each call opens the bank as it is *now* (cases appended since the last epoch
are in), shuffles the order of its blocks (``block_rows`` rows of one shard),
and shuffles rows within a bounded buffer. Memory is one buffer of images
(``buffer_rows`` x 784 bytes) plus one block, never the whole bank;
``balance`` costs one extra pass over the label column, not memory. The order is a pure function of the bank, ``seed`` and ``epoch``.

Every streamed case passes its checksum (``store.schema.checksums``): a damaged
one stops the stream with one HardmineError line naming it (reject it to train
without it). Only trainable cases are streamed (``store.review.TRAINABLE``: quarantined and
rejected cases never reach training), each under its effective label (the
relabel of a relabelled case, else its true label).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from pydantic import Field

from miner.config import HardmineError
from miner.settings import Settings, checked_replace
from store.review import TRAINABLE_CODES, effective_labels
from store.schema import N_CLASSES
from store.layout import damage_is_an_error
from store.shards import Snapshot, check_rows, read_rows


class StreamConfig(Settings):
    # blocks are the unit of shuffling; half the buffer is emitted per refill
    block_rows: int = Field(4096, ge=1, description="rows per read (3.2 MB of images)")
    buffer_rows: int = Field(32768, ge=1, description="shuffle buffer (26 MB of images)")


# filter name -> (shard column it reads, keep(column values, filter value, round of each append));
# "true" stands for the effective label
FILTERS = {
    "rounds": ("append", lambda col, want, round_of: np.isin(round_of[col], want)),
    "labels": ("true", lambda col, want, round_of: np.isin(col, want)),
    "jitter": ("jitter", lambda col, want, round_of: (col >= want[0]) & (col <= want[1])),
}


def stream_batches(path, batch_size: int, seed: int = 0, epoch: int = 0, rounds=None, labels=None, jitter=None,
                   balance: bool = False, balance_cap: float = 0.0, config: StreamConfig | None = None, **overrides
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x (b, 28, 28) uint8, y (b,) uint8 effective labels) over every trainable
    case passing the filters (``rounds``/``labels``: lists, ``labels`` matching the
    effective label, ``jitter``: (low, high) inclusive) once, shuffled; the last
    batch may be smaller. ``balance`` resamples so each present class contributes
    the same expected count, keeping the pass length; ``balance_cap`` > 0 limits a case's
    expected draws per pass to it (a rarer class then gets less than its share)."""
    cfg = checked_replace(config or StreamConfig(), overrides)
    if int(batch_size) < 1:
        raise HardmineError(f"stream_batches: batch_size must be >= 1, got {batch_size}")
    if jitter is not None and (len(jitter) != 2 or jitter[0] > jitter[1]):
        raise HardmineError(f"stream_batches: jitter must be (low, high) with low <= high, got {jitter!r}")
    wanted = {k: v for k, v in (("rounds", rounds), ("labels", labels), ("jitter", jitter)) if v is not None}
    rng = np.random.default_rng([int(seed), int(epoch)])
    with damage_is_an_error(str(path)), Snapshot(path) as snap:
        round_of = snap.manifest.appends["round"]
        marks = snap.manifest.marks()
        blocks = snap.blocks(cfg.block_rows)

        def passing(s: int, a: int, z: int) -> tuple[np.ndarray, np.ndarray]:
            f = snap.files[s]
            y = f["true"][a:z]
            keep = np.ones(z - a, bool)
            if marks:  # a bank without decisions skips reading ids
                codes, relabels = marks.lookup(f["id"][a:z])
                keep &= TRAINABLE_CODES[codes]
                y = effective_labels(y, relabels)
            for name, want in wanted.items():
                column, test = FILTERS[name]
                keep &= test(y if column == "true" else f[column][a:z], want, round_of)
            return np.flatnonzero(keep), y

        repeat = _balance_rates(blocks, passing, balance_cap) if balance else None
        yield from _shuffled(blocks, passing, snap, repeat, rng, int(batch_size), cfg)


def _balance_rates(blocks, passing, cap: float = 0.0) -> np.ndarray:
    """(10,) expected repeats per true class so every present class gets total/present cases,
    none above ``cap`` (0: no limit)."""
    counts = np.zeros(N_CLASSES, np.int64)
    for s, a, z in blocks:
        rows, y = passing(s, a, z)
        counts += np.bincount(y[rows], minlength=N_CLASSES)
    present = counts > 0
    rate = np.zeros(N_CLASSES)
    rate[present] = counts.sum() / present.sum() / counts[present]
    return np.minimum(rate, cap) if cap > 0 else rate


class _Buffer:
    """The shuffle buffer: images land in one preallocated array (read straight
    into it when a block passes whole), leave through one gather per batch."""

    def __init__(self, rows: int):
        self.x = np.empty((rows, 28, 28), np.uint8)  # (capacity, 28, 28): grows only for balance repeats
        self.y = np.empty(rows, np.uint8)
        self.size = 0

    def add(self, ds, a: int, z: int, rows: np.ndarray, y: np.ndarray) -> None:
        end = self.size + len(rows)
        if end > len(self.y):
            self.x = np.concatenate([self.x[:self.size], np.empty((end - self.size, 28, 28), np.uint8)])
            self.y = np.concatenate([self.y[:self.size], np.empty(end - self.size, np.uint8)])
        if len(rows) == z - a and rows[-1] == len(rows) - 1:  # the whole block, in order
            ds.read_direct(self.x, np.s_[a:z], np.s_[self.size:end])
        else:
            np.take(ds[a:z], rows, axis=0, out=self.x[self.size:end])
        self.y[self.size:end] = y[rows]
        self.size = end

    def drain(self, keep: int, batch_size: int, rng):
        """Yield batches of a random selection of all but ``keep`` rows; keep the rest."""
        order = rng.permutation(self.size)
        emit = max(0, self.size - keep) // batch_size * batch_size if keep else self.size
        for a in range(0, emit, batch_size):
            pick = order[a:a + batch_size]
            yield self.x[pick], self.y[pick]
        rest = order[emit:]
        self.x[:len(rest)], self.y[:len(rest)] = self.x[rest], self.y[rest]
        self.size = len(rest)


def _shuffled(blocks, passing, snap, repeat, rng, batch_size, cfg):
    buf = _Buffer(cfg.buffer_rows + cfg.block_rows)
    for b in rng.permutation(len(blocks)):
        s, a, z = blocks[b]
        rows, y = passing(s, a, z)
        if repeat is not None:
            r = repeat[y[rows]]
            rows = np.repeat(rows, np.floor(r).astype(np.int64) + (rng.random(len(rows)) < r % 1))
        if not len(rows):
            continue
        # every case handed to training passes its checksum; costs a second read of the
        # block's rows (from the page cache) and ~1 us per row of crc32
        check_rows(snap.manifest.path, read_rows(snap.files[s], where=np.unique(rows) + a))
        buf.add(snap.files[s]["image"], a, z, rows, y)
        if buf.size >= cfg.buffer_rows:
            yield from buf.drain(cfg.buffer_rows // 2, batch_size, rng)
    if buf.size:
        yield from buf.drain(0, batch_size, rng)
