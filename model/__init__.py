"""model: MNIST, the CNN presets, on-the-fly hard-case mixing, training and evaluation.

    hardmine train --mnist mnist.npz --preset seed --epochs 10 --no-augment --out seed.keras

Modules (see docs/model.md): ``data`` (load and split MNIST), ``cnn`` (presets,
``build_model``), ``pipeline`` (the mixed tf.data stream), ``train``,
``evaluate``, ``infer`` (the fast forward pass mining scores with), ``plots``,
``cli``. Importing the package imports nothing heavy; ``cnn``, ``pipeline`` and
``train`` import TensorFlow.

Importing the package turns on oneDNN's kernels for the TensorFlow this process
will load (``TF_ENABLE_ONEDNN_OPTS=1``; the environment still wins, ``=0`` turns
them off). TensorFlow enables them by itself only on some CPUs, not on the
project's AMD EPYC, where they run convolutions about 2x faster per CPU-second
for inference and training alike, and give results that do not depend on the
thread count (``model/infer.py``, ``bench/roofline.py``). TensorFlow reads the
variable once, when it loads, so it must be set before anything imports
TensorFlow or Keras: ``flows`` imports this package first for that reason.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
