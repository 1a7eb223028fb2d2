"""Training precision: bfloat16 where the CPU has it, and float32 models saved either way."""

import keras
import numpy as np
import pytest

from model.cnn import build_model, load_model
from model.data import Mnist
from model.precision import POLICIES, native_bfloat16, resolve, training_copy
from model.settings import PRECISIONS, TrainConfig
from model.pipeline import steps_per_epoch
from model.train import train


def test_choices_are_the_policies_and_auto():
    assert PRECISIONS == ("auto", *POLICIES)


@pytest.mark.parametrize("flags,native", [
    ("fpu vme avx2 fma avx512f avx512_bf16 avx512vl", True),
    ("fpu amx_bf16 amx_tile", True),
    ("fpu vme avx2 fma avx512f avx512bw", False),  # AVX-512 without its bfloat16 dot products
])
def test_auto_picks_bfloat16_only_where_the_cpu_computes_it(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n")
    assert native_bfloat16(str(cpuinfo)) is native
    assert native_bfloat16(str(tmp_path / "absent")) is False
    assert resolve("float32") == "float32" and resolve("bfloat16") == "bfloat16"
    assert resolve("auto") == ("bfloat16" if native_bfloat16() else "float32")  # this machine's


def test_training_copy_computes_in_bfloat16_with_the_same_weights():
    model = build_model("strong")
    assert training_copy(model, "float32") is model
    copy = training_copy(model, "bfloat16")
    assert [layer.dtype_policy.name for layer in copy.layers[1:-1]] == ["mixed_bfloat16"] * (len(copy.layers) - 2)
    assert copy.layers[-1].dtype_policy.name == "float32" and copy.output.dtype == "float32"  # the softmax
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), copy.get_weights()))
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1)).astype(np.float32)
    a, b = model(images, training=False).numpy(), copy(images, training=False).numpy()
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 0.02  # bfloat16 keeps 8 bits of mantissa


@pytest.mark.filterwarnings("error:Skipping variable loading for optimizer")
def test_bfloat16_training_learns_and_saves_the_best_epoch_in_float32(tmp_path):
    # two well-separated classes a tiny model learns in a few epochs
    rng = np.random.default_rng(3)
    y = np.arange(400, dtype=np.uint8) % 2
    x = rng.integers(0, 60, (400, 28, 28), np.uint8)
    x[y == 1, 8:20, 8:20] = 255
    data = Mnist(x_train=x[:300], y_train=y[:300], x_val=x[300:], y_val=y[300:], x_test=x[300:], y_test=y[300:],
                 source="test")
    cfg = TrainConfig(epochs=3, batch_size=32, augment=False, pen_scan=False, precision="bfloat16", seed=1)
    result = train(cfg, data, tmp_path / "m.keras", log=lambda line: None)
    saved = load_model(tmp_path / "m.keras", "test")
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    best = result["history"]["val_accuracy"].index(max(result["history"]["val_accuracy"]))
    assert result["best_epoch"] == best + 1 and result["val_acc"] > 0.9
    read = saved(x[300:, :, :, None].astype(np.float32), training=False).numpy().argmax(1)
    assert (read == y[300:]).mean() > 0.9  # the float32 model holds what bfloat16 training learnt
    assert result["config"]["precision"] == "bfloat16"
    # the optimiser's state came along, as a float32 fit saves it: its step count is the best epoch's
    assert int(saved.optimizer.iterations.numpy()) == result["best_epoch"] * steps_per_epoch(300, 32)
