"""The real-digit robustness suite: MNIST digits as other writers and scanners make them.

    hardmine evaluate model.keras --mnist mnist.npz          # the suite's table on the test split
    python -c "from model.robustness import SUITE; print([t.name for t in SUITE])"

A model trained on MNIST meets real handwriting that differs from it: thicker
or thinner pens, low-resolution scans, blur, slant, rotation, other sizes and
positions, wobbly strokes. The suite makes such digits from real MNIST digits
only -- never from the generator or the bank, so mining cannot learn its way
into it -- with each transformation at a fixed, reproducible strength
(:data:`SUITE`, read from ``model/suite.toml``: one line per variant).
Accuracy is reported per variant, per class (pooled over variants) and per
(variant, class).

The validation split is for decisions (the promotion guard), the test split for
reports (``hardmine evaluate``, ``bench/experiment.py``). The per-image random
parts (direction of a rotation, an elastic field) come from a generator seeded
by (:data:`SUITE_SEED`, variant index), so the suite is the same images in
every process. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

import cv2
import numpy as np

SUITE_SEED = 20031  # Simard et al. 2003: the elastic distortions' paper
N_CLASSES = 10
SIZE = 28


@dataclass(frozen=True)
class Variant:
    """One transformation at one strength."""

    name: str        # column name in metrics.csv (``rob_<name>``) and in reports
    kind: str        # key of KINDS
    strength: float  # the kind's parameter (see KINDS)
    what: str        # one line for reports


# -- the kinds: (N, 28, 28) uint8, strength, rng -> (N, 28, 28) uint8 -----------------------

def _thick(x: np.ndarray, k: float, rng: np.random.Generator) -> np.ndarray:
    """Grey-level dilation with a k x k ellipse: a wider pen."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(k), int(k)))
    return np.stack([cv2.dilate(im, kernel) for im in x]) if len(x) else x


def _thin(x: np.ndarray, k: float, rng: np.random.Generator) -> np.ndarray:
    """Grey-level erosion with a k x k square: a finer pen (2x2 keeps MNIST's ~2-3 px strokes)."""
    kernel = np.ones((int(k), int(k)), np.uint8)
    return np.stack([cv2.erode(im, kernel) for im in x]) if len(x) else x


def _lowres(x: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    """Scanned at side x side pixels (area average), shown at 28 x 28 again (bilinear)."""
    s = int(side)
    return np.stack([cv2.resize(cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA), (SIZE, SIZE),
                                interpolation=cv2.INTER_LINEAR) for im in x]) if len(x) else x


def _blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Out of focus: Gaussian blur of standard deviation ``sigma`` pixels."""
    return np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in x]) if len(x) else x


def _warp(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Apply one 2x3 affine matrix per image (bilinear, black outside)."""
    return np.stack([cv2.warpAffine(im, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
                     for im, m in zip(x, matrices)]) if len(x) else x


def _signs(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=n)


def _shear(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """Slanted writing: x' = x + s * (y - centre), leaning left or right at random."""
    c = (SIZE - 1) / 2
    m = np.zeros((len(x), 2, 3), np.float64)
    k = s * _signs(len(x), rng)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = 1.0, k, -k * c
    m[:, 1, 1] = 1.0
    return _warp(x, m)


def _rotate(x: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotated by ``degrees`` about the centre, clockwise or anticlockwise at random."""
    c = ((SIZE - 1) / 2, (SIZE - 1) / 2)
    m = np.stack([cv2.getRotationMatrix2D(c, float(degrees * sign), 1.0)
                  for sign in _signs(len(x), rng)]) if len(x) else np.zeros((0, 2, 3))
    return _warp(x, m)


def _scale(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Written smaller or larger: scaled by ``factor`` about the centre."""
    c = ((SIZE - 1) / 2, (SIZE - 1) / 2)
    m = np.repeat(cv2.getRotationMatrix2D(c, 0.0, float(factor))[None], len(x), axis=0)
    return _warp(x, m)


def _translate(x: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Off-centre: moved ``pixels`` in a random direction."""
    angle = rng.uniform(0, 2 * np.pi, len(x))
    m = np.zeros((len(x), 2, 3), np.float64)
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    m[:, 0, 2], m[:, 1, 2] = pixels * np.cos(angle), pixels * np.sin(angle)
    return _warp(x, m)


ELASTIC_SIGMA = 4.0  # Simard et al.'s smoothing of the displacement field, pixels


_GRID_Y, _GRID_X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)  # (28, 28) pixel coordinates


def elastic_one(im: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """One (28, 28) digit under Simard et al.'s (2003) elastic distortion: a random
    displacement field smoothed by a Gaussian of ``ELASTIC_SIGMA``, scaled by ``alpha``."""
    dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, (SIZE, SIZE)).astype(np.float32), (0, 0), ELASTIC_SIGMA)
              * float(alpha) for _ in range(2))
    return cv2.remap(im, _GRID_X + dx, _GRID_Y + dy, cv2.INTER_LINEAR, borderValue=0)


def _elastic(x: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Wobbly strokes: :func:`elastic_one` on every digit."""
    return np.stack([elastic_one(im, alpha, rng) for im in x]) if len(x) else x


Kind = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
KINDS: dict[str, Kind] = {
    "thick": _thick, "thin": _thin, "lowres": _lowres, "blur": _blur, "shear": _shear,
    "rotate": _rotate, "scale": _scale, "translate": _translate, "elastic": _elastic,
}


def _load_suite() -> tuple[Variant, ...]:
    """The suite's variants, from ``model/suite.toml`` (data: one line a variant)."""
    table = tomllib.loads(resources.files("model").joinpath("suite.toml").read_text())
    suite = tuple(Variant(r["name"], r["kind"], r["strength"], r["what"]) for r in table["variants"])
    unknown = sorted({v.kind for v in suite} - set(KINDS))
    if unknown:  # a broken package, not a user error: fail at import, loudly
        raise ValueError(f"model/suite.toml names kinds robustness.KINDS lacks: {unknown}")
    return suite


SUITE: tuple[Variant, ...] = _load_suite()
NAMES = tuple(v.name for v in SUITE)


def transform(images: np.ndarray, variant: Variant, index: int) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 28, 28) uint8: ``variant`` applied, the same images every call."""
    rng = np.random.default_rng([SUITE_SEED, index])
    x = np.ascontiguousarray(images, dtype=np.uint8)
    return KINDS[variant.kind](x, variant.strength, rng)


@dataclass(frozen=True)
class SuiteSet:
    """The suite's images: ``images[v]`` is ``labels`` under ``SUITE[v]``."""

    images: np.ndarray  # (V, N, 28, 28) uint8
    labels: np.ndarray  # (N,) uint8
    split: str          # "val" (decisions) or "test" (reports)


def build(images: np.ndarray, labels: np.ndarray, split: str, limit: int | None = None) -> SuiteSet:
    """The suite made from the first ``limit`` digits of a split (all when None).

    MNIST's validation split is a stratified random sample, so its first digits
    are a fair sample of every class; the test split is in MNIST's own order."""
    x, y = np.asarray(images)[:limit], np.asarray(labels)[:limit]
    return SuiteSet(np.stack([transform(x, v, i) for i, v in enumerate(SUITE)]), y.astype(np.uint8), split)


@lru_cache(maxsize=4)
def _cached(source: str, split: str, limit: int | None, x_bytes: bytes, y_bytes: bytes) -> SuiteSet:
    x = np.frombuffer(x_bytes, np.uint8).reshape(-1, SIZE, SIZE)
    return build(x, np.frombuffer(y_bytes, np.uint8), split, limit)


def for_split(data, split: str, limit: int | None = None) -> SuiteSet:
    """The suite of ``data``'s (a :class:`model.data.Mnist`) ``val`` or ``test`` split,
    built once per process and reused (the flow scores it every round)."""
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    x, y = x[:limit], y[:limit]
    return _cached(data.source, split, limit, np.ascontiguousarray(x, np.uint8).tobytes(),
                   np.ascontiguousarray(y, np.uint8).tobytes())


def score(pred: np.ndarray, suite: SuiteSet) -> dict[str, Any]:
    """Accuracies from predictions ``pred`` (V, N) int of every suite image.

    Returns (JSON-ready) ``mean`` (over variants, each weighted equally),
    ``per_variant`` {name: acc}, ``per_class`` {digit: acc pooled over variants},
    ``matrix`` [variant][class] accuracies, ``worst_class`` and ``n`` (digits per variant)."""
    pred = np.asarray(pred)
    correct = pred == suite.labels[None, :]  # (V, N) bool
    counts = np.bincount(suite.labels, minlength=N_CLASSES)  # (10,) digits per class
    hits = np.stack([np.bincount(suite.labels, weights=c, minlength=N_CLASSES) for c in correct])  # (V, 10)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = hits / counts[None, :]
        per_class = hits.sum(0) / (counts * len(SUITE))
    per_variant = correct.mean(1)
    present = counts > 0
    worst = int(np.flatnonzero(present)[np.argmin(per_class[present])]) if present.any() else -1
    return {
        "split": suite.split, "n": int(len(suite.labels)),
        "mean": float(per_variant.mean()),
        "per_variant": {v.name: float(a) for v, a in zip(SUITE, per_variant)},
        "per_class": {str(d): (float(a) if present[d] else None) for d, a in enumerate(per_class)},
        "matrix": [[(float(a) if present[d] else None) for d, a in enumerate(row)] for row in matrix],
        "worst_class": worst,
    }


def evaluate_suite(predict: Callable[[np.ndarray], np.ndarray], suite: SuiteSet) -> dict[str, Any]:
    """Score a classifier on the suite. ``predict``: (M, 28, 28) uint8 -> (M,) labels
    (one call on all V x N images: large batches are what a CPU predicts fastest)."""
    v, n = suite.images.shape[:2]
    pred = np.asarray(predict(suite.images.reshape(v * n, SIZE, SIZE))).reshape(v, n)
    return score(pred, suite)


def summary_columns(scores: dict[str, Any], prefix: str = "rob") -> dict[str, float | None]:
    """Flat columns for metrics.csv: ``<prefix>_mean``, ``<prefix>_<variant>``, ``<prefix>_c<digit>``."""
    out: dict[str, float | None] = {f"{prefix}_mean": scores["mean"]}
    out.update({f"{prefix}_{name}": acc for name, acc in scores["per_variant"].items()})
    out.update({f"{prefix}_c{d}": acc for d, acc in scores["per_class"].items()})
    return out


def table_lines(scores: dict[str, Any]) -> list[str]:
    """The suite as a text table: one row per variant, accuracy overall and per class."""
    head = f"{'variant':<11} {'acc':>6}  " + " ".join(f"{d:>5}" for d in range(N_CLASSES))
    lines = [f"real-digit robustness ({scores['split']} split, {scores['n']} digits per variant)", head]

    def fmt(a):
        return "    -" if a is None else f"{a:5.3f}"

    for (name, acc), row in zip(scores["per_variant"].items(), scores["matrix"]):
        lines.append(f"{name:<11} {acc:6.3f}  " + " ".join(fmt(a) for a in row))
    lines.append(f"{'mean':<11} {scores['mean']:6.3f}  "
                 + " ".join(fmt(scores["per_class"][str(d)]) for d in range(N_CLASSES)))
    return lines
