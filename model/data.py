"""MNIST from whatever the user has: Keras ``.npz``, IDX files or Kaggle CSVs.

    python -c "from model.data import load_mnist; print(load_mnist('mnist.npz'))"

Where the data comes from, in order: an explicit path, ``$HARDMINE_MNIST``,
Keras' own download and cache (``keras.datasets.mnist.load_data``); offline with
nothing found, one :class:`HardmineError` line says how to point at a file.

Formats are a table (:data:`FORMATS`): a reader per kind of path, each
returning ``{"train": (x, y), "test": (x, y)}``. Everything read is validated
(shape, pixel range, labels, lengths) with an error naming the file and the
problem, then a stratified validation split is held out of the training set.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from miner.config import HardmineError, require

ENV_VAR = "HARDMINE_MNIST"
HOW_TO = (f"pass --mnist PATH (a Keras mnist.npz, a directory of IDX files or a Kaggle train.csv) "
          f"or set {ENV_VAR}")

Split = tuple[np.ndarray, np.ndarray]  # x (N, 28, 28) uint8, y (N,) uint8


@dataclass(frozen=True)
class DataConfig:
    val_fraction: float = 0.1  # share of the training set held out for validation, 0 < f < 1 (notebook: 0.1)
    split_seed: int = 1984  # random_state of the stratified split (the notebook's random_seed)

    def __post_init__(self) -> None:
        require(0.0 < self.val_fraction < 1.0,
                f"DataConfig: val_fraction={self.val_fraction} must be between 0 and 1 (exclusive)")


@dataclass(frozen=True)
class Mnist:
    """Train/validation/test images (N, 28, 28) uint8 and labels (N,) uint8.

    ``x_test`` is empty when the source has no labelled test set (Kaggle's
    train.csv); evaluation then falls back to the validation split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it was read from, for logs and reports

    def __repr__(self) -> str:
        return (f"Mnist(train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, source={self.source!r})")


# ---------------------------------------------------------------- validation

def check_images(x: np.ndarray, where: str) -> np.ndarray:
    """(N, 28, 28) or (N, 784) numbers in 0..255 -> (N, 28, 28) uint8, or HardmineError."""
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    require(x.ndim == 3 and x.shape[1:] == (28, 28),
            f"{where}: images have shape {x.shape}, expected (N, 28, 28) or (N, 784); point at MNIST data")
    require(np.issubdtype(x.dtype, np.number),
            f"{where}: pixel values are {x.dtype}, expected numbers 0..255")
    if x.dtype != np.uint8 and x.size:
        lo, hi = float(x.min()), float(x.max())
        require(lo >= 0 and hi <= 255 and np.all(x == np.round(x)),
                f"{where}: pixel values span {lo:g}..{hi:g}, expected integers 0..255 (unscaled MNIST)")
    return x.astype(np.uint8, copy=False)


def check_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """(N,) integers 0..9 matching ``n`` images -> (N,) uint8, or HardmineError."""
    y = np.asarray(y).reshape(-1)
    require(len(y) == n, f"{where}: {len(y)} labels for {n} images; the files do not belong together")
    require(np.issubdtype(y.dtype, np.number) and (y.size == 0 or np.all(y == np.round(y))),
            f"{where}: labels are not integers")
    if y.size:
        require(y.min() >= 0 and y.max() <= 9, f"{where}: labels span {y.min()}..{y.max()}, expected 0..9")
    return y.astype(np.uint8)


# -------------------------------------------------------------------- readers

def read_npz(path: Path) -> dict[str, Split]:
    """Keras' mnist.npz: arrays x_train, y_train, x_test, y_test."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # damaged, truncated
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise HardmineError(f"{path}: not a readable .npz file ({reason}); {HOW_TO}") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    require(not missing, f"{path}: missing arrays {', '.join(missing)}; expected Keras' mnist.npz layout")
    return {s: (arrays[f"x_{s}"], arrays[f"y_{s}"]) for s in ("train", "test")}


IDX_FILES = {  # (split, part) -> file stem, as distributed by LeCun and mirrors
    ("train", "x"): "train-images-idx3-ubyte",
    ("train", "y"): "train-labels-idx1-ubyte",
    ("test", "x"): "t10k-images-idx3-ubyte",
    ("test", "y"): "t10k-labels-idx1-ubyte",
}
IDX_NDIM = {"x": 3, "y": 1}  # images (N, 28, 28), labels (N,)


def read_idx_file(path: Path, ndim: int) -> np.ndarray:
    """One IDX file (raw or .gz): magic 0x0000 08 <ndim>, big-endian dims, uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise HardmineError(f"{path}: cannot read IDX file ({exc})") from None
    require(len(raw) >= 4 + 4 * ndim and raw[:3] == b"\x00\x00\x08" and raw[3] == ndim,
            f"{path}: not an IDX file of {ndim}-D unsigned bytes (bad magic number)")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    require(data.size == int(np.prod(dims)),
            f"{path}: header says {dims} ({int(np.prod(dims))} bytes) but {data.size} bytes follow; "
            "the file is truncated or corrupt")
    return data.reshape(dims)


def find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise HardmineError(f"{folder}: no {stem}[.gz]; an IDX directory needs all four MNIST files")


def read_idx(paths: Sequence[Path]) -> dict[str, Split]:
    """IDX files: a directory holding all four, or the four files themselves."""
    if len(paths) == 1 and paths[0].is_dir():
        files = {key: find_idx(paths[0], stem) for key, stem in IDX_FILES.items()}
    else:
        files = {}
        for key, stem in IDX_FILES.items():
            hits = [p for p in paths if p.name.replace(".idx", "-idx").startswith(stem)]
            require(len(hits) == 1, f"{', '.join(map(str, paths))}: expected exactly one {stem}[.gz]")
            files[key] = hits[0]
    arrays = {key: read_idx_file(p, IDX_NDIM[key[1]]) for key, p in files.items()}
    return {s: (arrays[(s, "x")], arrays[(s, "y")]) for s in ("train", "test")}


def read_kaggle_csv(path: Path, need_label: bool = True) -> Split:
    """Kaggle Digit Recognizer CSV: optional ``label`` column, then 784 pixel columns."""
    import pandas as pd  # pandas' import cost is paid only for CSV input

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise HardmineError(f"{path}: not a readable CSV file ({exc})") from None
    has_label = "label" in frame.columns
    require(has_label or not need_label,
            f"{path}: no 'label' column; training needs Kaggle's train.csv (test.csv is for hardmine predict)")
    labels = frame.pop("label").to_numpy() if has_label else np.zeros(0, np.uint8)
    require(frame.shape[1] == 784, f"{path}: {frame.shape[1]} pixel columns, expected 784 (28x28)")
    x = check_images(frame.to_numpy(), str(path))
    y = check_labels(labels, len(x), str(path)) if has_label else labels
    return x, y


def read_csv(paths: Sequence[Path]) -> dict[str, Split]:
    x, y = read_kaggle_csv(paths[0])
    return {"train": (x, y), "test": (x[:0], y[:0])}  # Kaggle keeps its test labels secret


def _is_idx(p: Path) -> bool:
    return any(p.name.replace(".idx", "-idx").startswith(stem) for stem in IDX_FILES.values())


def _csv_dir(p: Path) -> bool:
    return p.is_dir() and (p / "train.csv").is_file()


# (name, predicate on the given paths, reader). First match wins.
FORMATS: list[tuple[str, Callable[[list[Path]], bool], Callable[[list[Path]], dict[str, Split]]]] = [
    ("keras npz", lambda ps: len(ps) == 1 and ps[0].suffix == ".npz", lambda ps: read_npz(ps[0])),
    ("kaggle csv", lambda ps: len(ps) == 1 and ps[0].suffix == ".csv", read_csv),
    ("kaggle csv dir", lambda ps: len(ps) == 1 and _csv_dir(ps[0]), lambda ps: read_csv([ps[0] / "train.csv"])),
    ("idx dir", lambda ps: len(ps) == 1 and ps[0].is_dir(), read_idx),
    ("idx files", lambda ps: len(ps) == 4 and all(map(_is_idx, ps)), read_idx),
]


def read_any(paths: Sequence[str | os.PathLike]) -> dict[str, Split]:
    """Pick the reader for ``paths`` from :data:`FORMATS` and validate what it returns."""
    ps = [Path(p).expanduser() for p in paths]
    for p in ps:
        require(p.exists(), f"{p}: no such file or directory; {HOW_TO}")
    where = ", ".join(map(str, ps))
    for _name, matches, reader in FORMATS:
        if matches(ps):
            splits = reader(ps)
            break
    else:
        raise HardmineError(f"{where}: unknown MNIST format; expected .npz, .csv, a directory of IDX "
                            "files or the four IDX files")
    out = {}
    for split, (x, y) in splits.items():
        x = check_images(x, f"{where} ({split} images)")
        out[split] = (x, check_labels(y, len(x), f"{where} ({split} labels)"))
    require(len(out["train"][1]) > 0, f"{where}: the training set is empty")
    return out


def keras_download() -> dict[str, Split]:
    """Keras' own MNIST download (cached in ~/.keras/datasets). Imports TensorFlow."""
    import keras

    (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    return {"train": (xtr, ytr), "test": (xte, yte)}


def resolve(path: str | os.PathLike | Sequence[str | os.PathLike] | None) -> tuple[dict[str, Split], str]:
    """Explicit path > $HARDMINE_MNIST > Keras download/cache > one-line error."""
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is not None:
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        return read_any(paths), ", ".join(map(str, paths))
    try:
        return keras_download(), "keras.datasets.mnist"
    except Exception as exc:  # offline: URLError, OSError, HTTP errors, all mean the same to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HardmineError(f"MNIST not found: no path given, {ENV_VAR} unset and Keras could not "
                            f"download it ({reason}); {HOW_TO}") from None


def stratified_split(x: np.ndarray, y: np.ndarray, cfg: DataConfig) -> tuple[Split, Split]:
    """Hold out ``cfg.val_fraction`` of (x, y), stratified by label, reproducibly."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y, minlength=10)
    classes = int((counts > 0).sum())
    n_val = int(np.ceil(cfg.val_fraction * len(y)))
    # sklearn refuses to stratify classes of one example or splits smaller than the class count
    ok = counts[counts > 0].min() >= 2 and classes <= n_val <= len(y) - classes
    stratify = y if ok else None
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=cfg.val_fraction,
                                                random_state=cfg.split_seed, stratify=stratify)
    return (x_tr, y_tr), (x_val, y_val)


def load_mnist(path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
               cfg: DataConfig = DataConfig()) -> Mnist:
    """Load, validate and split MNIST (see the module docstring for where it looks)."""
    splits, source = resolve(path)
    (x_tr, y_tr), (x_val, y_val) = stratified_split(*splits["train"], cfg)
    return Mnist(x_tr, y_tr, x_val, y_val, *splits["test"], source=source)


def load_kaggle_test(path: str | os.PathLike) -> np.ndarray:
    """Kaggle's test.csv (no label column) -> (N, 28, 28) uint8, for ``hardmine predict``."""
    p = Path(path).expanduser()
    require(p.is_file(), f"{p}: no such file; pass Kaggle's test.csv")
    return read_kaggle_csv(p, need_label=False)[0]


__all__ = ["DataConfig", "Mnist", "load_mnist", "load_kaggle_test", "FORMATS", "ENV_VAR",
           "check_images", "check_labels"]
