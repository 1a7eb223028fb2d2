"""The fast forward pass mining scores with (model.infer) against a plain Keras
``model.predict`` with TensorFlow's own kernels, for every preset.

    pytest -q tests/test_model_infer.py          # ~1-2 min on 2 cores (one TensorFlow subprocess)

Tolerance, stated in model/infer.py: probabilities within 1e-5 of the reference
(measured: 2.4e-7 seed, 3.7e-8 strong; oneDNN's float32 sums in another order), and the same
predicted digit wherever the reference's two best classes are more than twice
that apart (closer ones are a coin toss for any float32 reordering).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import miner  # noqa: E402
from model.cnn import PRESETS, build_model  # noqa: E402
from model.infer import onednn_enabled, predictor  # noqa: E402

TOLERANCE = 1e-5
ROOT = Path(__file__).resolve().parents[1]

# the reference, in a process whose TensorFlow runs its own kernels: plain model.predict
REFERENCE = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    from tensorflow.python.util import _pywrap_util_port
    assert not _pywrap_util_port.IsMklEnabled()
    images = np.load(sys.argv[1])
    for path in sys.argv[2:]:
        model = keras.saving.load_model(path)
        x = images.reshape(len(images), 28, 28, 1).astype(np.float32)
        np.save(path + ".probs.npy", model.predict(x, batch_size=128, verbose=0))
""")


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 10
    images, _ = miner.generate(labels, np.resize([0.0, 1.0, 2.0, 3.0], n), seed)
    return images, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """preset -> (path of a model trained for one short epoch on synthetic digits, so its
    probabilities are decisive like a real round's), and 300 other digits to score."""
    folder = tmp_path_factory.mktemp("infer")
    x, y = _digits(1024, seed=31)
    paths = {}
    for name in PRESETS:
        keras.utils.set_random_seed(4)
        model = build_model(name)
        model.fit(x[..., None].astype(np.float32), y, batch_size=64, epochs=1, verbose=0)
        paths[name] = str(folder / f"{name}.keras")
        model.save(paths[name])
    images, _ = _digits(300, seed=32)
    np.save(folder / "images.npy", images)
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", REFERENCE, str(folder / "images.npy"), *paths.values()],
                   check=True, env=env, timeout=600)
    return paths, images


@pytest.mark.parametrize("name", list(PRESETS))
def test_fast_path_matches_keras_predict_with_tensorflows_own_kernels(trained, name):
    paths, images = trained
    assert onednn_enabled()  # what mining runs with (model/__init__.py): the setting under test
    reference = np.load(paths[name] + ".probs.npy")
    fast = predictor(keras.saving.load_model(paths[name]))(images)
    assert fast.shape == (300, 10) and fast.dtype == np.float32
    assert np.abs(fast - reference).max() <= TOLERANCE
    top2 = np.sort(reference, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * TOLERANCE
    assert clear.mean() > 0.95  # a trained model: nearly every digit has a clear winner
    assert (fast.argmax(1) == reference.argmax(1))[clear].all()


def test_fast_path_is_predict_on_batch_bit_for_bit(trained):
    paths, images = trained
    model = keras.saving.load_model(paths["seed"])
    predict = predictor(model)
    whole = predict(images)
    x = images.reshape(-1, 28, 28, 1).astype(np.float32)
    assert whole.tobytes() == np.asarray(model.predict_on_batch(x), np.float32).tobytes()
    assert predict(images[:0]).shape == (0, 10)
    assert predictor(model)(images).tobytes() == whole.tobytes()  # traced once, kept on the model
    assert model._hardmine_forward.experimental_get_tracing_count() == 1


def test_evaluation_predicts_as_keras_predict_does(trained, monkeypatch):
    """predict_proba (every evaluation, the suite, `hardmine predict`) goes through the fast path in
    blocks of PREDICT_BATCH: the probabilities of Keras' own predict at that batch size, a last
    partial block included."""
    import model.evaluate as ev
    paths, images = trained
    model = keras.saving.load_model(paths["seed"])
    monkeypatch.setattr(ev, "PREDICT_BATCH", 128)  # 300 images: blocks of 128, 128 and 44
    x = images.reshape(-1, 28, 28, 1).astype(np.float32)
    reference = np.asarray(model.predict(x, batch_size=128, verbose=0), np.float32)
    probs = ev.predict_proba(model, images)
    assert probs.shape == (300, 10) and probs.dtype == np.float32
    assert np.abs(probs - reference).max() <= 1e-6
    assert (probs.argmax(1) == reference.argmax(1)).all()
    assert ev.predict_proba(paths["seed"], images[:0]).shape == (0, 10)


@pytest.mark.parametrize("setting, expected", [(None, True), ("0", False), ("1", True)])
def test_the_model_package_turns_onednn_on_unless_the_environment_says_otherwise(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    code = "import model, keras; from model.infer import onednn_enabled; print(onednn_enabled())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == str(expected), out.stderr[-2000:]


def test_a_worker_with_other_kernels_than_the_flow_refuses_to_score():
    from flows.cluster import _same_kernels
    from miner.config import HardmineError
    _same_kernels(onednn_enabled())  # same: fine
    with pytest.raises(HardmineError, match="oneDNN"):
        _same_kernels(not onednn_enabled())
