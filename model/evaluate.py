"""Score a model: MNIST accuracy, per class, confusion matrix, accuracy per jitter.

    hardmine evaluate seed.keras --mnist mnist.npz --json

:func:`evaluate` returns a flat-ish dict of plain Python numbers (JSON-ready):
``val_acc``, ``mnist_test_acc`` (None when the source has no labelled test
set, e.g. Kaggle's train.csv), ``per_class_acc`` and ``confusion`` on the test
split (validation split if there is no test split), and, given the fixed
synthetic evaluation set (``miner.eval_set()``), ``synth_acc`` and
``jitter_acc`` keyed by jitter radius, and given a real-digit robustness suite
(:mod:`model.robustness`), ``robustness``: its accuracies per variant and class.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

PREDICT_BATCH = 1024  # images per forward pass: ~3 MB of float32 input


def as_model_input(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 28, 28, 1) float32 raw 0..255, what every preset takes."""
    x = np.asarray(images)
    return x.reshape(len(x), 28, 28, 1).astype(np.float32)


def predict_proba(model, images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 10) float32 class probabilities. ``model``: keras.Model or a .keras path.

    Blocks of PREDICT_BATCH through mining's compiled forward pass (``model.infer.in_blocks``):
    the same bits as Keras' ``predict`` at that batch size, without its autotuned tf.data
    pipeline (whose teardown stalled training) or its per-batch overhead.
    """
    import keras
    from model.infer import in_blocks

    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model)
    if len(images) == 0:
        return np.zeros((0, 10), np.float32)
    return in_blocks(model, images, PREDICT_BATCH)[0]


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(10, 10) int64 counts: row = true digit, column = predicted digit."""
    out = np.zeros((10, 10), np.int64)
    np.add.at(out, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return out


def _acc(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    return float(np.mean(y_true == y_pred)) if len(y_true) else None


def jitter_accuracy(y_true: np.ndarray, y_pred: np.ndarray, jitter: np.ndarray) -> dict[str, float]:
    """Accuracy per jitter radius, keyed by the radius as text (``"0.5"``), in increasing order."""
    jitter = np.round(np.asarray(jitter, np.float64), 3)  # records store float32: 0.5 stays 0.5
    return {f"{j:g}": float(np.mean(y_true[jitter == j] == y_pred[jitter == j])) for j in np.unique(jitter)}


def predict_labels(model, images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N,) int64 predicted digits."""
    return predict_proba(model, images).argmax(1)


def evaluate(model, data, synthetic: tuple[np.ndarray, np.ndarray] | None = None,
             suite=None) -> dict[str, Any]:
    """Scores of ``model`` on ``data`` (a :class:`model.data.Mnist`), on the synthetic set
    and on the robustness suite.

    ``synthetic``: ``(images (N, 28, 28) uint8, records)`` where ``records`` has
    fields ``label`` and ``jitter`` (``miner.eval_set()``). ``suite``: a
    :class:`model.robustness.SuiteSet` (``robustness.for_split(data, "test")``).
    """
    val_pred = predict_proba(model, data.x_val).argmax(1)
    test_pred = predict_proba(model, data.x_test).argmax(1)
    has_test = len(data.y_test) > 0
    y_cm, p_cm = (data.y_test, test_pred) if has_test else (data.y_val, val_pred)
    cm = confusion(y_cm, p_cm)
    per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
    scores: dict[str, Any] = {
        "val_acc": _acc(data.y_val, val_pred),
        "mnist_test_acc": _acc(data.y_test, test_pred),
        "n_val": int(len(data.y_val)),
        "n_test": int(len(data.y_test)),
        "class_split": "test" if has_test else "val",
        "per_class_acc": {str(d): float(a) for d, a in enumerate(per_class)},
        "confusion": cm.tolist(),
    }
    if synthetic is not None:
        images, records = synthetic
        labels = np.asarray(records["label"])
        pred = predict_proba(model, images).argmax(1)
        scores["synth_acc"] = _acc(labels, pred)
        scores["n_synth"] = int(len(labels))
        scores["jitter_acc"] = jitter_accuracy(labels, pred, records["jitter"])
    if suite is not None:
        from model.robustness import evaluate_suite
        scores["robustness"] = evaluate_suite(lambda x: predict_labels(model, x), suite)
    return scores
