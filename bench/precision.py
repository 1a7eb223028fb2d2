"""What bfloat16 training buys in time, measured in one run: float32 and bfloat16 fits alternate.

    python bench/precision.py --mnist /work/shared/data/mnist.npz            # ~4 min on 2 cores
    python bench/precision.py --n 10000 --repeats 2

Each arm is :func:`model.train.train` itself (a flow round's path: augmentation, pen/scan,
validation, the best epoch saved) with ``precision`` float32 or bfloat16, the ``seed``
preset, one epoch on ``--n`` MNIST training images, the same seed. The arms alternate
(A, B, A, B, ...) so the machine's load hits both alike; the first fit of each (tracing) is
dropped and the medians of the fits' epoch seconds are compared. It prints each model's MNIST
test accuracy too, but what bfloat16 does to robustness is a question for the experiment
(``bench/paired.py``'s docstring), not for one epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import model  # noqa: E402,F401  (first: sets the oneDNN default before TensorFlow loads)

import numpy as np  # noqa: E402

from model.data import load_mnist  # noqa: E402
from model.evaluate import predict_proba  # noqa: E402
from model.precision import native_bfloat16  # noqa: E402
from model.settings import TrainConfig  # noqa: E402
from model.train import train  # noqa: E402

ARMS = ("float32", "bfloat16")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", default=os.environ.get("HARDMINE_MNIST"), help="MNIST .npz [$HARDMINE_MNIST]")
    ap.add_argument("--n", type=int, default=54_000, help="training images per epoch (default: all)")
    ap.add_argument("--repeats", type=int, default=3, help="timed fits per arm, after one untimed")
    a = ap.parse_args(argv)
    if not a.mnist:
        sys.exit("error: bench/precision.py: no MNIST file; pass --mnist or set HARDMINE_MNIST")
    data = load_mnist(a.mnist)
    data = dataclasses.replace(data, x_train=data.x_train[:a.n], y_train=data.y_train[:a.n])
    print(f"{len(data.y_train)} images per epoch, seed preset, native bfloat16: {native_bfloat16()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
    accuracy: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats + 1):
            for arm in ARMS:
                cfg = TrainConfig(epochs=1, precision=arm, seed=0)
                out = Path(tmp) / f"{arm}.keras"
                result = train(cfg, data, out, log=lambda line: None)
                p = predict_proba(str(out), data.x_test)
                accuracy[arm] = float((p.argmax(1) == data.y_test).mean())
                print(f"  fit {i} {arm:8s} {result['epoch_seconds'][0]:6.1f} s/epoch{'  (untimed)' if i == 0 else ''}"
                      f"  MNIST test {accuracy[arm]:.4f}", flush=True)
                if i:
                    seconds[arm].append(result["epoch_seconds"][0])
    f32, b16 = (statistics.median(seconds[arm]) for arm in ARMS)
    print(f"median s/epoch: float32 {f32:.1f}, bfloat16 {b16:.1f}; float32 / bfloat16 = {f32 / b16:.2f}; "
          f"MNIST test float32 {accuracy['float32']:.4f}, bfloat16 {accuracy['bfloat16']:.4f}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
