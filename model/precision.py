"""Training precision: mixed bfloat16 where the CPU has bfloat16 arithmetic, float32 elsewhere.

    python bench/roofline.py      # the convolution roof in float32 and in bfloat16 on this machine
    python bench/precision.py     # a round's fit in both precisions, and what the models score

:func:`training_copy` gives the model :func:`model.train.train` fits: the same layers and
weights, every layer but the softmax computing in bfloat16 with float32 variables (Keras'
``mixed_bfloat16`` policy; the output stays float32, as Keras' mixed-precision guide
advises). Training writes the weights back into the float32 model it saves, so every saved
model, and so every evaluation, prediction and mining pass, is float32 on every machine:
precision changes how a model is trained, never how one is read.

What it buys and costs, measured on the project's 2-core AMD EPYC (AVX-512 with ``avx512_bf16``):
``bench/roofline.py`` puts a 3x3 convolution at 389 GFLOP/s in bfloat16 against 165 in float32
(2.36x) and ``bench/precision.py`` a round's fit at about half the time; but over 6 paired seeds of
``bench/experiment.py`` (same round-0 models; ``bench/paired.py``) the mining arm trained in
bfloat16 scored 0.33 points lower on the real-digit suite's mean, ``scale0.6`` 3.0 lower on every
seed. So the default stays float32 (``model.settings.PRECISION``) and bfloat16 is for users who
want the speed. Without bfloat16 instructions oneDNN emulates it (0.59x float32 on a Zen 3), so
``auto`` picks float32 there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import keras

# CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic: AVX-512's dot products, Intel's AMX
NATIVE_FLAGS = ("avx512_bf16", "amx_bf16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # precision -> Keras dtype policy


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (empty where /proc/cpuinfo is not readable)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


@lru_cache(maxsize=1)
def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (False where /proc/cpuinfo is not readable)."""
    return not cpu_flags(cpuinfo).isdisjoint(NATIVE_FLAGS)


def resolve(precision: str) -> str:
    """``auto`` -> ``bfloat16`` on a CPU with bfloat16 arithmetic, else ``float32``; others as given."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


def training_copy(model: keras.Model, precision: str) -> keras.Model:
    """``model`` itself for float32; for bfloat16 an uncompiled clone with ``model``'s weights,
    every layer but the last (the softmax) under ``mixed_bfloat16``."""
    if resolve(precision) == "float32":
        return model
    last = model.layers[-1]

    def in_policy(layer):
        dtype = "float32" if layer is last else POLICIES["bfloat16"]
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    copy = keras.models.clone_model(model, clone_function=in_policy)
    copy.set_weights(model.get_weights())
    return copy
