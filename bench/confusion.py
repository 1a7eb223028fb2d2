"""What one cell of the robustness suite is read as: the confusion of (variant, class) per model.

    python bench/confusion.py --variant scale0.6 --label 2 runs/screen/mnist-only-seed*/models/round-2.keras \
        runs/screen/misclassified-seed*/models/round-2.keras

A cell of the suite that loses points (docs/results.md, "Cells of the suite that
lost more than a point") says *that* a class got worse under a transformation,
not what it became. This prints, for each model, the cell's accuracy and the
classes its digits are read as, then the pooled shares per group of models (a
group is the run directory's name up to ``-seed``: the experiment's arm). Test
split of MNIST (the suite's report side), all of the class's digits.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from flows.cli import QUIET_TENSORFLOW

os.environ.update({k: os.environ.get(k, v) for k, v in QUIET_TENSORFLOW.items()})  # before TensorFlow loads, as in hardmine's commands

from miner.config import HardmineError  # noqa: E402
from model.cnn import check_model_file, load_model  # noqa: E402
from model.infer import predictor  # noqa: E402
from model.data import load_mnist  # noqa: E402
from model.robustness import N_CLASSES, SUITE, transform  # noqa: E402

WHERE = "bench/confusion.py"


def arm_of(path: Path) -> str:
    """The experiment arm of ``runs/<work>/<arm>-seed<k>-<hash>/models/x.keras`` (else its parent)."""
    for part in reversed(path.parts):
        m = re.match(r"(.+)-seed\d+", part)
        if m:
            return m.group(1)
    return path.parent.name


def confusion(a: argparse.Namespace) -> None:
    for path in a.models:  # every model file checked before MNIST loads and any model is read
        check_model_file(path, WHERE)
    data = load_mnist(a.mnist)  # explicit path > $HARDMINE_MNIST > Keras' download

    index = [v.name for v in SUITE].index(a.variant)
    images = transform(data.x_test[data.y_test == a.label], SUITE[index], index)  # (n, 28, 28) uint8
    pooled: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(N_CLASSES, np.int64))
    print(f"{a.variant}, class {a.label}: {len(images)} test digits")
    for path in a.models:
        pred = predictor(load_model(path, WHERE))(images).argmax(1)
        counts = np.bincount(pred, minlength=N_CLASSES)
        pooled[arm_of(path)] += counts
        top = ", ".join(f"{k}: {counts[k]}" for k in np.argsort(-counts)[:3] if counts[k])
        print(f"  {path}: accuracy {counts[a.label] / counts.sum():.3f}; read as {top}")
    for arm, counts in pooled.items():
        shares = " ".join(f"{k}:{c / counts.sum():.3f}" for k, c in enumerate(counts))
        print(f"{arm:>16} pooled  {shares}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, help="model files (.keras)")
    p.add_argument("--variant", default="scale0.6", choices=[v.name for v in SUITE],
                   help="a variant of model/suite.toml")
    p.add_argument("--label", type=int, default=2, choices=range(N_CLASSES), metavar="0..9", help="the class")
    p.add_argument("--mnist", default=None, help="MNIST path (default: $HARDMINE_MNIST, else Keras' download)")
    try:
        confusion(p.parse_args(argv))
    except HardmineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
