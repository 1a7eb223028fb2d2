"""What one hard case is: the per-row columns of a shard, the generator
parameter columns taken from ``miner.RECORD_DTYPE`` by name, and the per-case
checksum that ``hardmine bank verify`` recomputes.

    python -c "import store.schema as s; print(s.SCHEMA_VERSION, list(s.COLUMNS))"

Rows live in shard files (one HDF5 dataset per column); what is the same for a
whole append (key, round, model id, source, time) lives once in the main
file's ``appends`` table and each row points at it with ``append``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from miner.config import HardmineError

SCHEMA_VERSION = 2  # bump when a reader of the old version could misread a new bank
# 1: rows and appends. 2: + review decisions (store/review.py); a version-1 reader
# would train on quarantined cases, so a bank is written as 2 only once it holds
# a decision, and banks without any stay readable by version-1 hardmine.
FORMAT = "hardmine-bank"  # `format` attribute of the main file: "is this a bank?"
SOURCES = ("synthetic", "imported")  # allowed values of `source`
N_CLASSES = 10


@dataclass(frozen=True)
class Column:
    dtype: str  # numpy dtype of one element
    shape: tuple[int, ...] = ()  # per-row shape
    missing: float = 0  # value stored when an append does not provide it


# name -> per-row column of a shard. Order is the checksum order.
COLUMNS: dict[str, Column] = {
    "id": Column("<i8"),  # unique case id, increasing, never reused
    "append": Column("<u4"),  # row of the main file's appends table
    "image": Column("u1", (28, 28)),  # MNIST convention: white ink on black
    "true": Column("u1"),  # true label 0..9
    "pred": Column("i1", missing=-1),  # predicted label 0..9, -1 = unknown (imported)
    "probs": Column("<f4", (N_CLASSES,), missing=np.nan),  # class probabilities
    "jitter": Column("<f4", missing=np.nan),  # generator jitter, pixels
    "brush": Column("<f4", missing=np.nan),  # generator brush width, pixels
    "variant": Column("<u2"),  # generator variant bit flags
    "seed": Column("<u8"),  # generator seed
    "index": Column("<u8"),  # generator index under that seed
    "version": Column("<u2"),  # generator version
    "crc": Column("<u4"),  # crc32 of every other column of the row (checksums())
}

# generator fields copied from the params record by name (missing -> Column.missing)
PARAM_FIELDS = ("jitter", "brush", "variant", "seed", "index", "version")

# per-append metadata: name -> dtype of the main file's appends table columns
APPEND_COLUMNS: dict[str, object] = {
    "key": "str",  # idempotency key, unique within the bank
    "round": "<i4",  # mining round, -1 for imported cases
    "model_id": "str",  # model that mispredicted these cases
    "source": "str",  # one of SOURCES
    "time": "<f8",  # unix seconds when the append committed
    "first_id": "<i8",  # ids of the append are first_id .. first_id + rows - 1
    "rows": "<i8",  # number of cases the append brought
}

_CHECKED = [name for name in COLUMNS if name != "crc"]
_CHECK_DTYPE = np.dtype([(name, COLUMNS[name].dtype, COLUMNS[name].shape) for name in _CHECKED])


def checksums(cols: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) uint32 crc32 of each row's packed bytes (every column but ``crc``).

    ~1 us per row (1.0-1.4M rows/s measured), faster than a vectorised numpy
    multilinear hash we tried (0.55M rows/s, uint64 temporaries)."""
    n = len(cols["id"])
    packed = np.empty(n, _CHECK_DTYPE)  # (n,) packed rows, 868 bytes each
    for name in _CHECKED:
        packed[name] = cols[name]
    raw = packed.view(np.uint8).reshape(n, _CHECK_DTYPE.itemsize)
    return np.fromiter((zlib.crc32(row) for row in raw), np.uint32, n)


def build_rows(images, true, pred, probs, params, first_id: int, append: int) -> dict[str, np.ndarray]:
    """Check an append's arrays and turn them into shard columns (crc included)."""
    images = np.asarray(images)
    n = len(images)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise HardmineError(
            f"bank append: images must be (N, 28, 28) uint8, got {images.shape} {images.dtype}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    cols: dict[str, np.ndarray] = {"id": np.arange(first_id, first_id + n, dtype=np.int64)}
    cols["append"] = np.full(n, append, np.uint32)
    cols["image"] = images
    given = {"true": true, "pred": pred, "probs": probs}
    for name, value in given.items():
        col = COLUMNS[name]
        arr = np.full((n,) + col.shape, col.missing, col.dtype) if value is None else np.asarray(value)
        if arr.shape != (n,) + col.shape:
            raise HardmineError(
                f"bank append: {name} must have shape {(n,) + col.shape} to match {n} images, got {arr.shape}"
            )
        cols[name] = arr
    _check_labels(cols["true"], "true", low=0)
    _check_labels(cols["pred"], "pred", low=-1)
    cols["true"] = cols["true"].astype(np.uint8)
    cols["pred"] = cols["pred"].astype(np.int8)
    cols["probs"] = cols["probs"].astype(np.float32)
    _fill_params(cols, params, n)
    cols["crc"] = checksums(cols)
    return cols


def _check_labels(arr: np.ndarray, name: str, low: int) -> None:
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < low or arr.max() > 9):
        raise HardmineError(f"bank append: {name} labels must be integers {low}..9; check the {name} array")


def _fill_params(cols: dict[str, np.ndarray], params, n: int) -> None:
    fields = () if params is None else (params.dtype.names or ())
    if params is not None and len(params) != n:
        raise HardmineError(f"bank append: params has {len(params)} records for {n} images; pass one record per image")
    if "label" in fields and not np.array_equal(params["label"], cols["true"]):
        raise HardmineError("bank append: params['label'] differs from true; pass the records of these images")
    for name in PARAM_FIELDS:
        col = COLUMNS[name]
        cols[name] = (np.asarray(params[name]) if name in fields else np.full(n, col.missing)).astype(col.dtype)
