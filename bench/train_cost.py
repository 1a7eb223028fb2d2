"""What each piece of a training round costs, against a plain in-memory ``model.fit``, in one run.

    nice python bench/train_cost.py --mnist /work/shared/data/mnist.npz            # ~6 min on 2 loaded cores
    nice python bench/train_cost.py --mnist /work/shared/data/mnist.npz --n 54000 --rounds 3   # full epochs

Every arm trains its own ``seed`` network for one epoch of the same ``--n`` MNIST images
(batch 128), arm after arm, round after round (A, B, C, ..., A, B, C, ...), so the load
of other processes hits all alike; the first round (tracing, warm-up) is dropped and each
arm's median seconds per epoch is divided by the plain arm's. The arms add one piece at a
time, as the round's pipeline (model/pipeline.py) adds them:

- ``plain``: ``model.fit`` on NumPy arrays, the notebook's way;
- ``augment``: + rotation/zoom/shift (``augment_batches``) in tf.data;
- ``pen_scan``: + pen width and scan resolution (``vary_pen_and_scan``);
- ``bank``: + ``--mix-fraction`` of every batch streamed from a temporary bank
  (``train_dataset``: the round's whole stream);
- ``bank/shared``: ``bank`` with its maps on TensorFlow's shared inter-op pool
  (``Threads(data=0)``, tf.data's default) instead of a pool of their own (ours);
- ``train``: + what ``model.train.train`` adds around it: its callbacks (learning-rate
  schedule, best-epoch checkpoint, a log line) and the validation pass each epoch.

and one reference, ``plain+aug``: ``model.fit`` on the arrays of a model that runs the
same augmentation and pen/scan as its first layers (Keras preprocessing, active in
training only): a plain fit of the same recipe, which the ``train`` arm is held to
(target: ``train`` <= 1.10 x ``plain+aug``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from model.settings import MIX_FRACTION
from model.cnn import SCHEDULES, build_model, compile_model
from model.data import load_mnist
from model.pipeline import (Augment, PenScan, _pick, augment_batches, augmenter, mnist_batches, no_autotune,
                            pen, scan, steps_per_epoch, to_model_input, train_dataset, vary_pen_and_scan)
from model.settings import Threads
from model.train import LogProgress, _validation
from train import EpochTimer, arguments, make_bank  # bench/train.py: the same timer and bank as its two arms

BATCH = 128  # the notebook's and the flow's batch size
TARGET = 1.10  # the round's epoch against a plain fit of the same recipe


class PenScanLayer(keras.layers.Layer):
    """``vary_pen_and_scan`` as a layer, for the in-model reference: identity at inference."""

    def __init__(self, ps: PenScan, seed: int, **kw) -> None:
        super().__init__(**kw)
        self.ps, self.seed = ps, seed

    def call(self, x, training=False):
        return _vary(x, self.ps, self.seed) if training else x


def _vary(x, ps: PenScan, seed: int):
    """The body of ``vary_pen_and_scan`` on one batch."""
    x = _pick(x, [lambda x, k=k: pen(x, k) for k in ps.pens], ps.pen_share, seed + 10)
    return _pick(x, [lambda x, n=n: scan(x, n) for n in ps.sides], ps.scan_share, seed + 20)


def in_model_recipe(seed: int) -> keras.Model:
    """The seed network with augmentation and pen/scan as its first layers (training only)."""
    net = build_model("seed")
    inputs = keras.Input((28, 28, 1), dtype="float32")
    x = augmenter(Augment(), seed)(inputs)
    x = PenScanLayer(PenScan(), seed)(x)
    model = keras.Model(inputs, net(x))
    return compile_model(model, "seed")


def arms(x, y, x_val, y_val, bank: Path, mix: float, out: Path) -> dict[str, Callable[[int, EpochTimer], None]]:
    """name -> run one epoch (0-based index) with the timer as a callback."""
    x_float = x.astype(np.float32)[..., None]
    steps = steps_per_epoch(len(y), BATCH)
    aug, ps = Augment(), PenScan()

    def fitter(model, data, extra=(), **kw):
        def run(epoch: int, timer: EpochTimer) -> None:
            model.fit(data, initial_epoch=epoch, epochs=epoch + 1, verbose=0, callbacks=[*extra, timer], **kw)
        return run

    def stream(stage):
        ds = no_autotune(stage(to_model_input(mnist_batches(x, y, BATCH, 0))))
        return ds.prefetch(tf.data.AUTOTUNE)

    full = train_dataset(x, y, bank, batch_size=BATCH, mix=mix, augment=aug, pen_scan=ps, seed=0)
    train_model = build_model("seed")
    schedule = SCHEDULES["constant"]
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch, _lr: schedule(1e-3, 1.0, epoch, 10)),
        keras.callbacks.ModelCheckpoint(out / ".bench.partial.keras", monitor="val_accuracy", mode="max",
                                        save_best_only=True),
        LogProgress(lambda line: None, 10),
    ]
    return {
        "plain": fitter(build_model("seed"), x_float, y=y, batch_size=BATCH, shuffle=True),
        "plain+aug": fitter(in_model_recipe(0), x_float, y=y, batch_size=BATCH, shuffle=True),
        "augment": fitter(build_model("seed"), stream(lambda ds: augment_batches(ds, aug, 0)), steps_per_epoch=steps),
        "pen_scan": fitter(build_model("seed"), stream(
            lambda ds: vary_pen_and_scan(augment_batches(ds, aug, 0), ps, 0)), steps_per_epoch=steps),
        "bank": fitter(build_model("seed"), full, steps_per_epoch=steps),
        "bank/shared": fitter(build_model("seed"), train_dataset(
            x, y, bank, batch_size=BATCH, mix=mix, augment=aug, pen_scan=ps, seed=0, threads=Threads(data=0)),
            steps_per_epoch=steps),
        "train": fitter(train_model, full, callbacks, steps_per_epoch=steps, validation_data=_validation(x_val, y_val)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = arguments(__doc__.splitlines()[0], rounds=4, mix=MIX_FRACTION)  # the flow's mix
    ap.add_argument("--arms", default=None, help="comma-separated subset of the arms (default: all)")
    args = ap.parse_args(argv)

    data = load_mnist(args.mnist)
    x, y = data.x_train[:args.n], data.y_train[:args.n]
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        bank = Path(tmp) / "bank.h5"
        make_bank(bank, data.x_train[-args.bank_cases:], data.y_train[-args.bank_cases:])
        n_val = max(1, len(y) * len(data.y_val) // len(data.y_train))  # the flow's validation share (1:9)
        runs = arms(x, y, data.x_val[:n_val], data.y_val[:n_val], bank, args.mix, Path(tmp))
        if args.arms:
            runs = {name: runs[name] for name in args.arms.split(",")}
        timers = {name: EpochTimer() for name in runs}
        print(f"bench/train_cost.py: seed preset, {len(y)} images/epoch ({steps_per_epoch(len(y), BATCH)} steps x "
              f"{BATCH}), bank {args.bank_cases} cases at mix {args.mix:.2f}, validation {n_val} images "
              f"(train arm), {args.rounds} rounds, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        print("round  " + "  ".join(f"{name:>9}" for name in runs))
        for r in range(args.rounds):
            for name, run in runs.items():
                run(r, timers[name])
            print(f"{r + 1:5d}  " + "  ".join(f"{timers[name].seconds[-1]:9.2f}" for name in runs)
                  + ("  (warm-up, dropped)" if r == 0 else ""), flush=True)

    med = {name: statistics.median(t.seconds[1:] or t.seconds) for name, t in timers.items()}
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("arm          s/epoch  x plain  x previous arm")
    prev = None
    for name, s in med.items():
        base = med.get("plain", s)
        side = name in ("plain+aug", "bank/shared")  # references, not a piece added
        step = "" if prev is None or side else f"{s / med[prev]:.2f}"
        print(f"{name:11}  {s:8.2f}  {s / base:7.2f}  {step}")
        prev = prev if side else name
    if "train" in med and "plain+aug" in med:
        ratio = med["train"] / med["plain+aug"]
        print(f"train / plain+aug (same recipe): {ratio:.3f} (target <= {TARGET:.2f}: "
              f"{'OK' if ratio <= TARGET else 'SLOWER THAN TARGET'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
