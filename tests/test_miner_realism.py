"""Realistic rendering: old records unchanged, determinism, MNIST-like geometry; style features on known images."""

import hashlib

import numpy as np
import pytest

from miner import GeneratorConfig, generate, regenerate
from miner.config import HardmineError
from miner.generator import NORMALIZED, REALISTIC
from miner.realism import FEATURES, features, stroke_widths

F = {name: k for k, name in enumerate(FEATURES)}
LABELS = np.tile(np.arange(10), 30)
JITTERS = np.tile([0.0, 0.5, 1.0, 2.0, 3.0, 5.0], 50)


@pytest.mark.parametrize("normalize,digest", [
    (False, "00467a19ba45428ec4e206720c511ad814c4ae941679e985f3924a8040091421"),
    (True, "e622fa6c76a4cb3ee4b0d8c5683dda3e40b68a018a3de4131cf9806daf49962b"),
])
def test_records_without_the_realistic_bit_draw_as_before_it_existed(normalize, digest):
    # digests of images + records taken with the generator before the realistic rendering was added
    images, rec = generate(LABELS, JITTERS, 2024, config=GeneratorConfig(normalize=normalize))
    assert hashlib.sha256(images.tobytes() + rec.tobytes()).hexdigest() == digest


def test_realistic_images_regenerate_from_records_and_depend_only_on_seed_and_index():
    cfg = GeneratorConfig(realistic=True)
    images, rec = generate(LABELS, JITTERS, 11, config=cfg)
    assert (rec["variant"] & REALISTIC).all() and not (rec["variant"] & NORMALIZED).any()
    part, _ = generate(LABELS[50:90], JITTERS[50:90], 11, start=50, config=cfg)
    assert np.array_equal(part, images[50:90])
    raw, raw_rec = generate(LABELS, JITTERS, 11)
    assert (raw != images).any(axis=(1, 2)).all()
    mixed = np.concatenate([rec[::2], raw_rec[1::2]])
    assert np.array_equal(regenerate(mixed), np.concatenate([images[::2], raw[1::2]]))


def test_realistic_digits_fit_mnist_geometry():
    images, rec = generate(LABELS, 1.0, 12, config=GeneratorConfig(realistic=True))
    f = features(images)
    assert (f[:, F["height"]].max() <= 21) and np.median(np.maximum(f[:, F["height"]], f[:, F["bwidth"]])) >= 19
    off = np.abs(f[:, [F["com_row"], F["com_col"]]] - 14)  # whole-pixel shift: within half a pixel
    assert (off <= 0.52).mean() > 0.99 and off.max() < 1.0  # (up to rounding to uint8, or ink clipped at the frame)
    top = images[images >= 250]  # full ink spread over 252..255 like MNIST cores (a single 255 is a tell)
    assert set(np.unique(top).tolist()) <= set(range(250, 256)) and (top == 255).mean() < 0.05  # MNIST: 0.09
    slants = f[:, F["slant"]]
    assert slants.std() > 0.15 and 0.0 < slants.mean() < 0.25  # MNIST: mean 0.10, 10-90% -0.23..0.44


def test_normalize_and_realistic_together_are_refused():
    with pytest.raises(HardmineError, match="normalize and realistic"):
        GeneratorConfig(normalize=True, realistic=True)


def _bar(rows: int, length: int = 15, value: int = 255) -> np.ndarray:
    img = np.zeros((28, 28), np.uint8)
    img[10:10 + rows, 5:5 + length] = value
    return img


@pytest.mark.parametrize("rows", [1, 3, 5])
def test_width_of_a_straight_bar_is_its_thickness(rows):
    w = stroke_widths(_bar(rows))
    assert np.median(w) == rows
    f = features(_bar(rows))[0]
    assert f[F["width"]] == rows and f[F["width_spread"]] == 0.0


def test_box_ink_softness_and_centre_of_a_known_image():
    img = _bar(3, 15)
    img[10, 5:20] = 100  # a soft top edge: 15 of the 45 inked pixels
    f = features(img)[0]
    assert f[F["soft"]] == pytest.approx(15 / 45)
    assert f[F["ink"]] == pytest.approx((30 * 255 + 15 * 100) / 255)
    assert (f[F["height"]], f[F["bwidth"]], f[F["aspect"]]) == (3, 15, 5.0)
    assert f[F["com_col"]] == pytest.approx(12.0)  # columns 5..19, symmetric
    assert f[F["slant"]] == pytest.approx(0.0, abs=1e-12)


def test_slant_of_a_line_leaning_right_is_its_columns_per_row():
    img = np.zeros((28, 28), np.uint8)
    for r in range(4, 24):  # top right to bottom left: half a column per row
        img[r, int(round(20 - 0.5 * (r - 4)))] = 255
    assert features(img)[0, F["slant"]] == pytest.approx(0.5, abs=0.02)
    assert features(img[:, ::-1])[0, F["slant"]] == pytest.approx(-0.5, abs=0.02)


def test_an_empty_image_has_undefined_features():
    assert np.isnan(features(np.zeros((28, 28), np.uint8))).all()
