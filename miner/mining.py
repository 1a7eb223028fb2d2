"""One round of mining as a library: a plan in, the selected cases and the next plan out.

    python -c "from miner.mining import Job, mine; help(mine)"

A round draws candidates from one counter-based stream (``miner.generate``
with the round's seed: candidate ``i`` is stream index ``i``, its (digit,
jitter) cell ``plan.cells(i)``) in blocks of :data:`BLOCK`, scores each block
with an injected ``predict`` (images (n, 28, 28) uint8 -> probabilities (n, 10)
float32, so this module never imports Keras), and stops after the first block
at which ``selection.cap`` eligible cases have been seen, or when
``max_candidates`` have been drawn. It then keeps the ``cap`` hardest of the
eligible ones (:mod:`miner.select`) and splits the next round's budget by the
errors per cell of the valid candidates drawn (:class:`miner.budget.Plan`).

The block is the unit of everything that must not depend on how the work is
spread: ``predict`` is called once per block (the same valid candidates, so
the same batch: TensorFlow's results for an image change in the last bit with
the batch it is in), the stopping rule counts whole blocks in index order, and
selection orders by (key, index). So a round gives the same cases whether its
blocks are scored here, one after the other, or by any number of Dask workers
in chunks of any size (``flows.cluster``): :func:`mine` takes the blocks from
any iterator that yields :func:`score_block`'s results in index order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Iterator

import numpy as np

from miner.budget import Plan, cell_counts, cell_errors
from miner.generator import RECORD_DTYPE, GeneratorConfig, generate, is_valid
from miner.select import ranked

BLOCK = 512  # candidates per predict call: ~1.6 MB of float32 input, ~0.3 s on one core
Predict = Callable[[np.ndarray], np.ndarray]  # (n, 28, 28) uint8 -> (n, 10) float32


@dataclass(frozen=True)
class Selection:
    strategy: str = "misclassified"
    cap: int = 4000
    margin: float = 0.5


@dataclass(frozen=True, eq=False)
class Job:
    """Everything a block needs but the model: picklable, so workers get it as is."""

    plan: Plan
    seed: int  # the round's mining seed (miner.seeds.mining_seed), < 2**62
    selection: Selection
    max_candidates: int
    config: GeneratorConfig = field(default_factory=GeneratorConfig)

    @cached_property
    def n_blocks(self) -> int:
        return -(-self.max_candidates // BLOCK)

    def span(self, b: int) -> tuple[int, int]:
        return b * BLOCK, min((b + 1) * BLOCK, self.max_candidates)


@dataclass(eq=False)
class Cases:
    """Selected synthetic digits with the round model's view of them, in stream order."""

    images: np.ndarray  # (n, 28, 28) uint8
    probs: np.ndarray  # (n, 10) float32
    records: np.ndarray  # (n,) RECORD_DTYPE: label, jitter, seed, index, ... (regenerate() redraws images)
    key: np.ndarray  # (n,) float64 the strategy's key, lower = harder

    @property
    def labels(self) -> np.ndarray:
        return self.records["label"]

    @property
    def pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1).astype(np.uint8)

    def __len__(self) -> int:
        return len(self.records)

    def take(self, rows: np.ndarray) -> "Cases":
        return Cases(self.images[rows], self.probs[rows], self.records[rows], self.key[rows])

    @classmethod
    def concat(cls, parts: list["Cases"]) -> "Cases":
        if not parts:
            return cls(np.zeros((0, 28, 28), np.uint8), np.zeros((0, 10), np.float32),
                       np.zeros(0, RECORD_DTYPE), np.zeros(0))
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("images", "probs", "records", "key")))

    def by_cell(self, jitter: tuple[float, ...]) -> np.ndarray:
        """(10, n_jitters) int: cases per (digit, jitter) cell."""
        radii = np.asarray(jitter, np.float32)
        j = np.argmin(np.abs(self.records["jitter"][:, None] - radii[None, :]), axis=1) if len(self) \
            else np.zeros(0, np.int64)
        return cell_counts(self.labels, j, len(jitter))


@dataclass(eq=False)
class Block:
    """One scored block: its counts and its eligible candidates (the ``cap`` hardest)."""

    b: int
    generated: int
    invalid: int
    wrong: int  # valid candidates the model gets wrong
    eligible: int  # valid candidates the strategy would store
    errors: np.ndarray  # (10, n_jitters) wrong valid candidates per cell
    drawn: np.ndarray  # (10, n_jitters) valid candidates per cell
    cases: Cases
    seconds: float  # drawing and scoring it, where it ran (bench/scale.py: what distribution adds)


def score_block(job: Job, b: int, predict: Predict) -> Block:
    """Draw, score and rank block ``b`` of the round's stream."""
    clock = time.perf_counter()
    start, stop = job.span(b)
    index = np.arange(start, stop, dtype=np.uint64)
    labels, radii, jitter_index = job.plan.cells(index)
    images, records = generate(labels, radii, job.seed, start=start, config=job.config)  # (n, 28, 28) uint8
    valid = is_valid(records, job.config)
    probs = np.zeros((len(index), 10), np.float32)
    if valid.any():  # invalid digits are never stored: not worth a forward pass
        probs[valid] = np.asarray(predict(images[valid]), np.float32)
    wrong = valid & (probs.argmax(axis=1) != labels)
    s = job.selection
    pos, key = ranked(s.strategy, probs, labels, index, valid, s.margin, job.seed)
    errors, drawn = cell_errors(labels[valid], jitter_index[valid], wrong[valid], len(job.plan.jitter))
    keep = pos[:s.cap]
    return Block(b, len(index), int((~valid).sum()), int(wrong.sum()), len(pos), errors, drawn,
                 Cases(images[keep], probs[keep], records[keep], key[:s.cap]), time.perf_counter() - clock)


def blocks_here(job: Job, predict: Predict) -> Iterator[Block]:
    """Score the round's blocks one after the other in this process."""
    return (score_block(job, b, predict) for b in range(job.n_blocks))


@dataclass(frozen=True)
class Progress:
    """Where a round stands after a block: counts so far, each never lower than at the last block."""

    generated: int  # candidates drawn
    scored: int  # valid candidates the model scored
    wrong: int  # of those, the ones it got wrong
    eligible: int  # hard cases found: valid candidates the strategy would store (before the cap)
    seconds: float

    @property
    def miss_rate(self) -> float:
        return self.wrong / self.scored if self.scored else float("nan")

    @property
    def per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else 0.0


@dataclass(eq=False)
class MiningResult:
    """What a round of mining gives: the selected cases, its counts, the next plan."""

    cases: Cases
    next_plan: Plan
    generated: int  # candidates drawn
    invalid: int
    wrong: int  # valid candidates the model got wrong
    eligible: int  # valid candidates the strategy would have stored (before the cap)
    seconds: float
    block_seconds: float  # sum of the blocks' own times (drawing and scoring, wherever they ran)

    @property
    def scored(self) -> int:
        return self.generated - self.invalid

    @property
    def miss_rate(self) -> float:
        return self.wrong / self.scored if self.scored else float("nan")

    @property
    def per_case(self) -> float:
        """Candidates drawn per selected case."""
        return self.generated / len(self.cases) if len(self.cases) else float("nan")

    @property
    def per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else 0.0


def mine(job: Job, floor: float, predict: Predict | None = None, blocks: Iterable[Block] | None = None,
         progress: Callable[[Progress], None] | None = None) -> MiningResult:
    """Mine one round: blocks in index order (``blocks``, or scored here with ``predict``)
    until ``job.selection.cap`` eligible cases or ``job.max_candidates``; the next plan
    splits ``job.plan.total`` by error rate per cell with ``floor`` (miner.budget)."""
    if blocks is None:
        blocks = blocks_here(job, predict)
    start = time.perf_counter()
    used: list[Block] = []
    generated = scored = wrong = eligible = 0
    it = iter(blocks)
    try:
        for block in it:
            if block.b != len(used):  # a runner's bug, not a user's: blocks must come in index order
                raise RuntimeError(f"mine: block {block.b} arrived out of order (expected {len(used)})")
            used.append(block)
            generated += block.generated
            scored += block.generated - block.invalid
            wrong += block.wrong
            eligible += block.eligible
            if progress is not None:
                progress(Progress(generated, scored, wrong, eligible, time.perf_counter() - start))
            if eligible >= job.selection.cap:
                break
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()  # a remote runner cancels the chunks it computed ahead
    pool = Cases.concat([u.cases for u in used])
    chosen = np.lexsort((pool.records["index"], pool.key))[:job.selection.cap]
    cases = pool.take(chosen[np.argsort(pool.records["index"][chosen])])  # stream order, as the bank keeps it
    shape = job.plan.counts.shape
    errors = sum((u.errors for u in used), np.zeros(shape, np.int64))
    drawn = sum((u.drawn for u in used), np.zeros(shape, np.int64))
    return MiningResult(cases, job.plan.next(errors, drawn, floor), sum(u.generated for u in used),
                 sum(u.invalid for u in used), sum(u.wrong for u in used), eligible,
                 time.perf_counter() - start, sum(u.seconds for u in used))
