"""How far synthetic digits are from MNIST's style: feature table + synthetic-vs-real separability.

    python bench/realism.py [--mnist /work/shared/data/mnist.npz] [--count 5000]

Draws ``--count`` MNIST training digits and ``--count`` synthetic digits per
rendering (raw = the notebook's, realistic = ``GeneratorConfig(realistic=True)``),
same labels (MNIST's), jitter cycling through 0, 0.5, 1, 2, 3 grid px, valid
digits only. Prints the mean and 10/50/90% quantiles of every
``miner.realism.FEATURES`` overall, the per-class means of the features that
differ most, and the held-out accuracy of two classifiers telling synthetic from
real (balanced, 80/20 split, same sizes and seeds for every rendering; 0.5 =
indistinguishable): logistic regression on the pixels and gradient boosting on
the features.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from miner import GeneratorConfig, generate, is_valid
from miner.realism import FEATURES, features

SEED = 424242  # a mining-range seed used only by this benchmark
JITTERS = (0.0, 0.5, 1.0, 2.0, 3.0)
RENDERINGS = {"raw": GeneratorConfig(), "realistic": GeneratorConfig(realistic=True)}
PER_CLASS = ("width", "ink", "aspect", "slant")


def synthetic(labels: np.ndarray, config: GeneratorConfig) -> np.ndarray:
    """One valid digit per label (invalid draws are replaced by later stream indices)."""
    out, start = np.zeros((len(labels), 28, 28), np.uint8), 0
    todo = np.arange(len(labels))
    while todo.size:
        jit = np.resize(np.array(JITTERS), todo.size)
        images, rec = generate(labels[todo], jit, SEED, start=start, config=config)
        ok = is_valid(rec)
        out[todo[ok]] = images[ok]
        start, todo = start + todo.size, todo[~ok]
    return out


def separability(real: np.ndarray, fake: np.ndarray, real_f: np.ndarray, fake_f: np.ndarray) -> tuple[float, float]:
    """Held-out accuracy (pixels: logistic regression; features: gradient boosting), 20% test."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    pixels = np.r_[real, fake].reshape(len(y), -1) / 255.0
    feats = np.r_[real_f, fake_f]
    split = train_test_split(pixels, feats, y, test_size=0.2, random_state=0, stratify=y)
    px_tr, px_te, f_tr, f_te, y_tr, y_te = split
    lr = LogisticRegression(max_iter=300, C=0.1).fit(px_tr, y_tr)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(f_tr, y_tr)
    return lr.score(px_te, y_te), hgb.score(f_te, y_te)


def row(name: str, x: np.ndarray) -> str:
    q = np.nanpercentile(x, [10, 50, 90])
    return f"  {name:<10} {np.nanmean(x):8.3f} {q[0]:8.3f} {q[1]:8.3f} {q[2]:8.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", default=os.environ.get("HARDMINE_MNIST", "/work/shared/data/mnist.npz"))
    ap.add_argument("--count", type=int, default=5000)
    args = ap.parse_args()
    data = np.load(args.mnist)
    pick = np.random.default_rng(0).choice(len(data["y_train"]), args.count, replace=False)
    real, labels = data["x_train"][pick], data["y_train"][pick].astype(np.int64)
    sets = {"mnist": real} | {name: synthetic(labels, cfg) for name, cfg in RENDERINGS.items()}
    feats = {name: features(images) for name, images in sets.items()}
    print(f"{args.count} digits each (MNIST train sample; synthetic with MNIST's labels, jitter {JITTERS})")
    print(f"  {'':<10} {'mean':>8} {'q10':>8} {'q50':>8} {'q90':>8}")
    for k, feat in enumerate(FEATURES):
        print(feat)
        for name, f in feats.items():
            print(row(name, f[:, k]))
    print("per-class means (mnist / raw / realistic)")
    print("digit " + " ".join(f"{feat:>20}" for feat in PER_CLASS))
    for d in range(10):
        cells = []
        for feat in PER_CLASS:
            k = FEATURES.index(feat)
            cells.append("/".join(f"{np.nanmean(f[labels == d, k]):.2f}" for f in feats.values()))
        print(f"{d:<5} " + " ".join(f"{c:>20}" for c in cells))
    print(f"separability, held-out accuracy synthetic vs real ({args.count} each, 20% test; 0.5 = indistinguishable)")
    print(f"  {'rendering':<10} {'pixels-LR':>10} {'features-HGB':>13}")
    clean = {name: np.nan_to_num(f, nan=0.0) for name, f in feats.items()}
    for name in RENDERINGS:
        lr, hgb = separability(real, sets[name], clean["mnist"], clean[name])
        print(f"  {name:<10} {lr:10.3f} {hgb:13.3f}")


if __name__ == "__main__":
    main()
