"""The independent reader: does a mined digit still read as its label?

    python -m model.reader --mnist mnist.npz --out reader.keras      # train one (about 4 min on 2 cores)

Mining keeps the synthetic digits the model gets wrong, and some of those are
wrong because the jittered pen strokes turned a 3 into a 2 or closed a 0 into a
6: training on them teaches real shapes the wrong label. The label-noise guard
asks a second opinion of a *reader*: a CNN that is not the model being mined
and never sees the bank, trained on MNIST alone under heavy, realistic
augmentation (pen width, slant, rotation, scale, position, elastic wobble), so
it reads badly written digits better than the model it judges. A mined digit
whose true label the reader gives less than ``threshold`` probability is
``ambiguous``: stored in the bank, marked, and never streamed into training
unless a reviewer accepts or relabels it (``hardmine bank review``).

Augmentation is done in numpy/OpenCV on a fresh copy of the training set each
epoch (about 3 s per epoch for 54,000 digits), then plain ``model.fit`` on the
arrays: no tf.data pipeline to tear down.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from miner.config import require
from model.robustness import elastic_one

SIZE = 28


@dataclass(frozen=True)
class ReaderConfig:
    preset: str = "seed"        # CNN preset of model.cnn
    epochs: int = 4             # passes over a freshly augmented copy of MNIST train
    seed: int = 7               # not any seed the flow trains its models with (those start at 0)
    clean_share: float = 0.25   # share of each epoch's digits left unaugmented

    def __post_init__(self) -> None:
        require(self.epochs >= 1, f"ReaderConfig: epochs={self.epochs} must be >= 1")
        require(0 <= self.clean_share <= 1, f"ReaderConfig: clean_share={self.clean_share} must be in [0, 1]")


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 28, 28) uint8: each digit redrawn by another hand.

    One random affine map per digit (rotation +-20 deg, shear +-0.35, scale
    0.7..1.2, shift +-3 px), then pen width (dilate or erode, 1 in 3 each), then
    an elastic wobble (alpha 0..30, sigma 4) on half of them."""
    n = len(x)
    out = np.empty_like(x)
    c = (SIZE - 1) / 2
    angle = np.deg2rad(rng.uniform(-20, 20, n))
    shear = rng.uniform(-0.35, 0.35, n)
    scale = rng.uniform(0.7, 1.2, n)
    shift = rng.uniform(-3, 3, (n, 2))
    pen = rng.integers(0, 3, n)  # 0 keep, 1 thicker, 2 thinner
    alpha = np.where(rng.random(n) < 0.5, rng.uniform(0, 30, n), 0.0)
    thick = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    thin = np.ones((2, 2), np.uint8)
    for i in range(n):
        cos, sin = np.cos(angle[i]) * scale[i], np.sin(angle[i]) * scale[i]
        a = np.array([[cos, -sin + shear[i]], [sin, cos]])
        m = np.column_stack([a, np.array([c, c]) - a @ np.array([c, c]) + shift[i]])
        im = cv2.warpAffine(x[i], m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
        if pen[i] == 1:
            im = cv2.dilate(im, thick)
        elif pen[i] == 2:
            im = cv2.erode(im, thin)
        if alpha[i] > 0:
            im = elastic_one(im, alpha[i], rng)
        out[i] = im
    return out


def train_reader(data, out_path: str | os.PathLike, cfg: ReaderConfig = ReaderConfig(), log=print) -> dict:
    """Train a reader on ``data`` (a :class:`model.data.Mnist`), save it at ``out_path``
    atomically; returns its validation accuracy (clean and augmented) and seconds."""
    import keras

    from model.cnn import build_model

    out = Path(out_path)
    require(out.suffix == ".keras", f"reader: output {out} must end in .keras")
    out.parent.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg.preset)
    x, y = data.x_train, data.y_train
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        xa = augment(x, rng)
        clean = rng.random(len(x)) < cfg.clean_share
        xa[clean] = x[clean]
        hist = model.fit(xa[..., None].astype(np.float32), y, batch_size=128, epochs=1, verbose=0, shuffle=True)
        log(f"reader epoch {epoch + 1}/{cfg.epochs}: loss {hist.history['loss'][-1]:.4f} "
            f"acc {hist.history['accuracy'][-1]:.4f} ({time.perf_counter() - t0:.1f} s)")
    val = data.x_val[..., None].astype(np.float32)
    val_acc = float(np.mean(model.predict(val, batch_size=1024, verbose=0).argmax(1) == data.y_val))
    val_aug = augment(data.x_val, np.random.default_rng(cfg.seed + 1))[..., None].astype(np.float32)
    aug_acc = float(np.mean(model.predict(val_aug, batch_size=1024, verbose=0).argmax(1) == data.y_val))
    tmp = out.with_name(f".{out.stem}.partial.keras")
    model.save(tmp)
    os.replace(tmp, out)
    seconds = time.perf_counter() - start
    log(f"reader saved at {out}: val acc {val_acc:.4f}, augmented val acc {aug_acc:.4f} ({seconds:.0f} s)")
    return {"model": str(out), "val_acc": val_acc, "val_aug_acc": aug_acc, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    from model.data import load_mnist

    d = ReaderConfig()
    p = argparse.ArgumentParser(description="Train the label-noise guard's reader on MNIST.")
    p.add_argument("--mnist", default=None, help="MNIST path [default: $HARDMINE_MNIST]")
    p.add_argument("--out", default="reader.keras", help="where to save the reader (.keras)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    a = p.parse_args(argv)
    train_reader(load_mnist(a.mnist), a.out, ReaderConfig(epochs=a.epochs, seed=a.seed))


if __name__ == "__main__":
    main()
