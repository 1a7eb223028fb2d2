"""The CNN presets and the one factory that builds them.

    python -m model.cnn            # prints each preset's layer summary and parameter count

A preset is data: stages of convolutions, the head, the optimiser and its
learning-rate schedule (:data:`PRESETS`). :func:`build_model` turns one into a
compiled ``keras.Model`` that embeds its preprocessing (``Rescaling(1/255)``),
so a saved ``.keras`` file takes raw pixels 0..255 as float32 (N, 28, 28, 1),
returns (N, 10) probabilities and loads with ``keras.saving.load_model`` with
no custom objects.

- ``seed``: the Kaggle notebook's network exactly (two stages of two 3x3x32
  convolutions, valid then same, 2x2 max-pool, spatial dropout 0.25; dense 128,
  dropout 0.5, softmax; Adam at its default 1e-3, no schedule).
- ``strong``: batch-normalised convolutions, 32 then 64 filters with a learned
  5x5 stride-2 downsampling instead of max-pool, a 4x4x128 convolution as the
  head, dropout 0.4, Adam with an exponentially decaying learning rate (after
  the well-known Kaggle design that reaches ~99.7% with augmentation).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers

from miner.config import HardmineError, require


@dataclass(frozen=True)
class Conv:
    filters: int  # output channels
    kernel: int  # square kernel side, pixels
    padding: str = "same"  # "same" keeps the size, "valid" trims kernel-1 pixels
    strides: int = 1  # 2 halves the size (a learned pooling)


@dataclass(frozen=True)
class Stage:
    convs: tuple[Conv, ...]  # applied in order, each followed by (BN and) ReLU
    pool: bool = True  # 2x2 max-pool after the convolutions
    dropout: float = 0.0  # rate after the stage, 0 <= r < 1 (spatial or plain, see Preset)


@dataclass(frozen=True)
class Preset:
    stages: tuple[Stage, ...]  # the convolutional trunk
    dense: tuple[int, ...]  # hidden dense widths after Flatten
    head_dropout: float  # dropout right before the softmax, 0 <= r < 1
    batch_norm: bool  # Conv(no bias) -> BatchNorm -> ReLU instead of Conv -> ReLU
    spatial_dropout: bool  # SpatialDropout2D (drops whole feature maps) vs Dropout after stages
    lr: float  # Adam's initial learning rate
    schedule: str  # key of SCHEDULES: how the learning rate moves per epoch
    lr_decay: float = 1.0  # per-epoch factor for "exponential", 0 < f <= 1
    epochs: int = 10  # recommended epochs (the CLI's default for this preset)

    def __post_init__(self) -> None:
        rates = [s.dropout for s in self.stages] + [self.head_dropout]
        require(all(0.0 <= r < 1.0 for r in rates), f"Preset: dropout rates {rates} must be in [0, 1)")
        require(self.schedule in SCHEDULES,
                f"Preset: schedule {self.schedule!r} unknown; choose one of {', '.join(SCHEDULES)}")
        require(0.0 < self.lr_decay <= 1.0 and self.lr > 0,
                f"Preset: lr={self.lr} must be > 0 and lr_decay={self.lr_decay} in (0, 1]")


# name -> learning rate for (initial lr, per-epoch decay, 0-based epoch, total epochs)
SCHEDULES: dict[str, Callable[[float, float, int, int], float]] = {
    "constant": lambda lr, decay, epoch, epochs: lr,
    "exponential": lambda lr, decay, epoch, epochs: lr * decay**epoch,
    "cosine": lambda lr, decay, epoch, epochs: 0.5 * lr * (1 + math.cos(math.pi * epoch / max(epochs, 1))),
}

_SEED_STAGE = Stage((Conv(32, 3), Conv(32, 3)), pool=True, dropout=0.25)

PRESETS: dict[str, Preset] = {
    "seed": Preset(
        stages=(Stage((Conv(32, 3, "valid"), Conv(32, 3)), pool=True, dropout=0.25), _SEED_STAGE),
        dense=(128,), head_dropout=0.5, batch_norm=False, spatial_dropout=True,
        lr=1e-3, schedule="constant", epochs=10,
    ),
    "strong": Preset(
        stages=(
            Stage((Conv(32, 3, "valid"), Conv(32, 3, "valid"), Conv(32, 5, "same", 2)), pool=False, dropout=0.4),
            Stage((Conv(64, 3, "valid"), Conv(64, 3, "valid"), Conv(64, 5, "same", 2)), pool=False, dropout=0.4),
            Stage((Conv(128, 4, "valid"),), pool=False, dropout=0.0),
        ),
        dense=(), head_dropout=0.4, batch_norm=True, spatial_dropout=False,
        lr=1e-3, schedule="exponential", lr_decay=0.95, epochs=50,
    ),
}


def get_preset(preset: str | Preset) -> Preset:
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise HardmineError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[preset]


def _conv(x, spec: Conv, batch_norm: bool):
    x = layers.Conv2D(spec.filters, spec.kernel, strides=spec.strides, padding=spec.padding,
                      use_bias=not batch_norm, activation=None if batch_norm else "relu")(x)
    if batch_norm:
        x = layers.ReLU()(layers.BatchNormalization()(x))
    return x


def build_model(preset: str | Preset = "seed", name: str | None = None) -> keras.Model:
    """A compiled model for ``preset``: float32 (N, 28, 28, 1) in 0..255 -> (N, 10) probabilities."""
    p = get_preset(preset)
    inputs = keras.Input((28, 28, 1), dtype="float32", name="pixels")
    x = layers.Rescaling(1.0 / 255)(inputs)  # part of the saved model: callers pass raw pixels
    drop = layers.SpatialDropout2D if p.spatial_dropout else layers.Dropout
    for stage in p.stages:
        for spec in stage.convs:
            x = _conv(x, spec, p.batch_norm)
        if stage.pool:
            x = layers.MaxPool2D(2)(x)
        if stage.dropout:
            x = drop(stage.dropout)(x)
    x = layers.Flatten()(x)
    for width in p.dense:
        x = layers.Dense(width, activation="relu")(x)
    if p.head_dropout:
        x = layers.Dropout(p.head_dropout)(x)
    outputs = layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name=name or (preset if isinstance(preset, str) else "custom"))
    compile_model(model, p)
    return model


def compile_model(model: keras.Model, preset: str | Preset) -> keras.Model:
    """(Re)compile with the preset's optimiser; integer labels, so sparse cross-entropy."""
    p = get_preset(preset)
    model.compile(optimizer=keras.optimizers.Adam(p.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# A .keras file is a zip archive holding these (Keras 3's saving format).
KERAS_ARCHIVE = ("config.json", "model.weights.h5")


def check_model_file(path: str | os.PathLike, where: str) -> None:
    """HardmineError unless ``path`` is a readable Keras 3 ``.keras`` archive:
    cheap (no TensorFlow), so commands run it before any other work."""
    how = "give a model saved by `hardmine train` (a .keras file)"
    require(os.path.exists(path), f"{where}: model {path} does not exist; {how}")
    require(os.path.isfile(path), f"{where}: model {path} is a directory, not a Keras model file; {how}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        names = set()
    require(set(KERAS_ARCHIVE) <= names, f"{where}: {path} is not a Keras model file; {how}")


def load_model(path: str | os.PathLike, where: str) -> keras.Model:
    """The model at ``path``, checked to take (N, 28, 28, 1) pixels and return 10
    probabilities; a file that does not load is one HardmineError line."""
    check_model_file(path, where)
    try:
        model = keras.saving.load_model(path)
    except Exception as exc:  # a damaged archive fails in h5py, json or Keras: all the same to the user
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise HardmineError(f"{where}: cannot load the Keras model {path} ({reason}); "
                            "give a model saved by `hardmine train`") from None
    shapes = (tuple(model.input_shape[1:]), model.output_shape[-1]) if hasattr(model, "input_shape") else None
    require(shapes == ((28, 28, 1), 10),
            f"{where}: model {path} maps {shapes[0] if shapes else '?'} to {shapes[1] if shapes else '?'} "
            "outputs; hardmine needs (28, 28, 1) pixels -> 10 digit probabilities")
    return model


if __name__ == "__main__":
    for key in PRESETS:
        build_model(key).summary()
