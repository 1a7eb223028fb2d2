"""The real-digit robustness suite: transformations, scoring, the table."""

from __future__ import annotations

import numpy as np
import pytest

from model import robustness as R


def _digits(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) uint8 bars of ink: a vertical stroke 3 px wide, label = i % 10."""
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 6:22, 12:15] = 255
    return x, (np.arange(n) % 10).astype(np.uint8)


def _com(im: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:28, 0:28]
    m = im.astype(np.float64)
    return np.array([(ys * m).sum(), (xs * m).sum()]) / m.sum()


def test_every_variant_is_reproducible_and_keeps_shape_and_dtype():
    x, _ = _digits()
    for i, v in enumerate(R.SUITE):
        a, b = R.transform(x, v, i), R.transform(x, v, i)
        assert a.shape == x.shape and a.dtype == np.uint8, v.name
        assert np.array_equal(a, b), v.name
        assert not np.array_equal(a, x), f"{v.name} changed nothing"


def test_variants_do_what_their_names_say():
    x, _ = _digits(4)
    by = {v.name: (i, v) for i, v in enumerate(R.SUITE)}

    def t(name):
        i, v = by[name]
        return R.transform(x, v, i).astype(np.int64)

    ink = x.astype(np.int64).sum()
    assert t("thick3").sum() > ink and t("thick5").sum() > t("thick3").sum()
    assert t("thin2").sum() < ink
    assert (t("lowres8") > 0).sum() > (x > 0).sum()  # a coarse scan smears ink over more pixels
    assert t("scale0.6").sum() < ink < t("scale1.3").sum()
    shift = [np.linalg.norm(_com(im) - _com(x[0])) for im in t("translate4")]
    assert np.allclose(shift, 4, atol=0.3)
    # shear: the top and the bottom of a vertical bar move in opposite directions
    top, bottom = t("shear0.4")[0, 7], t("shear0.4")[0, 20]
    assert abs(np.argmax(top) - np.argmax(bottom)) >= 4


def test_suite_has_unique_names_and_known_kinds():
    assert len(set(R.NAMES)) == len(R.SUITE)
    assert all(v.kind in R.KINDS for v in R.SUITE)


def test_score_counts_per_variant_class_and_mean():
    x, y = _digits(20)
    suite = R.build(x, y, "val")
    pred = np.tile(y, (len(R.SUITE), 1)).astype(np.int64)
    pred[0, y == 3] = 5  # variant 0 misreads every 3
    s = R.score(pred, suite)
    assert s["per_variant"][R.NAMES[0]] == pytest.approx(18 / 20)
    assert s["matrix"][0][3] == 0.0 and s["matrix"][1][3] == 1.0
    assert s["per_class"]["3"] == pytest.approx((len(R.SUITE) - 1) / len(R.SUITE))
    assert s["worst_class"] == 3
    assert s["mean"] == pytest.approx(1 - 0.1 / len(R.SUITE))
    cols = R.summary_columns(s)
    assert cols["rob_mean"] == s["mean"] and cols["rob_c3"] == s["per_class"]["3"]
    assert cols[f"rob_{R.NAMES[0]}"] == pytest.approx(0.9)


def test_absent_class_is_none_not_zero():
    x, y = _digits(20)
    keep = y != 7
    suite = R.build(x[keep], y[keep], "test")
    s = R.score(np.tile(suite.labels, (len(R.SUITE), 1)), suite)
    assert s["per_class"]["7"] is None and s["mean"] == 1.0
    assert "    -" in R.table_lines(s)[2]


def test_evaluate_suite_calls_predict_once_on_every_image():
    x, y = _digits(10)
    suite = R.build(x, y, "val", limit=10)
    calls = []

    def predict(images):
        calls.append(images.shape)
        return np.zeros(len(images), np.int64)  # a model that always says 0

    s = R.evaluate_suite(predict, suite)
    assert calls == [(len(R.SUITE) * 10, 28, 28)]
    assert s["per_class"]["0"] == 1.0 and s["per_class"]["1"] == 0.0
    assert s["mean"] == pytest.approx(0.1)
