"""Does mixing the bank in on the fly slow training down? Seconds per epoch, in one run.

    nice /work/venv/bin/python bench/train.py --mnist /work/shared/data/mnist.npz

Two arms train the ``seed`` preset on the same ``--n`` MNIST images per epoch
(batch 128, no augmentation, no validation):

- in-memory: ``model.fit`` on NumPy arrays, the notebook's way;
- pipeline: ``model.fit`` on :func:`model.pipeline.train_dataset` with
  ``--mix-fraction`` of every batch streamed from a temporary HDF5 bank of ``--bank-cases``
  cases (MNIST images not in the training subset).

The arms alternate epoch by epoch (A, B, A, B, ...) so the load from other
processes on the machine hits both alike; the first epoch of each (tracing,
warm-up) is dropped and the medians are compared. Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from model.cnn import build_model
from model.data import load_mnist
from model.pipeline import steps_per_epoch, train_dataset
from store import Bank

BATCH = 128  # the notebook's batch size


class EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self.t0)


def make_bank(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    probs = np.full((len(y), 10), 0.1, np.float32)
    with Bank.open(path, "a") as bank:
        bank.append(x, y, (y + 1) % 10, probs, round=0, model_id="bench", source="imported", key="bench")


def arguments(description: str, rounds: int, mix: float) -> argparse.ArgumentParser:
    """The options this script and bench/train_cost.py share (their defaults differ)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--mnist", default=None, help="MNIST path (default: $HARDMINE_MNIST, else Keras' download)")
    ap.add_argument("--n", type=int, default=6_400, help="MNIST images per epoch, every arm (default 6400)")
    ap.add_argument("--rounds", type=int, default=rounds, help=f"epochs per arm, the first dropped (default {rounds})")
    ap.add_argument("--mix-fraction", dest="mix", type=float, default=mix,
                    help=f"share of each pipeline batch from the bank (default {mix})")
    ap.add_argument("--bank-cases", type=int, default=5_000, help="cases in the temporary bank (default 5000)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0], rounds=5, mix=0.2).parse_args(argv)

    data = load_mnist(args.mnist)
    x, y = data.x_train[:args.n], data.y_train[:args.n]
    x_float = x.astype(np.float32)[..., None]  # the notebook's (N, 28, 28, 1) float array
    keras.utils.set_random_seed(0)
    memory_model, pipe_model = build_model("seed"), build_model("seed")
    memory_t, pipe_t = EpochTimer(), EpochTimer()

    with tempfile.TemporaryDirectory() as tmp:
        bank = Path(tmp) / "bank.h5"
        make_bank(bank, data.x_train[args.n:args.n + args.bank_cases], data.y_train[args.n:args.n + args.bank_cases])
        stream = train_dataset(x, y, bank, batch_size=BATCH, mix=args.mix, augment=None, seed=0)
        steps = steps_per_epoch(len(y), BATCH)
        print(f"bench/train.py: seed preset, {len(y)} images/epoch ({steps} steps x {BATCH}), "
              f"bank {args.bank_cases} cases, mix {args.mix:.2f}, {args.rounds} epochs per arm, alternating")
        print("epoch  in-memory_s  pipeline_s  ratio")
        for epoch in range(args.rounds):
            memory_model.fit(x_float, y, batch_size=BATCH, initial_epoch=epoch, epochs=epoch + 1,
                             verbose=0, callbacks=[memory_t])
            pipe_model.fit(stream, steps_per_epoch=steps, initial_epoch=epoch, epochs=epoch + 1,
                           verbose=0, shuffle=False, callbacks=[pipe_t])
            a, b = memory_t.seconds[-1], pipe_t.seconds[-1]
            print(f"{epoch + 1:5d}  {a:11.2f}  {b:10.2f}  {b / a:5.2f}{'  (warm-up, dropped)' if epoch == 0 else ''}",
                  flush=True)

    a, b = statistics.median(memory_t.seconds[1:]), statistics.median(pipe_t.seconds[1:])
    verdict = "OK" if b / a <= 1.10 else "SLOWER THAN TARGET"
    print(f"median s/epoch: in-memory {a:.2f}, pipeline with {args.mix:.0%} bank mixing {b:.2f}; "
          f"ratio {b / a:.3f} (target <= 1.10: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
