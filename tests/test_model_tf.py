"""The TensorFlow side of model/: presets, overfitting, the mixed pipeline, save/load, the CLI.

Everything is tiny (a few hundred 28x28 images, one or two epochs); the file
pays TensorFlow's import once.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from flows.cli import cli  # noqa: E402
from model.cnn import PRESETS, build_model  # noqa: E402
from model.evaluate import predict_proba  # noqa: E402
from model.pipeline import bank_size, train_dataset  # noqa: E402
from store import Bank  # noqa: E402


def make_bank(path, n: int, marker: int, labels, key: str, status=None) -> None:
    """``n`` cases whose pixel (0, 0) is ``marker``, so a batch row tells where it came from."""
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = marker
    true = np.resize(np.asarray(labels, np.uint8), n)
    probs = np.full((n, 10), 0.1, np.float32)
    with Bank.open(path, "a", fsync=False) as bank:
        bank.append(images, true, (true + 1) % 10, probs, round=0, model_id="test", source="imported", key=key,
                    status=status)


def conv_bn(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + 4 * c_out  # no bias; BN: gamma, beta, moving mean, moving variance


@pytest.mark.parametrize("name,params", [
    # the notebook's model.summary(): 4 convs of 3x3x32, dense 6*6*32 -> 128, softmax 128 -> 10
    ("seed", (9 * 32 + 32) + 3 * (9 * 32 * 32 + 32) + (6 * 6 * 32 * 128 + 128) + (128 * 10 + 10)),
    ("strong", conv_bn(1, 32, 3) + conv_bn(32, 32, 3) + conv_bn(32, 32, 5) + conv_bn(32, 64, 3)
     + conv_bn(64, 64, 3) + conv_bn(64, 64, 5) + conv_bn(64, 128, 4) + (128 * 10 + 10)),
])
def test_presets_shapes_and_parameter_counts(name, params):
    model = build_model(name)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert model.count_params() == params
    kinds = {type(layer).__name__ for layer in model.layers}
    assert ("BatchNormalization" in kinds) == PRESETS[name].batch_norm
    assert kinds >= {"Rescaling", "Conv2D", "Dense"}


def test_seed_model_overfits_a_tiny_batch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 28, 28), np.uint8)
    y = np.arange(16, dtype=np.uint8) % 10
    keras.utils.set_random_seed(0)
    model = build_model("seed")
    reps = np.tile(np.arange(16), 10)  # 10 steps of the same 16 images per epoch: 300 steps in all
    model.fit(x[reps].astype(np.float32)[..., None], y[reps], batch_size=16, epochs=30, verbose=0)
    assert np.array_equal(predict_proba(model, x).argmax(1), y)


def test_mixed_batches_hold_the_fraction_and_see_appended_cases(tmp_path):
    bank = tmp_path / "bank.h5"
    make_bank(bank, 50, marker=1, labels=range(1, 10), key="old")
    x = np.zeros((300, 28, 28), np.uint8)  # MNIST rows: pixel (0, 0) = 0
    stream = iter(train_dataset(x, np.zeros(300, np.uint8), bank, batch_size=40, mix=0.25, seed=3))
    first = [next(stream) for _ in range(10)]  # 10 * 10 = 100 bank rows: two passes over 50 cases
    for xb, yb in first:
        assert xb.shape == (40, 28, 28, 1) and xb.dtype == np.float32
        assert int((xb.numpy()[:, 0, 0, 0] > 0).sum()) == 10  # exactly round(0.25 * 40) from the bank
    make_bank(bank, 50, marker=2, labels=[9], key="new")  # appended while the stream is live
    later = np.concatenate([next(stream)[0].numpy()[:, 0, 0, 0] for _ in range(20)])
    assert (later == 2).sum() > 0 and (later == 1).sum() > 0


def test_missing_bank_means_mnist_only_and_balance_evens_classes(tmp_path):
    x, y = np.zeros((100, 28, 28), np.uint8), np.zeros(100, np.uint8)
    _, yb = next(iter(train_dataset(x, y, tmp_path / "none.h5", batch_size=32, mix=0.5)))
    assert yb.numpy().tolist() == [0] * 32
    bank = tmp_path / "skewed.h5"
    make_bank(bank, 200, marker=1, labels=[1] * 9 + [2], key="skewed")  # 90% ones, 10% twos
    drawn = np.concatenate([yb.numpy()[16:] for _, yb in
                            train_dataset(x, y, bank, batch_size=32, mix=0.5, balance=True).take(25)])
    share_of_twos = float(np.mean(drawn == 2))  # 400 draws: sd of a fair share is 0.025
    assert 0.4 < share_of_twos < 0.6


def test_only_trainable_cases_decide_and_reach_mixing(tmp_path):
    x, y = np.zeros((100, 28, 28), np.uint8), np.zeros(100, np.uint8)
    bank = tmp_path / "quarantined.h5"
    make_bank(bank, 30, marker=1, labels=[4], key="q", status=["ambiguous"] * 30)
    assert bank_size(bank) == 0  # 30 cases, none trainable: MNIST-only batches
    _, yb = next(iter(train_dataset(x, y, bank, batch_size=32, mix=0.5)))
    assert yb.numpy().tolist() == [0] * 32
    make_bank(bank, 30, marker=2, labels=[7], key="ok")
    assert bank_size(bank) == 30
    xs = np.concatenate([xb.numpy()[:, 0, 0, 0] for xb, _ in train_dataset(x, y, bank, batch_size=32, mix=0.5).take(8)])
    assert (xs == 2).sum() == 8 * 16 and (xs == 1).sum() == 0  # half of each batch, none quarantined


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # saved before any training step
def test_saved_model_loads_and_predicts_identically(tmp_path):
    model = build_model("strong")
    images = np.random.default_rng(1).integers(0, 256, (20, 28, 28), np.uint8)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    a, b = predict_proba(model, images), predict_proba(str(path), images)
    assert np.array_equal(a, b) and np.array_equal(a, predict_proba(again, images))
    assert a.shape == (20, 10) and np.allclose(a.sum(1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (300, 28, 28), np.uint8), np.arange(300, dtype=np.uint8) % 10
    np.savez(folder / "mnist.npz", x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:])
    pd.DataFrame(x[200:230].reshape(30, 784)).add_prefix("pixel").to_csv(folder / "test.csv", index=False)
    make_bank(folder / "bank.h5", 40, marker=1, labels=range(10), key="cli")
    return folder


def test_cli_train_evaluate_predict(tiny_mnist, tmp_path):
    from click.testing import CliRunner

    runner = CliRunner()
    npz, out = str(tiny_mnist / "mnist.npz"), str(tmp_path / "m.keras")
    res = runner.invoke(cli, ["train", "--mnist", npz, "--epochs", "2", "--bank", str(tiny_mnist / "bank.h5"),
                              "--mix-fraction", "0.25", "--batch-size", "32", "--out", out])
    assert res.exit_code == 0, res.output
    assert re.fullmatch(rf"{re.escape(out)}: best val_acc \d\.\d{{4}} at epoch [12]/2 in \d+ s\n", res.stdout)
    assert len(re.findall(r"^epoch \d/2: loss .* val_acc .* lr 1\.00e-03 \(", res.stderr, re.M)) == 2
    assert "bank mix 0.25" in res.stderr
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert len(history["history"]["val_accuracy"]) == 2 and history["config"]["mix_fraction"] == 0.25

    res = runner.invoke(cli, ["train", "--mnist", npz, "--epochs", "1", "--no-augment", "--init-model", out,
                              "--lr", "2.5e-4", "--out", str(tmp_path / "m2.keras"), "--json"])
    assert res.exit_code == 0, res.output
    assert re.search(r"^epoch 1/1: .* lr 2\.50e-04 \(", res.stderr, re.M)  # --lr replaces the preset's
    reported = json.loads(res.stdout)  # --json: the result as one object
    assert reported["model"] == str(tmp_path / "m2.keras") and reported["epochs"] == 1
    assert reported["config"]["lr"] == 2.5e-4 and reported["config"]["augment"] is False

    res = runner.invoke(cli, ["evaluate", out, "--mnist", npz, "--json", "--no-synthetic"])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.stdout)
    assert scores["n_val"] == 20 and scores["n_test"] == 100
    assert sum(map(sum, scores["confusion"])) == 100 and 0 <= scores["mnist_test_acc"] <= 1
    assert sorted(p.rsplit(".", 2)[1] for p in scores["plots"]) == ["confusion", "curves", "robustness"]
    rob = scores["robustness"]  # the real-digit suite on the 100 test digits
    from model.robustness import NAMES
    assert rob["split"] == "test" and rob["n"] == 100 and list(rob["per_variant"]) == list(NAMES)
    assert len(rob["matrix"]) == len(NAMES) and all(len(row) == 10 for row in rob["matrix"])
    assert rob["mean"] == pytest.approx(sum(rob["per_variant"].values()) / len(NAMES))

    plots = tmp_path / "plots"
    res = runner.invoke(cli, ["evaluate", out, "--mnist", npz, "--eval-per-cell", "2", "--plots", str(plots)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"{out} on {npz}"
    assert re.fullmatch(r"val accuracy        \d\.\d{4} \(20 images\)", lines[1])
    assert re.fullmatch(r"test accuracy       \d\.\d{4} \(100 images\)", lines[2])
    assert re.fullmatch(r"per class \(test\)    " + " ".join(rf"{d}:\d\.\d{{3}}" for d in range(10)), lines[3])
    assert re.fullmatch(r"synthetic accuracy  \d\.\d{4} \(140 images\)", lines[4])  # 10 digits x 7 radii x 2
    assert [cell.split(":")[0] for cell in lines[5].split()[2:]] == ["0", "0.5", "1", "2", "3", "4", "5"]
    assert lines[6] == "real-digit robustness (test split, 100 digits per variant)"
    assert lines[7].split() == ["variant", "acc", *map(str, range(10))]
    assert [line.split()[0] for line in lines[8:8 + len(NAMES)]] == list(NAMES)
    assert re.fullmatch(r"mean +\d\.\d{3}( +\d\.\d{3}){10}", lines[8 + len(NAMES)])
    assert lines[-1] == "plots: " + ", ".join(str(plots / f"m.{n}.png")
                                             for n in ("confusion", "jitter", "robustness", "curves"))
    res = runner.invoke(cli, ["evaluate", out, "--mnist", npz, "--json", "--no-synthetic", "--no-plots",
                              "--no-robustness"])
    assert res.exit_code == 0 and "robustness" not in json.loads(res.stdout)

    sub = tmp_path / "submission.csv"
    res = runner.invoke(cli, ["predict", out, "--kaggle", str(tiny_mnist / "test.csv"), "--out", str(sub)])
    assert res.exit_code == 0 and res.stdout == f"wrote 30 predictions to {sub}\n"
    frame = pd.read_csv(sub)
    assert list(frame.columns) == ["ImageId", "Label"] and frame["ImageId"].tolist() == list(range(1, 31))
    assert frame["Label"].between(0, 9).all()


@pytest.mark.parametrize("args,message", [
    (["--preset", "big"], "error: hardmine train: Invalid value for '--preset': 'big' is not one of 'seed', "
                          "'strong'; see `hardmine train --help`\n"),
    (["--mix-fraction", "1.5"], "error: hardmine train: mix_fraction=1.5 is out of range; use a value in [0, 1)\n"),
    (["--out", "m.h5"], "error: train: cannot write m.h5: it must end in .keras\n"),
    (["--lr", "0"], "error: hardmine train: lr=0 is out of range; use a value in (0, 1]\n"),
])
def test_cli_train_refuses_bad_settings(tiny_mnist, args, message):
    from click.testing import CliRunner

    res = CliRunner().invoke(cli, ["train", "--mnist", str(tiny_mnist / "mnist.npz"), *args])
    assert res.exit_code == 2 and res.stderr == message


def test_train_help_states_each_presets_recommended_epochs():
    from click.testing import CliRunner
    text = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    for name, preset in PRESETS.items():
        assert f"{name} {preset.epochs}" in text, name
