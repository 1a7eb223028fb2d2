"""Which rendering makes jitter-0 synthetic digits most recognisable: raw, MNIST-normalised or realistic?

    python bench/recognition.py [--mnist ../shared/data/mnist.npz] [--per-class 1000] [--epochs 3]

Trains the seed notebook's CNN on MNIST alone (plain Keras, inputs /255), then
prints, per class, the accuracy on ``--per-class`` jitter-0 digits drawn with each
rendering of :data:`RENDERINGS` (same seeds and labels). Keeps TensorFlow out of the ``miner``
package: only this script imports it. The trained model is cached at
``--model`` so re-measuring after a glyph change skips training.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from miner import GeneratorConfig, generate

SEED = 12345  # a mining-range seed used only by this benchmark
RENDERINGS = {"raw": GeneratorConfig(), "normalized": GeneratorConfig(normalize=True),
              "realistic": GeneratorConfig(realistic=True)}


def notebook_cnn():
    """The notebook's architecture: 2x(conv32, conv32, maxpool, spatial dropout), dense 128, softmax."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.SpatialDropout2D(0.25),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.SpatialDropout2D(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def trained_model(mnist: str, epochs: int, path: str):
    import keras

    if os.path.exists(path):
        print(f"model: loaded {path}")
        return keras.models.load_model(path)
    data = np.load(mnist)
    model = notebook_cnn()
    t0 = time.perf_counter()
    model.fit(data["x_train"][..., None].astype("float32"), data["y_train"], epochs=epochs,
              batch_size=128, verbose=2)
    loss, acc = model.evaluate(data["x_test"][..., None].astype("float32"), data["y_test"], verbose=0)
    print(f"model: {epochs} epochs in {time.perf_counter() - t0:.0f} s, MNIST test accuracy {acc:.4f}")
    model.save(path)
    return model


def per_class_accuracy(model, config: GeneratorConfig, per_class: int) -> np.ndarray:
    labels = np.repeat(np.arange(10), per_class)
    images, _ = generate(labels, 0.0, SEED, config=config)
    pred = model.predict(images[..., None].astype("float32"), batch_size=1000, verbose=0).argmax(1)
    return np.array([(pred[labels == d] == d).mean() for d in range(10)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", default=os.environ.get("HARDMINE_MNIST", "../shared/data/mnist.npz"))
    ap.add_argument("--per-class", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--model", default="/tmp/hardmine_recognition_cnn.keras")
    args = ap.parse_args()
    model = trained_model(args.mnist, args.epochs, args.model)
    rows = {name: per_class_accuracy(model, cfg, args.per_class) for name, cfg in RENDERINGS.items()}
    print(f"accuracy on {args.per_class} jitter-0 digits per class (seed {SEED})")
    print("option      " + " ".join(f"{d:>6}" for d in range(10)) + "   mean    min")
    for name, acc in rows.items():
        print(f"{name:<11} " + " ".join(f"{a:6.3f}" for a in acc) + f" {acc.mean():6.3f} {acc.min():6.3f}")
    best = max(rows, key=lambda k: (rows[k].min(), rows[k].mean()))
    default = next(name for name, cfg in RENDERINGS.items() if cfg == GeneratorConfig())
    print(f"most recognisable (best worst class): {best}; default is {default}")


if __name__ == "__main__":
    main()
