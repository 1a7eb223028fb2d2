"""Benchmark of the hard-case bank: append rate, streaming rate (also as a
multiple of what one CPU training step consumes), and the resident memory of
a reader streaming a 2,000,000-case bank.

    python bench/bank.py                        # ~1-3 minutes, writes ~1.8 GB under $TMPDIR, then deletes it
    python bench/bank.py --step-cases-per-s 2500  # skip the Keras step measurement

Targets (issue 3): append >= 100,000 cases/s, stream >= 100,000 cases/s,
streaming 2M cases with RSS < 1 GiB. All rates come from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from store import Bank


@dataclass(frozen=True)
class BenchConfig:
    cases: int = 200_000  # bank size for the append and stream rates
    append_rows: int = 10_000  # cases per append (a mining round's worth)
    big_cases: int = 2_000_000  # bank size for the memory measurement
    big_append_rows: int = 200_000  # cases per append when building the big bank
    batch_size: int = 128  # streaming batch, the notebook's training batch
    keras_steps: int = 8  # timed CNN steps (after 2 warm-up steps)


def cases(n: int, rng: np.random.Generator) -> dict:
    """n cases built from MNIST digits if available (realistic bytes), else noise."""
    path = os.environ.get("HARDMINE_MNIST", "/work/shared/data/mnist.npz")
    if os.path.exists(path):
        with np.load(path) as z:
            base, labels = z["x_train"], z["y_train"]
        pick = rng.integers(0, len(base), n)
        images, true = base[pick], labels[pick]
    else:
        images, true = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)
    probs = rng.dirichlet(np.ones(10), n).astype(np.float32)
    rec = np.zeros(n, [("label", "u1"), ("jitter", "f4"), ("brush", "f4"), ("variant", "u2"), ("seed", "u8"),
                       ("index", "u8"), ("version", "u2")])
    rec["label"], rec["jitter"], rec["seed"], rec["index"] = true, rng.uniform(0, 5, n), 1, np.arange(n)
    return dict(images=images, true=true, pred=probs.argmax(1), probs=probs, params=rec)


def build(path: str, total: int, rows: int, rng, **config) -> tuple[float, float]:
    """Append ``total`` cases in appends of ``rows``; returns cases per wall second
    and per CPU second of this process (append calls only; the CPU figure is what
    the rate would be on an idle core, since this machine is shared)."""
    c = cases(rows, rng)
    wall = cpu = 0.0
    with Bank.open(path, "a", **config) as b:
        for k in range(total // rows):
            t, p = time.perf_counter(), time.process_time()
            b.append(c["images"], c["true"], c["pred"], c["probs"], c["params"], round=k, model_id="bench",
                     key=f"round-{k}")
            wall, cpu = wall + time.perf_counter() - t, cpu + time.process_time() - p
    return total / wall, total / cpu


# Streams one pass in a fresh process: peak RSS is the kernel's VmHWM of that
# process (ru_maxrss would include the parent's peak: Linux carries it across exec).
READER = """
import json, sys, time
from store import stream_batches
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
t, p = time.perf_counter(), time.process_time()
n = sum(len(y) for _, y in stream_batches(sys.argv[1], int(sys.argv[2])))
print(json.dumps(dict(cases=n, wall=time.perf_counter() - t, cpu=time.process_time() - p, import_kib=base,
                      peak_kib=hwm())))
"""


def stream(path: str, batch_size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", READER, path, str(batch_size)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout)


STEP = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, sys.argv[1])
from bank import keras_step_cases_per_s
print(keras_step_cases_per_s(int(sys.argv[2]), int(sys.argv[3])))
"""


def keras_step_cases_per_s(batch_size: int, steps: int) -> float:
    """Cases/s of train_on_batch of the Kaggle notebook's CNN on random data, CPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="valid", activation="relu"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPool2D(), layers.SpatialDropout2D(0.25),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPool2D(), layers.SpatialDropout2D(0.25),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, batch_size)
    for _ in range(2):
        model.train_on_batch(x, y)
    t = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch_size * steps / (time.perf_counter() - t)


def main() -> None:
    cfg = BenchConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step-cases-per-s", type=float, default=None,
                    help="cases/s of one CPU training step; default: measure the notebook CNN in Keras")
    ap.add_argument("--dir", default=None, help="scratch directory (default: a new temp dir, deleted after)")
    ap.add_argument("--skip-big", action="store_true", help="skip the 2M-case memory measurement")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="hardmine-bench-", dir=args.dir)
    rng = np.random.default_rng(0)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
          "(wall rates shrink with load; per-CPU-second rates much less)")
    try:
        path = os.path.join(scratch, "bank.h5")
        append, append_cpu = build(path, cfg.cases, cfg.append_rows, rng)
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(scratch) for f in fs)
        print(f"append: {append:,.0f} cases/s wall, {append_cpu:,.0f} per CPU-second ({cfg.cases:,} cases in "
              f"appends of {cfg.append_rows:,}, fsync on; {size / cfg.cases:.0f} bytes/case on disk)")
        lzf, lzf_cpu = build(os.path.join(scratch, "lzf.h5"), cfg.cases, cfg.append_rows, rng, compression="lzf")
        print(f"append with lzf compression: {lzf:,.0f} cases/s wall, {lzf_cpu:,.0f} per CPU-second "
              f"({append_cpu / lzf_cpu:.1f}x the CPU of none)")
        r = stream(path, cfg.batch_size)
        rate = r["cases"] / r["wall"]
        print(f"stream: {rate:,.0f} cases/s wall, {r['cases'] / r['cpu']:,.0f} per CPU-second ({r['cases']:,} cases, "
              f"batch {cfg.batch_size}, shuffled, fresh process)")
        if args.step_cases_per_s:
            step, how = args.step_cases_per_s, "given"
        else:
            out = subprocess.run([sys.executable, "-c", STEP, os.path.dirname(os.path.abspath(__file__)),
                                  str(cfg.batch_size), str(cfg.keras_steps)], check=True, capture_output=True, text=True)
            step, how = float(out.stdout.split()[-1]), f"measured: notebook CNN, batch {cfg.batch_size}, CPU, Keras"
        print(f"training step consumes: {step:,.0f} cases/s ({how}); stream/step = {rate / step:,.0f}x")
        if not args.skip_big:
            shutil.rmtree(os.path.join(scratch, "lzf.h5.shards"))
            big = os.path.join(scratch, "big.h5")
            built, built_cpu = build(big, cfg.big_cases, cfg.big_append_rows, rng)
            r = stream(big, cfg.batch_size)
            print(f"2M bank: built at {built:,.0f} cases/s wall ({built_cpu:,.0f} per CPU-second); a reader streamed "
                  f"{r['cases']:,} cases at {r['cases'] / r['wall']:,.0f} cases/s with peak RSS "
                  f"{r['peak_kib'] / 1024:.0f} MiB ({r['import_kib'] / 1024:.0f} MiB after imports; target < 1024 MiB)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
