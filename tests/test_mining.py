"""One round of mining as a library (miner.mining), checked against a plain reference:
draw every candidate at once, score them all, cut at the stopping block, sort.

    pytest -q tests/test_mining.py          # seconds; no TensorFlow

The model is a fake ``predict`` (a fixed function of each image's ink), so what
is tested is the round's bookkeeping: blocks, stopping rule, selection, counts
and the next plan.
"""

from __future__ import annotations

import numpy as np
import pytest

import miner
from miner.budget import Plan, cell_counts
from miner.mining import BLOCK, Job, Selection, mine, score_block

JITTER = (0.0, 3.0, 5.0)


def fake_predict(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> (n, 10) float32, row by row: a digit's class follows its ink."""
    ink = images.reshape(len(images), -1).astype(np.float64).sum(axis=1) / 255.0
    logits = np.stack([np.sin(ink * (c + 1) / 7.0) for c in range(10)], axis=1) * 4.0
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def reference(job: Job, floor: float):
    """The round the slow, obvious way: (records of the selected cases, next plan counts, generated)."""
    n = job.max_candidates
    index = np.arange(n)
    labels, radii, j = job.plan.cells(index)
    images, records = miner.generate(labels, radii, job.seed, config=job.config)
    valid = miner.is_valid(records)
    probs = fake_predict(images)
    p_true = probs[index, labels].astype(np.float64)
    wrong = valid & (probs.argmax(axis=1) != labels)
    s = job.selection
    if s.strategy == "misclassified":
        eligible, key = wrong, p_true
    elif s.strategy == "margin":
        eligible, key = valid & (p_true < s.margin), p_true
    else:
        raise AssertionError(s.strategy)
    stop = n  # first block end at which `cap` candidates are eligible
    for end in range(BLOCK, n + BLOCK, BLOCK):
        if eligible[:min(end, n)].sum() >= s.cap:
            stop = min(end, n)
            break
    chosen = sorted((key[i], i) for i in range(stop) if eligible[i])[:s.cap]
    rows = sorted(i for _, i in chosen)
    errors = cell_counts(labels[:stop][valid[:stop]], j[:stop][valid[:stop]], len(JITTER),
                         wrong[:stop][valid[:stop]].astype(np.float64))
    drawn = cell_counts(labels[:stop][valid[:stop]], j[:stop][valid[:stop]], len(JITTER))
    return records[rows], images[rows], job.plan.next(errors, drawn, floor).counts, stop


@pytest.mark.parametrize("strategy, cap, max_candidates", [
    ("misclassified", 800, 3000),   # the cap is reached in the second block: stops there
    ("misclassified", 10_000, 1300),  # never reached: draws every candidate, last block partial
    ("margin", 50, 2000),
])
def test_mine_matches_the_reference(strategy, cap, max_candidates):
    plan = Plan.uniform(JITTER, 700)
    job = Job(plan, seed=99, selection=Selection(strategy, cap, 0.3), max_candidates=max_candidates)
    mined = mine(job, 0.2, fake_predict)
    records, images, next_counts, generated = reference(job, 0.2)
    assert mined.generated == generated
    assert len(mined.cases) == len(records) > 0
    assert (mined.cases.records == records).all() and (mined.cases.images == images).all()
    assert (mined.next_plan.counts == next_counts).all() and mined.next_plan.total == 700
    assert (miner.regenerate(mined.cases.records) == mined.cases.images).all()
    assert mined.scored == mined.generated - mined.invalid and 0 < mined.miss_rate <= 1


def test_stopping_is_on_whole_blocks_and_counts_add_up():
    plan = Plan.uniform(JITTER, 500)
    job = Job(plan, seed=3, selection=Selection("misclassified", 5), max_candidates=10 * BLOCK)
    seen = []
    mined = mine(job, 0.2, fake_predict, progress=seen.append)
    assert mined.generated == BLOCK == seen[-1].generated and len(seen) == 1  # one block had 5
    assert len(mined.cases) == 5 and mined.eligible >= 5
    block = score_block(job, 0, fake_predict)
    assert (block.generated, block.invalid, block.wrong) == (mined.generated, mined.invalid, mined.wrong)
    assert block.drawn.sum() == BLOCK - block.invalid and block.errors.sum() == block.wrong


def test_blocks_from_elsewhere_must_come_in_order():
    job = Job(Plan.uniform(JITTER, 500), seed=3, selection=Selection("misclassified", 10**6),
              max_candidates=2 * BLOCK)
    blocks = [score_block(job, b, fake_predict) for b in (1, 0)]
    with pytest.raises(RuntimeError, match="out of order"):
        mine(job, 0.2, blocks=blocks)


def test_progress_reports_every_block_with_counts_that_only_grow():
    job = Job(Plan.uniform(JITTER, 500), seed=4, selection=Selection("misclassified", 10**6),
              max_candidates=3 * BLOCK + 17)  # every block, the last one partial
    seen = []
    mined = mine(job, 0.2, fake_predict, progress=seen.append)
    assert [p.generated for p in seen] == [BLOCK, 2 * BLOCK, 3 * BLOCK, 3 * BLOCK + 17]
    for field in ("scored", "wrong", "eligible", "seconds"):
        values = [getattr(p, field) for p in seen]
        assert values == sorted(values), field
    last = seen[-1]
    assert (last.generated, last.scored, last.wrong, last.eligible) == \
        (mined.generated, mined.scored, mined.wrong, mined.eligible)
    assert last.miss_rate == mined.miss_rate and 0 < last.miss_rate <= 1
    assert all(p.wrong <= p.scored <= p.generated for p in seen)
