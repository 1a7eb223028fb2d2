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

from model.robustness import SUITE, transform


def arm_of(path: Path) -> str:
    """The experiment arm of ``runs/<work>/<arm>-seed<k>-<hash>/models/x.keras`` (else its parent)."""
    for part in reversed(path.parts):
        m = re.match(r"(.+)-seed\d+", part)
        if m:
            return m.group(1)
    return path.parent.name


def main(argv: list[str] | None = None) -> None:
    names = [v.name for v in SUITE]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, help="model files (.keras)")
    p.add_argument("--variant", default="scale0.6", choices=names, help="a variant of model/suite.toml")
    p.add_argument("--label", type=int, default=2, choices=range(10), metavar="0..9", help="the class")
    p.add_argument("--mnist", type=Path, default=os.environ.get("HARDMINE_MNIST"), required="HARDMINE_MNIST" not in os.environ,
                   help="mnist.npz (x_test, y_test); default $HARDMINE_MNIST")
    a = p.parse_args(argv)
    missing = [str(m) for m in [*a.models, Path(a.mnist)] if not m.is_file()]
    if missing:
        print(f"error: no file {missing[0]}, give existing .keras models and mnist.npz", file=sys.stderr)
        raise SystemExit(2)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from model.infer import predictor

    with np.load(a.mnist) as d:
        x, y = d["x_test"], d["y_test"]
    index = names.index(a.variant)
    images = transform(x[y == a.label], SUITE[index], index)  # (n, 28, 28) uint8
    pooled: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(10, np.int64))
    print(f"{a.variant}, class {a.label}: {len(images)} test digits")
    for path in a.models:
        pred = predictor(keras.models.load_model(path, compile=False))(images).argmax(1)
        counts = np.bincount(pred, minlength=10)
        pooled[arm_of(path)] += counts
        top = ", ".join(f"{k}: {counts[k]}" for k in np.argsort(-counts)[:3] if counts[k])
        print(f"  {path}: accuracy {counts[a.label] / counts.sum():.3f}; read as {top}")
    for arm, counts in pooled.items():
        shares = " ".join(f"{k}:{c / counts.sum():.3f}" for k, c in enumerate(counts))
        print(f"{arm:>16} pooled  {shares}")


if __name__ == "__main__":
    main()
