"""Scores and plots against a fake model whose answers are known in advance."""

from __future__ import annotations

import numpy as np

from model import plots
from model.data import Mnist
from model.evaluate import confusion, evaluate, jitter_accuracy


class PixelModel:
    """Predicts the digit written in pixel (0, 0): one-hot of ``x[:, 0, 0, 0] % 10``, called
    as a Keras model is (inside predict_proba's compiled forward pass)."""

    def __call__(self, x, training=False):
        import tensorflow as tf
        assert x.dtype == tf.float32 and tuple(x.shape[1:]) == (28, 28, 1)  # what predict_proba must feed
        assert training is False
        return tf.one_hot(tf.cast(x[:, 0, 0, 0], tf.int32) % 10, 10)


def images_saying(digits) -> np.ndarray:
    x = np.zeros((len(digits), 28, 28), np.uint8)
    x[:, 0, 0] = digits
    return x


def test_confusion_counts_rows_as_truth():
    cm = confusion(np.array([1, 1, 2, 9]), np.array([1, 7, 2, 9]))
    assert cm.sum() == 4 and cm[1, 1] == 1 and cm[1, 7] == 1 and cm[7, 1] == 0 and cm.trace() == 3


def test_jitter_accuracy_groups_float32_radii():
    jitter = np.array([0, 0, 0.5, 0.5, 0.5, 5], np.float32)
    got = jitter_accuracy(np.zeros(6), np.array([0, 1, 0, 0, 1, 1]), jitter)
    assert got == {"0": 0.5, "0.5": 2 / 3, "5": 0.0}


def test_evaluate_against_known_answers():
    y_test = np.arange(20, dtype=np.uint8) % 10
    said = y_test.copy()
    said[[3, 13]] = 8  # two 3s read as 8
    data = Mnist(x_train=images_saying([0]), y_train=np.zeros(1, np.uint8),
                 x_val=images_saying([4, 4, 5, 6]), y_val=np.array([4, 4, 5, 5], np.uint8),
                 x_test=images_saying(said), y_test=y_test, source="fake")
    records = np.zeros(4, dtype=[("label", "u1"), ("jitter", "f4")])
    records["label"], records["jitter"] = [2, 2, 7, 7], [0, 0, 3, 3]
    scores = evaluate(PixelModel(), data, synthetic=(images_saying([2, 2, 7, 1]), records))
    assert scores["val_acc"] == 0.75 and scores["mnist_test_acc"] == 0.9
    assert scores["per_class_acc"]["3"] == 0.0 and scores["per_class_acc"]["8"] == 1.0
    assert scores["confusion"][3][8] == 2 and scores["class_split"] == "test"
    assert scores["synth_acc"] == 0.75 and scores["jitter_acc"] == {"0": 1.0, "3": 0.5}


def test_evaluate_without_test_split_uses_validation_for_classes():
    data = Mnist(images_saying([0]), np.zeros(1, np.uint8), images_saying([1, 2]), np.array([1, 3], np.uint8),
                 images_saying([])[:0], np.zeros(0, np.uint8), source="kaggle")
    scores = evaluate(PixelModel(), data)
    assert scores["mnist_test_acc"] is None and scores["class_split"] == "val"
    assert scores["val_acc"] == 0.5 and sum(map(sum, scores["confusion"])) == 2 and "synth_acc" not in scores


def test_plots_write_png_files(tmp_path):
    written = [
        plots.confusion_png(np.eye(10, dtype=int) * 5, tmp_path / "cm.png"),
        plots.curves_png({"loss": [1.0, 0.5], "val_loss": [0.9, 0.6], "accuracy": [0.8, 0.9],
                          "val_accuracy": [0.85, 0.95]}, tmp_path / "sub" / "curves.png"),
        plots.jitter_png({"0": 0.99, "0.5": 0.98, "5": 0.6}, tmp_path / "jitter.png"),
    ]
    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
