"""The pen-and-scan stage of the training pipeline (model.pipeline.PenScan)
against slow, obviously correct references (OpenCV and numpy).

    python -m pytest tests/test_model_penscan.py -q
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from model.pipeline import PenScan, pen, scan, train_dataset, vary_pen_and_scan  # noqa: E402
from miner.config import HardmineError  # noqa: E402


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """(16, 28, 28) uint8 strokes: random polylines drawn 2 px wide, like MNIST's pen."""
    rng = np.random.default_rng(3)
    out = np.zeros((16, 28, 28), np.uint8)
    for im in out:
        pts = rng.integers(5, 23, (4, 2)).astype(np.int32)
        cv2.polylines(im, [pts], False, 255, 2, cv2.LINE_AA)
    return out


def _float(x: np.ndarray) -> tf.Tensor:
    return tf.constant(x.astype(np.float32)[..., None])


@pytest.mark.parametrize("k", [3, 5])
def test_odd_pens_are_grey_dilation_and_erosion(digits, k):
    square = np.ones((k, k), np.uint8)
    wide = np.stack([cv2.dilate(im, square) for im in digits])
    fine = np.stack([cv2.erode(im, square) for im in digits])
    assert np.array_equal(pen(_float(digits), k).numpy()[..., 0], wide)
    assert np.array_equal(pen(_float(digits), -k).numpy()[..., 0], fine)


def test_even_pen_is_the_max_over_the_pixel_and_its_lower_right_neighbours(digits):
    padded = np.pad(digits, ((0, 0), (0, 1), (0, 1)))  # SAME padding of a 2x2 window: one row and column after
    ref = np.maximum.reduce([padded[:, i:i + 28, j:j + 28] for i in (0, 1) for j in (0, 1)])
    assert np.array_equal(pen(_float(digits), 2).numpy()[..., 0], ref)


@pytest.mark.parametrize("side", [7, 14])
def test_scan_is_an_area_downsample_then_bilinear_upsample(digits, side):
    ref = np.stack([cv2.resize(cv2.resize(im.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA),
                               (28, 28), interpolation=cv2.INTER_LINEAR) for im in digits])
    got = scan(_float(digits), side).numpy()[..., 0]
    assert np.abs(got - ref).max() < 1.0  # float rounding apart, the same picture
    # a low-resolution scan spreads a thin stroke's ink: peaks drop on average
    assert got.max(axis=(1, 2)).mean() < digits.max(axis=(1, 2)).mean()


def _batches(ds, n):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def test_none_is_identity_and_labels_never_change(digits):
    labels = np.arange(16, dtype=np.uint8) % 10
    ds = tf.data.Dataset.from_tensors((_float(digits), tf.constant(labels))).repeat()
    assert vary_pen_and_scan(ds, None, 0) is ds
    for x, y in _batches(vary_pen_and_scan(ds, PenScan(), 0), 5):
        assert np.array_equal(y, labels) and x.shape == (16, 28, 28, 1)


def test_shares_decide_how_many_images_change(digits):
    ds = tf.data.Dataset.from_tensors((_float(digits), tf.zeros(16, tf.uint8))).repeat()
    untouched = PenScan(pen_share=0.0, scan_share=0.0)
    assert all(np.array_equal(x[..., 0], digits) for x, _ in _batches(vary_pen_and_scan(ds, untouched, 0), 3))
    all_wide = PenScan(pen_share=1.0, pens=(3,), scan_share=0.0)
    wide = pen(_float(digits), 3).numpy()
    assert all(np.array_equal(x, wide) for x, _ in _batches(vary_pen_and_scan(ds, all_wide, 0), 3))
    half = PenScan(pen_share=0.5, pens=(3,), scan_share=0.0)
    changed = [np.any(x != digits[..., None], axis=(1, 2, 3)).mean()
               for x, _ in _batches(vary_pen_and_scan(ds, half, 0), 40)]
    assert 0.35 < np.mean(changed) < 0.65  # 640 draws of a 0.5 coin


def test_training_stream_with_pen_and_scan_keeps_shapes_and_ink_range():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (300, 28, 28), np.uint8)
    y = rng.integers(0, 10, 300).astype(np.uint8)
    xb, yb = next(iter(train_dataset(x, y, batch_size=64, mix=0.0, pen_scan=PenScan(), seed=1)))
    assert xb.shape == (64, 28, 28, 1) and yb.shape == (64,)
    assert 0.0 <= float(tf.reduce_min(xb)) and float(tf.reduce_max(xb)) <= 255.0


@pytest.mark.parametrize("kw", [{"pen_share": 1.5}, {"pens": (1,)}, {"pens": ()}, {"sides": (28,)}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(HardmineError, match="PenScan"):
        PenScan(**kw)
