"""Every random stream of a run, derived from (run seed, round) by one rule.

    python -c "from miner.seeds import stream_seed; print(stream_seed(0, 1, 'mine'))"

A stream's seed is the low ``bits`` of the first 64-bit word of
``numpy.random.SeedSequence([seed, round], spawn_key=STREAMS[stream])``:
streams never collide (distinct spawn keys), whatever the run seed and round.
``train`` has the empty spawn key and 32 bits (Keras takes seeds below 2**32),
the seeds training has always had; ``mine`` has 62 bits, below the generator's
reserved range (seeds >= 2**62 belong to the evaluation set, ``miner.generator``).
"""

from __future__ import annotations

import numpy as np

# stream -> (spawn key, bits)
STREAMS: dict[str, tuple[tuple[int, ...], int]] = {
    "train": ((), 32),   # model.train: weights, shuffling, the bank's share of each batch
    "mine": ((1,), 62),  # miner.generate's stream of candidates, and strategy=random's order
}


def stream_seed(seed: int, k: int, stream: str) -> int:
    spawn_key, bits = STREAMS[stream]
    word = np.random.SeedSequence([int(seed), int(k)], spawn_key=spawn_key).generate_state(1, np.uint64)[0]
    return int(word) & (2**bits - 1)


def training_seed(seed: int, k: int) -> int:
    return stream_seed(seed, k, "train")


def mining_seed(seed: int, k: int) -> int:
    return stream_seed(seed, k, "mine")
