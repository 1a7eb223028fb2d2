"""Fast CPU inference for scoring candidates: one compiled forward pass per call.

    python bench/roofline.py          # what each choice below is worth on this machine

:func:`predictor` is what mining calls for every block of candidates, in this
process (``flows.tasks.mine_round``) and on the Dask workers
(``flows.cluster``, which load the round's model once per worker). What it
does, each piece measured by ``bench/roofline.py`` on the project's 2-core AMD
EPYC (AVX-512 with bfloat16 dot products, no AMX; earlier figures in brackets from a Zen 3
with AVX2 only):

- **oneDNN's kernels** (``TF_ENABLE_ONEDNN_OPTS=1``, set by ``model/__init__``
  before TensorFlow loads; TensorFlow leaves them off on AMD CPUs): 1.44x (2x) the
  convolution throughput of TensorFlow's own Eigen kernels per CPU-second,
  and a block's results no longer depend on the intra-op thread count (measured
  for blocks of 300 and 512 with 1 and 2 threads; TensorFlow's own kernels change
  the last bit with it), which helps keep mining bit-identical in this process
  and on one-thread Dask workers. Like TensorFlow's own, they still change the
  last bit of an image's result with the batch it is in (a block of 77 against
  300), so mining keeps its fixed blocks. The probabilities move by at most 2.4e-7
  (300 synthetic digits, briefly trained presets: seed 2.4e-7, strong 3.7e-8) against
  TensorFlow's kernels, the predicted digit not at all (``tests/test_model_infer.py``
  bounds it at 1e-5).
- **a compiled inference function** (``tf.function`` with a fixed input signature
  calling ``model(x, training=False)``, uint8 pixels cast inside the graph): the
  same bits as ``predict_on_batch``, without Keras' per-call data-adapter work.
- **not kept**: XLA ``jit_compile`` (0.93x oneDNN here), bfloat16 (2.36x the float32
  convolution roof on this CPU, 0.59x where it is emulated; but it changes which candidates
  read as wrong, and every saved model is float32: ``model.precision``), batches larger than mining's
  block of 512 (no faster per image, and the block is what keeps a round's
  cases independent of where it is scored).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]  # (n, 28, 28) uint8 -> (n, 10) float32


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's kernels (decided once, when it loads)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def compiled(model):
    """``model``'s forward pass as a compiled function of (n, 28, 28) uint8 pixels, returning what
    the model returns (a tensor, or a list of them for a multi-output model). Traced once and kept
    on the model, however many callers ask for it."""
    forward = getattr(model, "_hardmine_forward", None)
    if forward is None:
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8)], reduce_retracing=True)
        def forward(images):
            # uint8 -> float32 is exact, so casting here gives the same input as as_model_input
            x = tf.reshape(tf.cast(images, tf.float32), [-1, 28, 28, 1])
            return model(x, training=False)

        model._hardmine_forward = forward
    return forward


def in_blocks(model, images: np.ndarray, batch: int) -> list[np.ndarray]:
    """Every output of ``model`` (one float32 array each) for (N, 28, 28) uint8 ``images``, ``batch``
    images at a time through its compiled forward pass. A block's results depend on the block in
    its last bit, so callers that share a batch size share the numbers."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if len(images) == 0:
        return [np.zeros((0, *out.shape[1:]), np.float32) for out in model.outputs]
    forward = compiled(model)
    blocks = []
    for i in range(0, len(images), batch):
        out = forward(images[i:i + batch])  # a tensor, or a list of them for a multi-output model
        blocks.append([np.asarray(o, np.float32) for o in (out if isinstance(out, (list, tuple)) else [out])])
    return [np.concatenate(column) for column in zip(*blocks)]


def predictor(model) -> Predict:
    """``model`` (a keras.Model: float32 (N, 28, 28, 1) pixels 0..255 -> (N, 10)) as a plain
    function (N, 28, 28) uint8 -> (N, 10) float32, one compiled forward pass per call.

    The batch is the caller's: miner.mining calls it once per fixed block of candidates.
    """
    forward = compiled(model)

    def predict(images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if len(images) == 0:
            return np.zeros((0, 10), np.float32)
        return np.asarray(forward(images), np.float32)

    return predict
