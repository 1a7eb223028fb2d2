"""Digits per second: the compiled generator (all cores) vs the plain Python/NumPy reference.

    python bench/generator.py [--count 40000] [--ref-count 30] [--jitter 2]

Both draw the same labels (0..9 cycling), jitter and seed, in one run, so the
printed ratio is measured under the same machine load. The kernel is warmed up
first (compile or cache load is not timed); the best of ``--repeats`` runs counts.
On a shared machine the wall-clock rate depends on the other jobs; the rate per
CPU-second (process time of all threads) shows what the cores deliver when idle.
The kernel line times ``miner.kernel.render`` alone on the same arrays, so
``generate``'s Python side (argument checks, record columns, ink sums) is the
difference between the two.

What bounds it (issue 13, measured at load 6-11, per CPU-second, same runs):
generate()'s Python side is ~0-5% of its CPU time; inside the kernel, the
nearest-pen minimum (``splat``) is ~86%: the kernel with splat's loops removed
makes 125,000-138,000 digits per CPU-second against 17,000-19,000 with them.
A jitter-2 digit has ~560 pen positions (the notebook's 1 canvas px spacing),
~7,400 grid cells in their boxes, ~59,000 squared distances at ~2 cycles each;
the profile and the 4-sample mean (``cell_sum``) are ~10%. Two rewrites that
keep every image bit for bit were measured and not kept: a (n, 2, 2n) layout
that LLVM vectorizes (0.94x: the runs are 6-12 doubles, too short to pay for
the vector loop's set-up) and coarse-to-fine culling by an exact lower bound
(0.7-0.95x by run length: the per-sample bound check costs about what it saves). So at
~18,500 digits per CPU-second the generator gives ~37,000/s on two idle cores,
not 50,000. The levers left change the images (float32 distances, fewer pen
positions), so they need a new GENERATOR_VERSION and change what every mining
seed draws; not tried.
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from miner import generate, kernel, reference
from miner.generator import _compiled_table

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

    n = args.count  # the kernel alone, on what generate() passes it for the same digits
    jitters = np.full(n, float(np.float32(args.jitter)))
    seeds, indices = np.full(n, SEED, np.uint64), np.arange(n, dtype=np.uint64)
    out = (np.zeros((n, 28, 28), np.uint8), np.zeros(n, np.float32), np.zeros(n, np.uint16), np.zeros(n, np.float32))
    k_best, k_cpu = np.inf, np.inf
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        kernel.render(*_compiled_table(), labels.astype(np.int64), jitters, seeds, indices, np.full(n, -1, np.int64),
                      False, False, *out)
        k_best, k_cpu = min(k_best, time.perf_counter() - t0), min(k_cpu, time.process_time() - c0)
    assert (out[0] == images).all(), "kernel alone and generate() disagree"

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
    print(f"kernel alone        : {n / k_best:10.0f} digits/s, {n / k_cpu:.0f} per CPU-second: generate()'s "
          f"Python side is {100 * max(0.0, 1 - k_cpu / best_cpu):.0f}% of its CPU time")
    print(f"reference (1 core)  : {ref:10.1f} digits/s  ({args.ref_count} digits, same labels, jitter, seed)")
    print(f"ratio               : {ours / ref:10.0f}x")


if __name__ == "__main__":
    main()
