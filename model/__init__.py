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

# The notice TensorFlow prints when oneDNN is on ("oneDNN custom operations are on ...",
# twice, with absl's "before InitializeLog" warning) bypasses TF_CPP_MIN_LOG_LEVEL: it is
# written to file descriptor 2 while TensorFlow loads, before absl's logging is set up. When
# the process asked TensorFlow to be quiet (TF_CPP_MIN_LOG_LEVEL >= 1, as hardmine's commands
# do unless --verbose), the import of tensorflow runs with descriptor 2 on /dev/null; errors
# still surface as Python exceptions, printed after it is restored.
import importlib.abc  # noqa: E402
import sys  # noqa: E402


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow" or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
            return None
        sys.meta_path.remove(self)  # once: find the real spec without this finder
        import importlib.util
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Silenced(spec.loader)
        return spec


class _Silenced(importlib.abc.Loader):
    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            sys.stderr.flush()
            os.dup2(null, 2)
            self.loader.exec_module(module)
        finally:
            os.dup2(saved, 2)
            os.close(null)
            os.close(saved)


if "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, _QuietTensorFlow())
