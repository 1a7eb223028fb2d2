"""Train a preset CNN on MNIST mixed with the hard-case bank.

    hardmine train --mnist mnist.npz --preset seed --epochs 10 --no-augment --out seed.keras

:func:`train` seeds everything (``keras.utils.set_random_seed``), builds the
model (or continues from ``init_model``), feeds it the mixed tf.data pipeline
(:mod:`model.pipeline`), moves the learning rate per epoch by the preset's
schedule, keeps the best-on-validation weights in a checkpoint that replaces
``out_path`` atomically at the end, and reports one line per epoch to a logger
(no progress bar). The history goes next to the model as ``<stem>.history.json``
so ``hardmine evaluate`` can plot learning curves.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from miner.config import require
from model.cnn import SCHEDULES, build_model, compile_model, get_preset, load_model
from model.data import Mnist
from model.precision import resolve, training_copy
from model.pipeline import Augment, PenScan, bank_size, no_autotune, steps_per_epoch, train_dataset
from model.settings import TrainConfig

LOGGER = logging.getLogger("hardmine.model")


Emit = Callable[[str], Any]
VAL_BATCH = 1024  # validation images per step: inference only, so larger than training's


class EpochBar(keras.callbacks.Callback):
    """Each epoch's steps as a progress bar on a terminal's stderr (``miner.progress``); nothing
    when stderr is not a terminal. ``hardmine train`` adds it; flow runs log a line per epoch."""

    def __init__(self, bar=None) -> None:
        super().__init__()
        from miner.progress import progress_bar
        self.bar = bar or progress_bar
        self._open = None

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._open = self.bar(int(self.params.get("steps") or 0), f"epoch {epoch + 1}/{self.params['epochs']}")
        self._advance = self._open.__enter__()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._advance(1)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._open.__exit__(None, None, None)


class SaveBest(keras.callbacks.Callback):
    """Save ``target`` with the fitted model's weights after each epoch whose val_accuracy beats
    every earlier one (Keras' ``ModelCheckpoint(save_best_only=True)``, except that what is saved
    is ``target``: the float32 model a bfloat16 training copy was made from)."""

    def __init__(self, target: keras.Model, path: Path) -> None:
        super().__init__()
        self.target, self.path, self.best = target, path, -np.inf

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        current = (logs or {}).get("val_accuracy", -np.inf)
        if current > self.best:
            self.best = current
            if self.model is not self.target:
                self.target.set_weights(self.model.get_weights())
                # the optimiser's state too (float32 in both), so the file is what a float32 fit saves
                self.target.optimizer.build(self.target.trainable_variables)
                for mine, fitted in zip(self.target.optimizer.variables, self.model.optimizer.variables):
                    mine.assign(fitted)
            self.target.save(self.path)


class LogProgress(keras.callbacks.Callback):
    """One line per epoch to a logger: losses, accuracies, learning rate, seconds; keeps
    each epoch's seconds (``seconds``) so a fit's wall time can be held to them."""

    def __init__(self, emit: Emit, epochs: int) -> None:
        super().__init__()
        self.emit, self.epochs, self.t0 = emit, epochs, 0.0
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.seconds.append(time.perf_counter() - self.t0)
        self.emit(f"epoch {epoch + 1}/{self.epochs}: loss {logs.get('loss', np.nan):.4f} "
                  f"acc {logs.get('accuracy', np.nan):.4f} val_loss {logs.get('val_loss', np.nan):.4f} "
                  f"val_acc {logs.get('val_accuracy', np.nan):.4f} lr {lr:.2e} "
                  f"({self.seconds[-1]:.1f} s)")


def history_path(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + ".history.json")


def _emitter(log: logging.Logger | Emit | None) -> Emit:
    if log is None:
        return LOGGER.info
    return log.info if isinstance(log, logging.Logger) else log


def _start_model(cfg: TrainConfig, init_model: str | os.PathLike | None) -> keras.Model:
    if init_model is None:
        return build_model(cfg.preset)
    model = load_model(init_model, "train: init_model")
    return compile_model(model, cfg.preset)  # a fresh optimiser with the preset's learning rate


def _validation(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """Validation batches of 1024, (b, 28, 28, 1) float32 raw 0..255, as a dataset of our own:
    arrays would make Keras build one with tf.data's autotuner on, whose teardown can stall
    (model.pipeline.no_autotune) once per epoch."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(VAL_BATCH)
    return no_autotune(ds.map(lambda xb, yb: (tf.cast(xb, tf.float32)[..., None], yb))).prefetch(1)


def train(cfg: TrainConfig, data: Mnist, out_path: str | os.PathLike, bank_path: str | os.PathLike | None = None,
          init_model: str | os.PathLike | None = None, log: logging.Logger | Emit | None = None,
          callbacks: tuple[keras.callbacks.Callback, ...] = ()) -> dict[str, Any]:
    """Train, keep the best epoch on validation at ``out_path``; returns paths, history and timings.
    ``callbacks`` run before ours (a progress bar ends its epoch before the epoch's log line)."""
    emit = _emitter(log)
    out = Path(out_path)
    require(out.suffix == ".keras", f"train: output {out} must end in .keras")
    out.parent.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    preset = get_preset(cfg.preset)
    epochs = preset.epochs if cfg.epochs is None else cfg.epochs
    model = _start_model(cfg, init_model)
    fitted = training_copy(model, cfg.precision)  # ``model`` itself in float32
    if fitted is not model:
        compile_model(fitted, cfg.preset)

    mix = cfg.mix_fraction if bank_size(bank_path) else 0.0
    stream = train_dataset(data.x_train, data.y_train, bank_path if mix else None, batch_size=cfg.batch_size,
                           mix=mix, balance=cfg.balance, balance_cap=cfg.balance_cap,
                           augment=Augment() if cfg.augment else None,
                           pen_scan=PenScan() if cfg.pen_scan else None, seed=cfg.seed)
    steps = steps_per_epoch(len(data.y_train), cfg.batch_size)
    val = _validation(data.x_val, data.y_val)

    checkpoint = out.with_name(f".{out.stem}.partial.keras")  # a killed run never leaves half a model at out
    schedule = SCHEDULES[preset.schedule]
    lr0 = preset.lr if cfg.lr is None else cfg.lr
    hooks = [
        *callbacks,
        keras.callbacks.LearningRateScheduler(
            lambda epoch, _lr: schedule(lr0, preset.lr_decay, epoch, epochs)),
        SaveBest(model, checkpoint),
        progress := LogProgress(emit, epochs),
    ]
    emit(f"training {cfg.preset} for {epochs} epoch(s) of {steps} steps x {cfg.batch_size} "
         f"on {len(data.y_train)} MNIST images, bank mix {mix:.2f}"
         f"{' from ' + str(bank_path) if mix else ''}, augment {'on' if cfg.augment else 'off'}, "
         f"pen/scan {'on' if cfg.pen_scan else 'off'}, {resolve(cfg.precision)}, lr {lr0:.2e}, seed {cfg.seed}"
         f"{', from ' + str(init_model) if init_model else ''}")
    start = time.perf_counter()
    fit = fitted.fit(stream, steps_per_epoch=steps, epochs=epochs, validation_data=val, callbacks=hooks,
                    verbose=0, shuffle=False)  # the pipeline shuffles
    seconds = time.perf_counter() - start
    os.replace(checkpoint, out)

    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    best = int(np.argmax(history["val_accuracy"]))
    result = {
        "model": str(out), "history_path": str(history_path(out)), "history": history,
        "val_acc": history["val_accuracy"][best], "best_epoch": best + 1,
        "train_acc": history["accuracy"][-1], "epochs": epochs, "seconds": seconds,
        "seconds_per_epoch": seconds / epochs, "epoch_seconds": [round(t, 3) for t in progress.seconds],
        "bank_mix": mix, "config": cfg.model_dump(),
    }
    history_path(out).write_text(json.dumps({k: v for k, v in result.items() if k != "history_path"}, indent=1))
    emit(f"saved {out}: best val_acc {result['val_acc']:.4f} at epoch {best + 1}/{epochs} "
         f"({seconds:.1f} s, {seconds / epochs:.1f} s/epoch)")
    return result
