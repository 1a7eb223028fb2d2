"""Moving cases in and out of a bank: .npz (numpy/Keras layouts) and Kaggle CSV.

    hardmine bank export bank.h5 --out cases.csv
    hardmine bank import bank.h5 --from my_errors.npz

Export writes ``images``/``labels`` (+ true, status, ids, pred, probs, round,
jitter) to .npz, or Kaggle's digit-recognizer layout (``label,pixel0..pixel783``)
to .csv; ``labels``/``label`` is the effective label (``store.review``).
Import reads the first of these pairs it finds in a .npz: images/labels, x/y,
x_train/y_train (+ x_test/y_test, as in keras' mnist.npz); images (N,28,28),
(N,784) or (N,28,28,1), uint8 or numbers in 0..255 (floats with max <= 1 are
taken as 0..1 and scaled); labels as digits or one-hot rows. A file is parsed
and checked completely before the bank is touched.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from typing import Callable

import numpy as np

from miner.config import HardmineError
from store.layout import bank_part
from store.review import NAMES, effective_labels
from store.layout import damage_is_an_error
from store.shards import Snapshot, check_rows, read_rows

# .npz layouts in order of preference; all present (images, labels) pairs of the first match are read
NPZ_LAYOUTS = ((("images", "labels"),), (("x", "y"),), (("x_train", "y_train"), ("x_test", "y_test")))
CSV_HEADER = ["label"] + [f"pixel{i}" for i in range(784)]
FORMATS = (".npz", ".csv")
TMP_SUFFIX = ".part"  # an export is written here, then renamed onto --out
# bank column read for each exported array (+ append, turned into round; labels and status come from review decisions)
EXPORT_COLUMNS = {"ids": "id", "images": "image", "true": "true", "pred": "pred", "probs": "probs",
                  "jitter": "jitter", "append": "append"}
STATUS_DTYPE = f"<U{max(map(len, NAMES))}"  # status names as fixed-width text: no pickle needed to load
# shape and dtype of each exported .npz array, for an export that selects no case
NPZ_EMPTY = {"ids": ((), np.int64), "images": ((28, 28), np.uint8), "labels": ((), np.uint8), "true": ((), np.uint8),
             "status": ((), STATUS_DTYPE), "pred": ((), np.int8), "probs": ((10,), np.float32),
             "jitter": ((), np.float32), "round": ((), np.int32)}


def check_format(path: str, what: str) -> str:
    """The extension of ``path`` if it is a format we read and write, else HardmineError."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise HardmineError(f"{what} {path}: unknown format {ext or '(none)'}; use a .npz or .csv file")
    return ext


def check_out(bank_path: str, out: str) -> str:
    """The format of export target ``out``; HardmineError if it is not .npz/.csv or
    if writing it (or its temp file) would overwrite one of the bank's own files."""
    ext = check_format(out, "export")
    for target in (out, out + TMP_SUFFIX):
        part = bank_part(bank_path, target)
        if part:
            raise HardmineError(f"export: --out {out} would overwrite the {part} of bank {bank_path}; "
                                "choose a path outside the bank's files")
    return ext


def _selected_blocks(snap: Snapshot, ids: np.ndarray):
    """Columns of the cases ``ids``, one block (<= 4096 cases) at a time, in bank order."""
    round_of = snap.manifest.appends["round"]
    marks = snap.manifest.marks()
    for s, a, z in snap.blocks(4096):
        f = snap.files[s]
        rows = np.flatnonzero(np.isin(f["id"][a:z], ids))
        if len(rows):
            cols = read_rows(f, where=rows + a)
            check_rows(snap.manifest.path, cols)  # a damaged case is refused, never exported
            block = {k: cols[col] for k, col in EXPORT_COLUMNS.items()}
            block["round"] = round_of[block.pop("append").astype(np.int64)]
            codes, relabels = marks.lookup(block["ids"])
            block["labels"] = effective_labels(block["true"], relabels)
            block["status"] = np.asarray(NAMES, STATUS_DTYPE)[codes]
            yield block


def _write_csv(fh, blocks) -> None:
    fh.write((",".join(CSV_HEADER) + "\n").encode())
    for b in blocks:  # one block of pixels in memory
        np.savetxt(fh, np.column_stack([b["labels"], b["images"].reshape(len(b["labels"]), 784)]), fmt="%d",
                   delimiter=",")


def _write_npz(fh, blocks) -> None:
    parts = list(blocks)  # .npz arrays are written whole
    arrays = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros((0,) + shape, dtype)
              for k, (shape, dtype) in NPZ_EMPTY.items()}
    np.savez(fh, **arrays)


WRITERS = {".csv": _write_csv, ".npz": _write_npz}


def _counted(blocks, progress: Callable[[int], None]):
    """``blocks`` as they are, calling ``progress(n)`` with each block's number of cases once it is used."""
    for block in blocks:
        yield block
        progress(len(block["ids"]))


def export_cases(bank_path: str, ids: np.ndarray, out: str,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write the cases ``ids`` to ``out`` (.npz or Kaggle .csv) atomically; returns how many.
    ``progress(n)``: called as each block of ``n`` cases has been read (and, for .csv, written)."""
    ext = check_out(bank_path, out)
    ids = np.asarray(ids, np.int64)
    tmp = out + TMP_SUFFIX
    try:
        with damage_is_an_error(bank_path), Snapshot(bank_path) as snap, open(tmp, "wb") as fh:
            blocks = _selected_blocks(snap, ids)
            WRITERS[ext](fh, blocks if progress is None else _counted(blocks, progress))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(ids)


def read_cases(path: str) -> dict[str, np.ndarray]:
    """Parse and check an import file: images (N,28,28) uint8, labels (N,) uint8,
    and pred/probs if the file carries them (our own .npz export does)."""
    ext = check_format(path, "import")
    if not os.path.isfile(path):
        raise HardmineError(f"import: {path} does not exist; check the --from path")
    try:
        cases = _read_csv(path) if ext == ".csv" else _read_npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # damaged, truncated
        if isinstance(exc, HardmineError):
            raise
        raise HardmineError(f"import {path}: cannot read it ({str(exc).splitlines()[0][:120]})") from None
    return cases


def _read_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        found = [[p for p in layout if p[0] in z and p[1] in z] for layout in NPZ_LAYOUTS]
        pairs = next((f for f in found if f), None)
        if pairs is None:
            keys = " or ".join("/".join(p) for layout in NPZ_LAYOUTS for p in layout)
            raise HardmineError(f"import {path}: no image/label arrays; expected keys {keys}")
        images = np.concatenate([_images(z[x], path) for x, _ in pairs])
        labels = np.concatenate([_labels(z[y], path) for _, y in pairs])
        out = {"images": images, "labels": labels}
        if pairs == list(NPZ_LAYOUTS[0]) and "pred" in z and "probs" in z:
            out["pred"] = _pred(z["pred"], len(labels), path)
            out["probs"] = _probs(z["probs"], out["pred"], path)
    if len(out["images"]) != len(out["labels"]):
        raise HardmineError(f"import {path}: {len(out['images'])} images but {len(out['labels'])} labels")
    return out


def _read_csv(path: str) -> dict[str, np.ndarray]:
    with open(path) as fh:
        header = fh.readline().strip().split(",")
        if header != CSV_HEADER:
            raise HardmineError(
                f"import {path}: header must be label,pixel0..pixel783 (Kaggle train.csv layout), "
                f"got {','.join(header[:3])}{',...' if len(header) > 3 else ''}"
            )
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64, ndmin=2)
    if table.size == 0:
        table = np.zeros((0, 785), np.int64)
    if table.shape[1] != 785:
        raise HardmineError(f"import {path}: rows have {table.shape[1]} values, expected 785")
    return {"images": _images(table[:, 1:], path), "labels": _labels(table[:, 0], path)}


def _images(x: np.ndarray, path: str) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise HardmineError(f"import {path}: images have shape {x.shape}; expected (N, 28, 28), (N, 784) or (N, 28, 28, 1)")
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise HardmineError(f"import {path}: images have dtype {x.dtype}; expected numbers 0..255")
    if np.issubdtype(x.dtype, np.floating) and x.size and np.nanmax(x) <= 1.0:
        x = x * 255.0  # Keras-style 0..1 scaling
    if x.size and (not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 255):
        raise HardmineError(f"import {path}: pixel values must lie in 0..255")
    return np.rint(x).astype(np.uint8)


def _labels(y: np.ndarray, path: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 10:
        y = y.argmax(axis=1)  # one-hot
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.number):
        raise HardmineError(f"import {path}: labels have shape {y.shape}; expected (N,) digits or (N, 10) one-hot")
    if y.size and (np.any(y != np.rint(y)) or y.min() < 0 or y.max() > 9):
        raise HardmineError(f"import {path}: labels must be digits 0..9")
    return y.astype(np.uint8)


def _pred(p: np.ndarray, n: int, path: str) -> np.ndarray:
    """Predicted digits: (N,) integers in 0..9, or -1 for unknown; a float like 2.7 is refused, not truncated."""
    if p.shape != (n,) or not np.issubdtype(p.dtype, np.number):
        raise HardmineError(f"import {path}: pred has shape {p.shape} and dtype {p.dtype}; expected ({n},) digits")
    if p.size and (not np.all(np.isfinite(p)) or np.any(p != np.rint(p)) or p.min() < -1 or p.max() > 9):
        raise HardmineError(f"import {path}: pred must be whole digits 0..9 (or -1 for unknown)")
    return p.astype(np.int8)


def _probs(p: np.ndarray, pred: np.ndarray, path: str) -> np.ndarray:
    """Class probabilities: (N, 10) numbers in [0, 1]. A case of unknown prediction
    (pred -1, as our export writes imported cases) may carry a row of NaN; any
    other NaN, an inf or a negative is refused."""
    n = len(pred)
    if p.shape != (n, 10) or not np.issubdtype(p.dtype, np.number):
        raise HardmineError(f"import {path}: probs has shape {p.shape} and dtype {p.dtype}; expected ({n}, 10)")
    unknown = (pred < 0) & np.all(np.isnan(p), axis=1)
    rows = p[~unknown]
    if rows.size and (not np.all(np.isfinite(rows)) or rows.min() < 0 or rows.max() > 1):
        raise HardmineError(f"import {path}: probs must be probabilities in [0, 1]; found NaN, inf or values "
                            "outside [0, 1] (only a case with pred -1 may have a row of NaN)")
    return p.astype(np.float32)


def import_key(path: str) -> str:
    """Default idempotency key: importing the same file twice adds its cases once."""
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:16]
    return f"import:{os.path.basename(path)}:{digest}"
