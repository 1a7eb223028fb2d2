"""The label guard's decision (model/labelcheck.py) on tiny data, and the reader it asks.

The kNN kernel is checked against a slow, obviously correct one (every
distance, then a sort); the decision on tiny hand-made data; the reader's
training is checked to be reproducible (same seed, same weights). Everything
is tiny; the TensorFlow tests pay its import once.
"""

from __future__ import annotations

import numpy as np
import pytest

from miner.config import HardmineError
from model.labelcheck import Reference, agreement, decide, knn_indices, reference_rows
from model.reader import ReaderConfig


def knn_slow(ref: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """For each query: every Euclidean distance, sorted by (distance, index), first k."""
    out = []
    for q in query:
        d = [(float(np.sqrt(np.sum((r.astype(np.float64) - q) ** 2))), i) for i, r in enumerate(ref)]
        out.append([i for _, i in sorted(d)[:k]])
    return np.array(out, np.int64).reshape(len(query), k)


@pytest.mark.parametrize("n_ref,n_query,dim,k,chunk", [
    (50, 13, 3, 1, 512), (50, 13, 3, 7, 4), (200, 40, 16, 25, 7), (30, 5, 1, 30, 2), (64, 9, 128, 10, 3),
])
def test_knn_matches_the_slow_reference(n_ref, n_query, dim, k, chunk):
    rng = np.random.default_rng(n_ref + dim)
    ref = rng.normal(size=(n_ref, dim)).astype(np.float32)
    query = rng.normal(size=(n_query, dim)).astype(np.float32)
    np.testing.assert_array_equal(knn_indices(ref, query, k, chunk=chunk), knn_slow(ref, query, k))


def test_knn_breaks_ties_by_index_and_finds_exact_copies():
    ref = np.array([[0.0], [1.0], [1.0], [-1.0], [3.0]])
    query = np.array([[1.0], [0.0]])
    # query 1.0: itself twice (1, 2), then 0.0 (0), then 3.0 and -1.0 (both 2 away: 3 before 4)
    np.testing.assert_array_equal(knn_indices(ref, query, 5), [[1, 2, 0, 3, 4], [0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(knn_indices(ref, query, 5), knn_slow(ref, query, 5))


def test_knn_refuses_bad_shapes_and_k():
    ref = np.zeros((4, 2))
    for bad in (lambda: knn_indices(ref, np.zeros((3, 3)), 1), lambda: knn_indices(ref, np.zeros((3, 2)), 5),
                lambda: knn_indices(ref, np.zeros((3, 2)), 0)):
        with pytest.raises(HardmineError):
            bad()


def test_agreement_pools_the_layers_on_tiny_data():
    # layer 1: classes 0 at x<0, 1 at x>0; layer 2: the same digits, all classes mixed up
    labels = np.array([0, 0, 0, 1, 1, 1])
    l1 = np.array([[-3.0], [-2.0], [-1.0], [1.0], [2.0], [3.0]])
    l2 = np.array([[0.0], [10.0], [20.0], [1.0], [11.0], [21.0]])
    ref = Reference((l1, l2), labels)
    # a digit labelled 0 at x=-2 in layer 1: its 3 neighbours are 0s; at 0.5 in layer 2: rows
    # 0 and 3 (both 0.5 away, labels 0, 1) then row 1 (9.5 away, label 0): 2 of 3
    agree = agreement(ref, (np.array([[-2.0]]), np.array([[0.5]])), np.array([0]), k=3)
    np.testing.assert_allclose(agree, [(3 + 2) / 6])
    # the same point labelled 1: the complement
    np.testing.assert_allclose(agreement(ref, (np.array([[-2.0]]), np.array([[0.5]])), np.array([1]), k=3), [1 / 6])
    assert agreement(ref, (np.zeros((0, 1)), np.zeros((0, 1))), np.zeros(0, int), k=3).shape == (0,)


def test_decide_needs_both_the_softmax_and_the_neighbours():
    p = np.array([0.9, 0.9, 0.2, 0.2, 0.5])
    agree = np.array([0.8, 0.3, 0.8, 0.3, 0.5])
    np.testing.assert_array_equal(decide(p, agree, threshold=0.5), [False, True, True, True, False])
    np.testing.assert_array_equal(decide(p, agree, threshold=0.5, min_agreement=0.0), [False, False, True, True, False])


def test_reference_rows_are_per_class_fixed_and_sorted():
    labels = np.repeat(np.arange(10), [5, 3, 8, 8, 8, 8, 8, 8, 8, 1])
    rows = reference_rows(labels, per_class=4, seed=0)
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(np.bincount(labels[rows], minlength=10), [4, 3, 4, 4, 4, 4, 4, 4, 4, 1])
    np.testing.assert_array_equal(rows, reference_rows(labels, per_class=4, seed=0))


keras = pytest.importorskip("keras")  # the tests below need TensorFlow


def tiny_mnist(n: int = 200):
    from model.data import Mnist
    rng = np.random.default_rng(0)
    y = (np.arange(n) % 10).astype(np.uint8)
    x = np.zeros((n, 28, 28), np.uint8)
    for i, c in enumerate(y):  # a bar whose row is the class: learnable in one epoch
        x[i, 2 + 2 * c:4 + 2 * c, 4:24] = 255
        x[i] = np.maximum(x[i], rng.integers(0, 40, (28, 28)))
    return Mnist(x, y, x[:50], y[:50], x[:0], y[:0], source="tiny")


def test_reader_trains_reproducibly_and_check_runs_on_it(tmp_path):
    from model.labelcheck import check, reference
    from model.reader import train_reader
    data = tiny_mnist()
    cfg = ReaderConfig(epochs=1)
    a = train_reader(data, tmp_path / "a.keras", cfg, log=lambda *_: None)
    b = train_reader(data, tmp_path / "b.keras", cfg, log=lambda *_: None)
    ra, rb = (keras.models.load_model(tmp_path / f"{n}.keras") for n in "ab")
    for wa, wb in zip(ra.get_weights(), rb.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a["val_acc"] == b["val_acc"]
    ref = reference(ra, data, per_class=5)
    assert [layer.shape for layer in ref.layers] == [(50, 1152), (50, 128)]
    v = check(ra, ref, data.x_val[:12], data.y_val[:12], threshold=0.5, k=5)
    assert v.reader_p.shape == v.agreement.shape == v.ambiguous.shape == (12,)
    np.testing.assert_array_equal(v.ambiguous, decide(v.reader_p, v.agreement, 0.5))
    empty = check(ra, ref, data.x_val[:0], data.y_val[:0], threshold=0.5, k=5)
    assert empty.ambiguous.shape == (0,)


def test_embed_gives_keras_predicts_features_in_blocks(monkeypatch):
    """The reader's features and probabilities through the compiled forward pass, blockwise, are
    those of Keras' predict of the same embedding model (a last partial block included)."""
    import model.evaluate
    from model.cnn import build_model
    from model.labelcheck import embed, embedder
    monkeypatch.setattr(model.evaluate, "PREDICT_BATCH", 64)  # 150 images: blocks of 64, 64, 22
    reader = build_model("seed")
    images = tiny_mnist(150).x_train
    (flat, pen), probs = embed(reader, images)
    want = embedder(reader).predict(images[..., None].astype(np.float32), batch_size=64, verbose=0)
    for got, ref in zip((flat, pen, probs), want):
        assert got.dtype == np.float32 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_label_guard_bench_keeps_the_sampled_pixels_losslessly(tmp_path):
    import importlib.util
    from pathlib import Path

    import cv2
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("label_guard", root / "bench" / "label_guard.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    images = np.random.default_rng(0).integers(0, 256, (47, 28, 28), np.uint8)
    cv2.imwrite(str(tmp_path / "images.png"), bench.tile(images, bench.IMAGE_COLS))
    back = bench.untile(bench.cv2_read(tmp_path / "images.png"), len(images), bench.IMAGE_COLS)
    np.testing.assert_array_equal(back, images)
    clean = np.array([True, True, False, False])
    assert bench.auc(clean, np.array([0.9, 0.5, 0.5, 0.1])) == 0.875  # 3 wins, 1 tie of 4 pairs
