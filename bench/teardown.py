"""How often destroying the training stream's iterator stalls, with tf.data's autotuner on and off.

    nice python bench/teardown.py --reps 30          # ~3 min

Each rep makes an iterator over :func:`model.pipeline.train_dataset` (2,000 random images,
augmentation and pen/scan on), draws batches for ``--seconds``, then times ``del iterator``
(what ends every ``model.fit``). The two arms alternate rep by rep; "on" is the same stages
without ``no_autotune`` (the pipeline before issue 13: autotuner on, tf.data's shared pool). A healthy teardown takes ~0.03 s; a stalled one
sleeps out the autotuner's period (up to the iterator's age, at most 60 s): the
missed-cancellation race described in ``model.pipeline.no_autotune``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

from model.pipeline import (Augment, PenScan, augment_batches, mnist_batches, to_model_input, train_dataset,
                            vary_pen_and_scan)

STALL_S = 0.5  # a teardown slower than this is a stall


def teardown_seconds(ds: tf.data.Dataset, seconds: float) -> float:
    it = iter(ds)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
    start = time.perf_counter()
    del it
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="teardowns per arm (default 30)")
    ap.add_argument("--seconds", type=float, default=2.5, help="iterator age at teardown (default 2.5 s)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (2000, 28, 28), np.uint8), rng.integers(0, 10, 2000).astype(np.uint8)
    off = train_dataset(x, y, batch_size=128, mix=0.0, augment=Augment(), pen_scan=PenScan())
    on = vary_pen_and_scan(augment_batches(to_model_input(mnist_batches(x, y, 128, 0)), Augment(), 0), PenScan(), 0)
    arms = {"off": off, "on": on.prefetch(tf.data.AUTOTUNE)}
    assert arms["on"].options().autotune.enabled is not False and off.options().autotune.enabled is False
    times: dict[str, list[float]] = {name: [] for name in arms}
    print(f"bench/teardown.py: {args.reps} teardowns per arm after {args.seconds} s of use, alternating; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for _ in range(args.reps):
        for name, ds in arms.items():
            times[name].append(teardown_seconds(ds, args.seconds))
    for name, t in times.items():
        stalls = [s for s in t if s > STALL_S]
        print(f"autotune {name:3}: {len(stalls)}/{len(t)} teardowns over {STALL_S} s "
              f"(median {np.median(t):.3f} s, max {max(t):.2f} s)")
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
