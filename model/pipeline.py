"""The training input: MNIST mixed on the fly with hard cases streamed from the bank.

    python -m model.pipeline BANK.h5     # draws 20 batches, prints the share that came from the bank

A tf.data pipeline of small stages, each a function of the dataset before it::

    mnist_batches --+
                    +-- mix_batches -- to_model_input -- augment_batches -- vary_pen_and_scan -- no_autotune -- prefetch
    bank_batches ---+

Every batch of ``batch_size`` holds exactly ``round(mix * batch_size)`` bank
cases. The bank side is a ``tf.data.Dataset.from_generator`` over
``store.stream_batches``, which reads the HDF5 bank chunk by chunk (a bank
larger than memory is fine). When one pass over the bank ends, the generator
calls ``stream_batches`` again with the next ``epoch``: a fresh shuffle, and
cases appended since (by another round, another process) are in it. A missing
or empty bank (or one without trainable cases: all quarantined or rejected), or
``mix=0``, gives MNIST-only batches. The dataset is infinite:
train with ``steps_per_epoch = steps_per_epoch(len(x), batch_size)``, so an
"epoch" is as many images as the MNIST training set, a share ``mix`` of them
from the bank.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import tensorflow as tf
import keras

from miner.config import require
from miner.settings import checked_value
from model.settings import BALANCE, BALANCE_CAP, MIX_FRACTION, MixFraction, Threads

READ_ROWS = 1024  # rows per stream_batches() call: fewer Python round trips, little memory (0.8 MB)


@dataclass(frozen=True)
class Augment:
    """The notebook's ImageDataGenerator settings, as Keras preprocessing layers."""

    rotation_deg: float = 10.0  # uniform rotation in +-degrees
    zoom: float = 0.1  # uniform zoom in [1 - z, 1 + z], height and width independently
    shift: float = 0.1  # uniform shift in +- fraction of height / width
    fill_mode: str = "nearest"  # ImageDataGenerator's default edge fill

    def __post_init__(self) -> None:
        require(0 <= self.rotation_deg <= 180 and 0 <= self.zoom < 1 and 0 <= self.shift < 1,
                f"Augment: rotation_deg={self.rotation_deg} (0..180), zoom={self.zoom} and "
                f"shift={self.shift} (0..1) out of range")


@dataclass(frozen=True)
class PenScan:
    """Pen width and scan resolution, varied image by image.

    Real digits come written with any pen and scanned at any resolution, while
    MNIST's are all one pen at one resolution and mined synthetic digits carry
    their generator's brush: varying both on every training image (MNIST and
    bank alike) leaves neither as evidence for a class. Strengths are drawn from
    sets of their own, not the robustness suite's (model/robustness.py), so the
    suite stays a measurement and not a training target.
    """

    pen_share: float = 0.5  # images whose pen changes
    # k > 0: a k x k max filter (a wider pen); k < 0: a |k| x |k| min filter (a finer pen)
    pens: tuple[int, ...] = (-2, 2, 3, 4)
    scan_share: float = 0.3  # images scanned again at a lower resolution (area down, bilinear up)
    sides: tuple[int, ...] = (7, 9, 12, 16, 20)  # pixels per side of that scan

    def __post_init__(self) -> None:
        require(0 <= self.pen_share <= 1 and 0 <= self.scan_share <= 1,
                f"PenScan: pen_share={self.pen_share} and scan_share={self.scan_share} must be in [0, 1]")
        require(len(self.pens) > 0 and all(2 <= abs(k) <= 7 for k in self.pens),
                f"PenScan: pens={self.pens} must be filter sizes 2..7 (negative: finer pen)")
        require(len(self.sides) > 0 and all(4 <= n < 28 for n in self.sides),
                f"PenScan: sides={self.sides} must be in 4..27 pixels")


def bank_size(path: str | os.PathLike | None) -> int:
    """Trainable cases in the bank at ``path`` (statuses in ``store.review.TRAINABLE``:
    the ones ``stream_batches`` yields); 0 when there is no path or no file yet."""
    if path is None or not os.path.exists(path):
        return 0
    from store import Bank
    from store.review import TRAINABLE

    with Bank.open(path) as bank:
        return sum(n for status, n in bank.status_counts().items() if status in TRAINABLE)


def bank_passes(path: str | os.PathLike, seed: int, balance: bool,
                balance_cap: float = BALANCE_CAP) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless passes over the bank, each reshuffled and re-read as the bank is *now*."""
    from store import stream_batches

    for epoch in itertools.count():
        empty = True
        for x, y in stream_batches(path, READ_ROWS, seed=seed, epoch=epoch, balance=balance,
                                   balance_cap=balance_cap):
            empty = False
            yield x, y
        if empty:  # emptied under us (or filtered to nothing): end instead of spinning
            return


def fixed_batches(chunks: Iterable[tuple[np.ndarray, np.ndarray]], k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Re-cut a stream of (x, y) chunks of any sizes into batches of exactly ``k`` rows."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    held = 0
    for x, y in chunks:
        xs.append(x)
        ys.append(y)
        held += len(y)
        if held < k:
            continue
        x_all, y_all = np.concatenate(xs), np.concatenate(ys)
        cut = held - held % k
        for i in range(0, cut, k):
            yield x_all[i:i + k], y_all[i:i + k]
        xs, ys, held = [x_all[cut:]], [y_all[cut:]], held - cut


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, -(-n // batch_size))


# ------------------------------------------------------------------ the stages

def mnist_batches(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tf.data.Dataset:
    """Endless batches of ``n`` MNIST images, reshuffled on every pass: (n, 28, 28) uint8, (n,) uint8."""
    images, labels = tf.constant(x), tf.constant(y)  # one copy in TF memory; batches are gathers
    order = tf.data.Dataset.range(len(y)).shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return order.repeat().batch(n, drop_remainder=True).map(
        lambda idx: (tf.gather(images, idx), tf.gather(labels, idx)), num_parallel_calls=tf.data.AUTOTUNE)


def bank_batches(path: str | os.PathLike, k: int, seed: int, balance: bool,
                 balance_cap: float = BALANCE_CAP) -> tf.data.Dataset:
    """Endless batches of ``k`` bank cases, streamed by a Python generator over ``store``."""
    return tf.data.Dataset.from_generator(
        lambda: fixed_batches(bank_passes(path, seed, balance, balance_cap), k),
        output_signature=(tf.TensorSpec((k, 28, 28), tf.uint8), tf.TensorSpec((k,), tf.uint8)))


def mix_batches(mnist: tf.data.Dataset, bank: tf.data.Dataset) -> tf.data.Dataset:
    """Zip the two streams and stack each pair into one batch (MNIST rows first)."""
    return tf.data.Dataset.zip(mnist, bank).map(
        lambda a, b: (tf.concat([a[0], b[0]], 0), tf.concat([a[1], b[1]], 0)))


def to_model_input(ds: tf.data.Dataset) -> tf.data.Dataset:
    """uint8 (b, 28, 28) -> float32 (b, 28, 28, 1) raw 0..255, what the models take."""
    return ds.map(lambda x, y: (tf.cast(x, tf.float32)[..., None], y), num_parallel_calls=tf.data.AUTOTUNE)


def augmenter(aug: Augment, seed: int) -> keras.Sequential:
    f = aug.zoom
    return keras.Sequential([
        keras.layers.RandomRotation(aug.rotation_deg / 360.0, fill_mode=aug.fill_mode, seed=seed),
        keras.layers.RandomZoom((-f, f), (-f, f), fill_mode=aug.fill_mode, seed=seed + 1),
        keras.layers.RandomTranslation(aug.shift, aug.shift, fill_mode=aug.fill_mode, seed=seed + 2),
    ], name="augment")


def augment_batches(ds: tf.data.Dataset, aug: Augment | None, seed: int) -> tf.data.Dataset:
    """Random rotation/zoom/shift per image, whole batches at a time (cheap); identity if ``aug`` is None."""
    if aug is None:
        return ds
    layer = augmenter(aug, seed)
    return ds.map(lambda x, y: (layer(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)


def pen(x: tf.Tensor, k: int) -> tf.Tensor:
    """(b, 28, 28, 1) float32 with a k x k max filter (k > 0) or |k| x |k| min filter (k < 0)."""
    if k > 0:
        return tf.nn.max_pool2d(x, k, 1, "SAME")
    return -tf.nn.max_pool2d(-x, -k, 1, "SAME")


def scan(x: tf.Tensor, side: int) -> tf.Tensor:
    """(b, 28, 28, 1) float32 scanned at side x side (area average) and shown at 28 x 28 (bilinear)."""
    small = tf.image.resize(x, (side, side), method="area")
    return tf.image.resize(small, x.shape[1:3], method="bilinear")


def _pick(x: tf.Tensor, options: list, share: float, seed: int) -> tf.Tensor:
    """``share`` of the images (drawn per image) through one of ``options`` (drawn per batch:
    one filter or resize per batch costs a fifth of all of them per image); the rest as they are."""
    use = tf.random.uniform([tf.shape(x)[0]], seed=seed) < share
    which = tf.random.uniform([], 0, len(options), tf.int32, seed=seed + 1)
    changed = tf.switch_case(which, [lambda f=f: f(x) for f in options])
    return tf.where(use[:, None, None, None], changed, x)


def vary_pen_and_scan(ds: tf.data.Dataset, ps: PenScan | None, seed: int) -> tf.data.Dataset:
    """Maybe another pen (``ps.pen_share`` of the images), then maybe a low-resolution scan
    (``ps.scan_share``); identity if ``ps`` is None. ~5 ms per batch of 128 on one core."""
    if ps is None:
        return ds

    def vary(x, y):
        x = _pick(x, [lambda x, k=k: pen(x, k) for k in ps.pens], ps.pen_share, seed + 10)
        x = _pick(x, [lambda x, n=n: scan(x, n) for n in ps.sides], ps.scan_share, seed + 20)
        return x, y
    return ds.map(vary, num_parallel_calls=tf.data.AUTOTUNE)


def no_autotune(ds: tf.data.Dataset, threads: Threads | None = None) -> tf.data.Dataset:
    """tf.data's autotuning off, its threads fixed by :class:`model.settings.Threads`.

    Why: the autotuner runs in a model thread that sleeps up to its optimisation
    period (doubling from 10 ms to 60 s). Destroying the iterator (the end of every
    ``fit``) cancels it with a callback that wakes it *before* TensorFlow marks the
    cancellation done (tensorflow CancellationManager::StartCancel), so the thread can
    look, see "not cancelled" and sleep out the rest of its period while ``fit`` waits
    to join it: 0% CPU for up to 60 s after the last epoch (issue 13; 25-37 s in the
    flow). How often, with it on and off: ``python bench/teardown.py``. Without the
    autotuner, ``AUTOTUNE`` maps run as many calls at a time as their pool has threads
    and ``prefetch(AUTOTUNE)`` sizes its buffer by the legacy rule (grow while the
    consumer waits); what that costs per epoch: ``bench/train_cost.py``.
    """
    threads = threads or Threads.from_env()
    opts = tf.data.Options()
    opts.autotune.enabled = False
    if threads.data:
        opts.threading.private_threadpool_size = threads.data
    return ds.with_options(opts)


def train_dataset(x: np.ndarray, y: np.ndarray, bank_path: str | os.PathLike | None = None, *,
                  batch_size: int = 128, mix: float = MIX_FRACTION, balance: bool = BALANCE,
                  balance_cap: float = BALANCE_CAP,
                  augment: Augment | None = None, pen_scan: PenScan | None = None,
                  seed: int = 0, threads: Threads | None = None) -> tf.data.Dataset:
    """The endless training stream: batches of float32 (batch_size, 28, 28, 1) and uint8 labels."""
    mix = checked_value(MixFraction, mix, "train_dataset", "mix")
    k = int(round(mix * batch_size)) if bank_size(bank_path) else 0
    if k:
        ds = mix_batches(mnist_batches(x, y, batch_size - k, seed),
                         bank_batches(bank_path, k, seed, balance, balance_cap))
    else:
        ds = mnist_batches(x, y, batch_size, seed)
    ds = augment_batches(to_model_input(ds), augment, seed)
    return no_autotune(vary_pen_and_scan(ds, pen_scan, seed), threads).prefetch(tf.data.AUTOTUNE)


if __name__ == "__main__":
    import sys

    rng = np.random.default_rng(0)
    demo = train_dataset(rng.integers(0, 256, (1000, 28, 28), np.uint8), np.full(1000, 5, np.uint8),
                         sys.argv[1], batch_size=128, mix=0.2)
    shares = [float(np.mean(yb.numpy() != 5)) for _, yb in demo.take(20)]
    print(f"bank share per batch: {np.mean(shares):.3f} (MNIST labels here are all 5)")
