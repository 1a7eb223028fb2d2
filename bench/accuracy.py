"""MNIST test accuracy of each preset's recipe, and the training time it took, in one run.

    python bench/accuracy.py --mnist ../shared/data/mnist.npz --preset strong
    python bench/accuracy.py --mnist ../shared/data/mnist.npz --preset seed

Each target (issue 4) is data in :data:`TARGETS`: the recipe (epochs,
augmentation) and the bar (test accuracy, training minutes). The script
trains the recipe with ``model.train.train`` exactly as ``hardmine train``
does (best epoch on validation kept), evaluates the saved model on the 10,000
MNIST test images, and prints the accuracy, the wall-clock training time, the
machine's load average and whether the bar is met. The model goes to a
temporary directory unless ``--keep PATH``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from model.cnn import get_preset
from model.data import load_mnist
from model.evaluate import evaluate
from model.train import TrainConfig, train


@dataclass(frozen=True)
class Target:
    epochs: int | None         # None: the preset's recommended epochs
    augment: bool              # the notebook's rotation/zoom/shift augmentation
    pen_scan: bool = False     # model.pipeline.PenScan; off in both recipes as measured
    min_test_acc: float        # the bar, MNIST test accuracy
    max_minutes: float | None  # the bar, wall-clock training minutes on this 2-core machine (None: no limit)


TARGETS: dict[str, Target] = {
    "seed": Target(epochs=10, augment=False, min_test_acc=0.990, max_minutes=None),  # the notebook's recipe
    "strong": Target(epochs=None, augment=True, min_test_acc=0.996, max_minutes=60.0),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", default=None, help="MNIST path (default: $HARDMINE_MNIST, else Keras' download)")
    ap.add_argument("--preset", choices=sorted(TARGETS), default="strong", help="which recipe (default strong)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    ap.add_argument("--keep", type=Path, default=None, help="save the model here (.keras) instead of a temp dir")
    args = ap.parse_args(argv)

    # ------------------------------------------------------------------ setup
    target = TARGETS[args.preset]
    epochs = target.epochs or get_preset(args.preset).epochs
    cfg = TrainConfig(preset=args.preset, epochs=epochs, augment=target.augment,
                      pen_scan=target.pen_scan, seed=args.seed)
    data = load_mnist(args.mnist)
    tmp = Path(tempfile.mkdtemp(prefix="hardmine-accuracy-"))
    out = tmp / f"{args.preset}.keras"
    print(f"bench/accuracy.py: {args.preset}, {epochs} epochs, augment {'on' if target.augment else 'off'}, "
          f"seed {args.seed}, {len(data.y_train)} training images; load average at start "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    # ------------------------------------------------------------------ train
    start = time.perf_counter()
    result = train(cfg, data, out, log=lambda line: print(line, flush=True))
    minutes = (time.perf_counter() - start) / 60

    # ------------------------------------------------------------------ evaluate
    scores = evaluate(keras.saving.load_model(out), data)
    if args.keep:
        args.keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, args.keep)
    shutil.rmtree(tmp, ignore_errors=True)
    ok_acc = scores["mnist_test_acc"] >= target.min_test_acc
    ok_time = target.max_minutes is None or minutes <= target.max_minutes
    budget = "" if target.max_minutes is None else f" ({minutes / target.max_minutes:.2f} of the {target.max_minutes:g}-minute budget)"
    print(f"{args.preset}: test accuracy {scores['mnist_test_acc']:.4f} (10,000 images; best val_acc "
          f"{result['val_acc']:.4f} at epoch {result['best_epoch']}/{epochs}); trained in {minutes:.1f} min"
          f"{budget}, {result['seconds_per_epoch']:.1f} s/epoch; load average at end {os.getloadavg()[0]:.1f}")
    print(f"target: test accuracy >= {target.min_test_acc}"
          + (f" within {target.max_minutes:g} min" if target.max_minutes else "")
          + f": {'OK' if ok_acc and ok_time else 'NOT MET'}")
    return 0 if ok_acc and ok_time else 1


if __name__ == "__main__":
    sys.exit(main())
