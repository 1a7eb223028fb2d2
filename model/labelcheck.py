"""The label guard's decision: does a mined digit still read as its label?

Two opinions, both from the reader (``model/reader.py``, a CNN trained on MNIST
alone that never sees the bank):

* its softmax: the probability it gives the digit's label (``reader_p``);
* deep k-nearest neighbours (Papernot & McDaniel 2018, "Deep k-Nearest
  Neighbors"): the digit is embedded by two of the reader's layers (the
  flattened convolution features and the dense layer before the softmax) and
  compared with a fixed reference set of real MNIST training digits embedded
  the same way; ``agreement`` is the share of its ``k`` nearest reference
  digits, pooled over both layers, that carry its label. A scribble the
  softmax must still call *something* sits among real digits of mixed
  classes, so its agreement is low even when its softmax is confident.

A digit is kept only when both say so: ``reader_p >= threshold`` and
``agreement >= min_agreement`` (a majority of neighbours). Measured against
240 mined digits labelled by eye in ``docs/results/guard`` (``python
bench/label_guard.py score docs/results/guard``); ``docs/model.md`` has the
figures.

    ref = reference(reader, mnist)                 # once per reader: 1,000 digits per class
    v = check(reader, ref, images, labels)          # Verdict: reader_p, agreement, ambiguous
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from miner.config import require

K = 50                # neighbours per layer
PER_CLASS = 1000      # reference digits per class drawn from MNIST train
REFERENCE_SEED = 0    # which ones: fixed, so a reader always has the same reference
MIN_AGREEMENT = 0.5   # keep a digit only if most of its neighbours carry its label
CHUNK = 512           # queries per distance block: CHUNK x reference float32 at a time


@dataclass(frozen=True)
class Reference:
    """Real digits embedded by the reader: one (R, d_l) float32 array per layer, (R,) labels."""
    layers: tuple[np.ndarray, ...]
    labels: np.ndarray


@dataclass(frozen=True)
class Verdict:
    reader_p: np.ndarray    # (N,) float32: the reader's probability of the label
    agreement: np.ndarray   # (N,) float64 in [0, 1]: share of deep-kNN neighbours with the label
    ambiguous: np.ndarray   # (N,) bool: quarantine (reader_p < threshold or agreement < min_agreement)


def knn_indices(ref: np.ndarray, query: np.ndarray, k: int, chunk: int = CHUNK) -> np.ndarray:
    """(Q, k) int64: indices into ``ref`` (R, d) of each query's k nearest rows by Euclidean
    distance, nearest first. Squared distances as |q|^2 - 2 q.r + |r|^2 in float64 blocks of
    ``chunk`` queries; ties go to the lower index."""
    ref = np.asarray(ref, np.float64)
    query = np.asarray(query, np.float64)
    require(ref.ndim == 2 and query.ndim == 2 and ref.shape[1] == query.shape[1],
            f"knn: reference {ref.shape} and queries {query.shape} must be (R, d) and (Q, d)")
    require(1 <= k <= len(ref), f"knn: k={k} must be in 1..{len(ref)} (reference size)")
    out = np.empty((len(query), k), np.int64)
    r2 = np.einsum("ij,ij->i", ref, ref)
    for s in range(0, len(query), chunk):
        q = query[s:s + chunk]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] - 2 * (q @ ref.T) + r2[None, :]
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        # nearest first; ties by index (lexsort: last key is primary)
        rows = np.arange(len(q))[:, None]
        order = np.lexsort((part, d2[rows, part]), axis=1)
        out[s:s + len(q)] = part[rows, order]
    return out


def agreement(ref: Reference, layers: tuple[np.ndarray, ...], labels: np.ndarray, k: int = K) -> np.ndarray:
    """(N,) share of the k nearest reference digits, in every layer pooled, whose label is ``labels``."""
    labels = np.asarray(labels, np.int64)
    require(len(layers) == len(ref.layers), f"agreement: {len(layers)} layers, reference has {len(ref.layers)}")
    if len(labels) == 0:
        return np.zeros(0)
    hits = sum((ref.labels[knn_indices(r, q, k)] == labels[:, None]).sum(1) for r, q in zip(ref.layers, layers))
    return hits / (k * len(layers))


def decide(reader_p: np.ndarray, agree: np.ndarray, threshold: float,
           min_agreement: float = MIN_AGREEMENT) -> np.ndarray:
    """(N,) bool ambiguous: the reader's probability of the label is below ``threshold``
    or fewer than ``min_agreement`` of its neighbours carry the label."""
    return (np.asarray(reader_p) < threshold) | (np.asarray(agree) < min_agreement)


READER_REMEDY = "give a reader made by `python -m model.reader`"


def embedding_layer(reader, where: str, remedy: str = READER_REMEDY):
    """The Flatten layer (the last) whose output the label check compares digits in; ``where``
    names the reader in the error when it has none."""
    import keras

    flat = [layer for layer in reader.layers if isinstance(layer, keras.layers.Flatten)]
    require(len(flat) >= 1, f"{where} has no Flatten layer, so the label guard has no features to compare "
            f"digits in; {remedy}")
    return flat[-1]


@functools.lru_cache(maxsize=2)  # one per reader: a new Model would be rebuilt and its predict retraced each round
def embedder(reader):
    """A keras Model: raw (N, 28, 28, 1) pixels -> [flattened conv features, penultimate
    features, probabilities] of ``reader`` (a model.cnn preset with a Flatten layer)."""
    import keras

    flat = embedding_layer(reader, f"label check: reader {reader.name}")
    head = reader.layers[-1]
    return keras.Model(reader.inputs, [flat.output, head.input, reader.output])


def embed(reader, images: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """(N, 28, 28) uint8 -> ((flat, penultimate) float32 features, (N, 10) probabilities)."""
    from model.evaluate import PREDICT_BATCH
    from model.infer import in_blocks

    flat, pen, probs = in_blocks(embedder(reader), images, PREDICT_BATCH)  # as model.evaluate.predict_proba
    return (flat, pen), probs


def reference_rows(labels: np.ndarray, per_class: int = PER_CLASS, seed: int = REFERENCE_SEED) -> np.ndarray:
    """Sorted indices of ``per_class`` digits of each class (all of a class that has fewer)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    rows = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)]
    return np.sort(np.concatenate(rows))


def reference(reader, data, per_class: int = PER_CLASS, seed: int = REFERENCE_SEED) -> Reference:
    """Embed ``per_class`` MNIST training digits of each class (``data``: model.data.Mnist)."""
    rows = reference_rows(data.y_train, per_class, seed)
    layers, _ = embed(reader, data.x_train[rows])
    return Reference(layers, np.asarray(data.y_train[rows], np.int64))


def check(reader, ref: Reference, images: np.ndarray, labels: np.ndarray, threshold: float,
          min_agreement: float = MIN_AGREEMENT, k: int = K) -> Verdict:
    """The guard on mined digits: the reader's softmax and its deep-kNN agreement."""
    labels = np.asarray(labels, np.int64)
    layers, probs = embed(reader, images)
    p = probs[np.arange(len(labels)), labels] if len(labels) else np.zeros(0, np.float32)
    agree = agreement(ref, layers, labels, min(k, len(ref.labels)))  # a tiny MNIST has fewer digits than k
    return Verdict(p, agree, decide(p, agree, threshold, min_agreement))
