"""Digits per second: the compiled generator (all cores) vs the plain Python/NumPy reference.

    python bench/generator.py [--count 40000] [--ref-count 30] [--jitter 2]

Both draw the same labels (0..9 cycling), jitter and seed, in one run, so the
printed ratio is measured under the same machine load. The kernel is warmed up
first (compile or cache load is not timed); the best of ``--repeats`` runs counts.
On a shared machine the wall-clock rate depends on the other jobs; the rate per
CPU-second (process time of all threads) shows what the cores deliver when idle.
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from miner import generate, reference

SEED = 2024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40000, help="digits drawn by the compiled generator per run")
    ap.add_argument("--ref-count", type=int, default=30, help="digits drawn by the reference (it is slow)")
    ap.add_argument("--jitter", type=float, default=2.0, help="jitter radius, grid pixels")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of the compiled generator; best counts")
    args = ap.parse_args()
    labels = np.arange(args.count) % 10

    generate(labels[:100], args.jitter, SEED)  # warm-up: compile or load the cache
    best, best_cpu = np.inf, np.inf
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        images, _ = generate(labels, args.jitter, SEED)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    ours = args.count / best
    per_cpu = args.count / best_cpu  # digits per CPU-second: what one idle core would do

    t0 = time.perf_counter()
    for i in range(args.ref_count):
        ref_img, *_ = reference.draw(int(labels[i]), float(np.float32(args.jitter)), SEED, i)
        assert np.abs(ref_img.astype(int) - images[i]).max() <= 1, "kernel and reference disagree"
    ref = args.ref_count / (time.perf_counter() - t0)

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, numba threads {numba.get_num_threads()}, load average {load:.2f}")
    print(f"compiled (all cores): {ours:10.0f} digits/s  ({args.count} digits, jitter {args.jitter:g}, best of {args.repeats})")
    print(f"compiled, CPU time  : {per_cpu:10.0f} digits per CPU-second  (x {os.cpu_count()} cores = "
          f"{per_cpu * os.cpu_count():.0f} digits/s on an idle machine)")
    print(f"reference (1 core)  : {ref:10.1f} digits/s  ({args.ref_count} digits, same labels, jitter, seed)")
    print(f"ratio               : {ours / ref:10.0f}x")


if __name__ == "__main__":
    main()
