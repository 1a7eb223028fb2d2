"""Evaluation's prediction path against Keras' own ``predict``, in the same run.

    python bench/evaluate.py                       # seed preset, 30,000 digits, 3 repeats each
    python bench/evaluate.py --preset strong --n 20000 --repeats 5

Every evaluation (each round's scores, the real-digit suite, ``hardmine evaluate``,
``hardmine predict``) calls ``model.evaluate.predict_proba``: blocks of PREDICT_BATCH
images through the compiled forward pass of ``model.infer``. This times it against
``model.predict(x, batch_size=PREDICT_BATCH)`` (Keras' tf.data path, what it replaced)
on the same synthetic digits, the two alternating so that load hits both alike, and
checks that they give the same digits. Prints medians, their ratio and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import miner  # noqa: E402
from model.cnn import PRESETS, build_model  # noqa: E402
from model.evaluate import PREDICT_BATCH, as_model_input, predict_proba  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=list(PRESETS), default="seed")
    p.add_argument("--n", type=int, default=30_000, help="digits scored per timing")
    p.add_argument("--repeats", type=int, default=3, help="timings of each path (alternating)")
    a = p.parse_args()

    labels = np.arange(a.n) % 10
    images, _ = miner.generate(labels, np.resize([0.0, 1.0, 2.0, 3.0], a.n), 7)  # (n, 28, 28) uint8
    model = build_model(a.preset)  # untrained: the same arithmetic per image as a trained one
    paths = {
        "keras predict": lambda: np.asarray(model.predict(as_model_input(images), batch_size=PREDICT_BATCH,
                                                          verbose=0), np.float32),
        "predict_proba": lambda: predict_proba(model, images),
    }
    out = {name: run() for name, run in paths.items()}  # warm-up: traces and first allocations
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(a.repeats):
        for name, run in paths.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    same = float((out["keras predict"].argmax(1) == out["predict_proba"].argmax(1)).mean())
    diff = float(np.abs(out["keras predict"] - out["predict_proba"]).max())
    print(f"{a.preset} preset, {a.n:,} digits, batch {PREDICT_BATCH}, {a.repeats} timings each, "
          f"load average {os.getloadavg()[0]:.1f}")
    med = {name: float(np.median(t)) for name, t in times.items()}
    for name, m in med.items():
        print(f"  {name:14s} {m:6.2f} s  {a.n / m:8,.0f} digits/s")
    print(f"  predict_proba / keras predict: {med['predict_proba'] / med['keras predict']:.2f}x the time; "
          f"same digit {same:.4%}, largest probability difference {diff:.1e}")


if __name__ == "__main__":
    main()
