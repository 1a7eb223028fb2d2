"""Weight interpolation between a round's starting model and the model it trained.

    python bench/interpolate.py runs/default          # what interpolation does to a run's rounds

A retraining round fine-tunes the current model on MNIST mixed with mined synthetic
digits, a shifted distribution. Interpolating the weights of the model before and after
fine-tuning (WiSE-FT, Wortsman et al. 2022, "Robust fine-tuning of zero-shot models")
is the field's cheap way to keep part of a fine-tune's gain while giving back less of
what the start model did well elsewhere: no training, one forward-pass evaluation per
weight. It needs both models to share one architecture and to come from the same
start (a fine-tune does), and it is exact only for layers without running statistics:
BatchNorm's moving mean and variance are interpolated like any weight, which is the
usual approximation (model soups do the same).
"""

from __future__ import annotations

import keras
import numpy as np

from miner.config import require


def interpolate(start: keras.Model, tuned: keras.Model, alpha: float) -> keras.Model:
    """A new model with weights ``(1 - alpha) * start + alpha * tuned`` (``alpha`` in
    [0, 1]: 0 is ``start``, 1 is ``tuned``); neither input is changed."""
    require(0.0 <= alpha <= 1.0, f"interpolate: alpha={alpha!r} must be in [0, 1]")
    a, b = start.get_weights(), tuned.get_weights()
    require(len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b)),
            "interpolate: the two models differ in architecture; interpolate a model only with its own fine-tune")
    mixed = keras.models.clone_model(tuned)
    mixed.set_weights([((1.0 - alpha) * x + alpha * y).astype(x.dtype) if np.issubdtype(x.dtype, np.floating)
                       else y for x, y in zip(a, b)])  # integer state (seed counters) is the tuned model's
    return mixed
