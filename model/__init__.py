"""model: MNIST, the CNN presets, on-the-fly hard-case mixing, training and evaluation.

    hardmine train --mnist mnist.npz --preset seed --epochs 10 --no-augment --out seed.keras

Modules (see docs/model.md): ``data`` (load and split MNIST), ``cnn`` (presets,
``build_model``), ``pipeline`` (the mixed tf.data stream), ``train``,
``evaluate``, ``plots``, ``cli``. Importing the package imports nothing heavy;
``cnn``, ``pipeline`` and ``train`` import TensorFlow.
"""
