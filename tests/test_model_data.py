"""MNIST loaders on tiny files of every format, and every kind of bad file (no TensorFlow)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pandas as pd
import pytest

from miner.config import HardmineError
from model import data as D


def tiny(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


TRAIN, TEST = tiny(100, 0), tiny(20, 1)


def write_idx(path, arr: np.ndarray, gz: bool) -> None:
    raw = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def write_idx_dir(folder, gz: bool) -> list:
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {("train", "x"): TRAIN[0], ("train", "y"): TRAIN[1], ("test", "x"): TEST[0], ("test", "y"): TEST[1]}
    paths = []
    for key, stem in D.IDX_FILES.items():
        paths.append(folder / (stem + suffix))
        write_idx(paths[-1], arrays[key], gz)
    return paths


def write_csv(path, x, y=None) -> None:
    frame = pd.DataFrame(x.reshape(len(x), 784), columns=[f"pixel{i}" for i in range(784)])
    if y is not None:
        frame.insert(0, "label", y)
    frame.to_csv(path, index=False)


def assert_split(m: D.Mnist, n_train: int, n_test: int) -> None:
    x_all = np.concatenate([m.x_train, m.x_val])
    assert len(m.y_val) == n_train // 10 and len(x_all) == n_train
    assert x_all.dtype == np.uint8 and x_all.shape[1:] == (28, 28)
    assert sorted(map(bytes, x_all)) == sorted(map(bytes, TRAIN[0]))  # a partition, nothing lost
    assert np.bincount(m.y_val, minlength=10).tolist() == [n_train // 100] * 10  # stratified
    assert len(m.y_test) == n_test


def test_npz(tmp_path):
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=TRAIN[0], y_train=TRAIN[1], x_test=TEST[0], y_test=TEST[1])
    m = D.load_mnist(p)
    assert_split(m, 100, 20)
    assert np.array_equal(m.x_test, TEST[0]) and m.source == str(p)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_and_four_files(tmp_path, gz):
    paths = write_idx_dir(tmp_path / "idx", gz)
    for arg in (tmp_path / "idx", paths[::-1]):
        m = D.load_mnist(arg)
        assert_split(m, 100, 20)
        assert np.array_equal(m.y_test, TEST[1])


def test_kaggle_csv_file_and_directory(tmp_path):
    write_csv(tmp_path / "train.csv", *TRAIN)
    for arg in (tmp_path / "train.csv", tmp_path):
        assert_split(D.load_mnist(arg), 100, 0)


def test_kaggle_test_csv_for_prediction(tmp_path):
    write_csv(tmp_path / "test.csv", TEST[0])
    assert np.array_equal(D.load_kaggle_test(tmp_path / "test.csv"), TEST[0])
    with pytest.raises(HardmineError, match=r"test.csv: no 'label' column; training needs"):
        D.load_mnist(tmp_path / "test.csv")


def test_split_is_reproducible_and_seeded(tmp_path):
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=TRAIN[0], y_train=TRAIN[1], x_test=TEST[0], y_test=TEST[1])
    a, b = D.load_mnist(p), D.load_mnist(p)
    c = D.load_mnist(p, D.DataConfig(split_seed=7))
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)


def test_env_var_is_used_when_no_path(tmp_path, monkeypatch):
    p = tmp_path / "m.npz"
    np.savez(p, x_train=TRAIN[0], y_train=TRAIN[1], x_test=TEST[0], y_test=TEST[1])
    monkeypatch.setenv(D.ENV_VAR, str(p))
    assert D.load_mnist().source == str(p)


def test_offline_without_path_says_how_to_point_at_a_file(monkeypatch):
    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setattr(D, "keras_download", offline)
    with pytest.raises(HardmineError) as exc:
        D.load_mnist()
    assert str(exc.value) == (
        "MNIST not found: no path given, HARDMINE_MNIST unset and Keras could not download it "
        "(URL fetch failure: no network); pass --mnist PATH (a Keras mnist.npz, a directory of IDX files "
        "or a Kaggle train.csv) or set HARDMINE_MNIST")


def bad_npz(tmp_path, **over):
    arrays = dict(x_train=TRAIN[0], y_train=TRAIN[1], x_test=TEST[0], y_test=TEST[1]) | over
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("over,message", [
    (dict(x_train=np.zeros((100, 27, 28), np.uint8)), r"bad.npz \(train images\): images have shape \(100, 27, 28\)"),
    (dict(x_test=np.full((20, 28, 28), 300.0)), r"\(test images\): pixel values span 300..300, expected integers 0..255"),
    (dict(x_train=np.full((100, 28, 28), 0.5)), r"pixel values span 0.5..0.5"),
    (dict(y_train=np.full(100, 10)), r"\(train labels\): labels span 10..10, expected 0..9"),
    (dict(y_test=np.zeros(19, np.uint8)), r"\(test labels\): 19 labels for 20 images"),
    (dict(x_train=np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, np.uint8)), r"the training set is empty"),
])
def test_bad_npz_contents_name_file_and_problem(tmp_path, over, message):
    with pytest.raises(HardmineError, match=message):
        D.load_mnist(bad_npz(tmp_path, **over))


def test_npz_missing_arrays_and_garbage(tmp_path):
    p = tmp_path / "partial.npz"
    np.savez(p, x_train=TRAIN[0], y_train=TRAIN[1])
    with pytest.raises(HardmineError, match=r"partial.npz: missing arrays x_test, y_test"):
        D.load_mnist(p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(HardmineError, match=r"junk.npz: not a readable .npz file"):
        D.load_mnist(tmp_path / "junk.npz")


def test_bad_idx_files(tmp_path):
    paths = write_idx_dir(tmp_path / "idx", gz=False)
    paths[1].write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 12)  # labels file with an images header
    with pytest.raises(HardmineError, match=r"train-labels-idx1-ubyte: not an IDX file of 1-D unsigned bytes"):
        D.load_mnist(tmp_path / "idx")
    write_idx_dir(tmp_path / "idx", gz=False)
    paths[0].write_bytes(paths[0].read_bytes()[:-5])
    with pytest.raises(HardmineError, match=r"train-images-idx3-ubyte: header says \(100, 28, 28\) .* truncated"):
        D.load_mnist(tmp_path / "idx")
    paths[3].unlink()
    with pytest.raises(HardmineError, match=r"no t10k-labels-idx1-ubyte\[.gz\]; an IDX directory needs all four"):
        D.load_mnist(tmp_path / "idx")


def test_bad_csv_files(tmp_path):
    narrow = pd.DataFrame(TRAIN[0].reshape(100, 784)[:, :700]).add_prefix("pixel")
    narrow.insert(0, "label", TRAIN[1])
    narrow.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(HardmineError, match=r"train.csv: 700 pixel columns, expected 784"):
        D.load_mnist(tmp_path / "train.csv")
    labels = TRAIN[1].astype(int)
    labels[3] = -1
    write_csv(tmp_path / "train.csv", TRAIN[0], labels)
    with pytest.raises(HardmineError, match=r"train.csv: labels span -1..9"):
        D.load_mnist(tmp_path / "train.csv")


def test_missing_and_unknown_paths(tmp_path):
    with pytest.raises(HardmineError, match=r"nope.npz: no such file or directory; pass --mnist PATH"):
        D.load_mnist(tmp_path / "nope.npz")
    (tmp_path / "mnist.h5").write_bytes(b"")
    with pytest.raises(HardmineError, match=r"mnist.h5: unknown MNIST format"):
        D.load_mnist(tmp_path / "mnist.h5")


def test_config_range_check():
    with pytest.raises(HardmineError, match=r"DataConfig: val_fraction=1.5 must be between 0 and 1"):
        D.DataConfig(val_fraction=1.5)
