"""Shard files: writing them once, and reading a consistent set of them.

    python -c "from store.shards import Snapshot; s = Snapshot('bank.h5'); print(len(s))"

A shard holds one dataset per column of ``store.schema.COLUMNS``, rows sorted
by id. Shards are never modified: appends add shards, compaction and pruning
write new ones and drop old ones from the main file. A :class:`Snapshot` opens
the main file and then every shard it lists; an open file survives its
deletion on POSIX, so a reader keeps a consistent view while a writer moves on.
"""

from __future__ import annotations

import os
from typing import Iterable

import h5py
import numpy as np

from miner.config import HardmineError
from store.layout import READ_ERRORS, Manifest, damage_is_an_error, read_manifest, shard_dir, shard_name, write_atomically
from store.schema import COLUMNS, checksums

OPEN_RETRIES = 5  # times a reader re-reads the main file if a shard vanished under it


def write_shard(m: Manifest, parts: Iterable[dict[str, np.ndarray]], rows: int, chunk_rows: int,
                compression: str | None, sync: bool = True) -> str:
    """Write the concatenation of ``parts`` (``rows`` rows in all) as a new shard
    of ``m``; returns its file name. ``parts`` is consumed one at a time, so
    merging shards holds one part in memory, not the result."""
    name = shard_name(m.next_shard)
    m.next_shard += 1
    os.makedirs(shard_dir(m.path), exist_ok=True)
    # Uncompressed shards are contiguous: written once, read by slices, no chunk
    # index. Compressed ones need chunks; equal chunks that tile ``rows`` exactly
    # (a 10,000-row shard with 4,096-row chunks would allocate 12,288 rows).
    chunk = -(-rows // -(-rows // chunk_rows)) if rows else 1

    def fill(f: h5py.File) -> None:
        sets = {
            col: f.create_dataset(col, (rows,) + c.shape, c.dtype, compression=compression,
                                  chunks=(chunk,) + c.shape if compression else None)
            for col, c in COLUMNS.items()
        }
        at = 0
        for part in parts:
            n = len(part["id"])
            for col, ds in sets.items():
                ds[at:at + n] = part[col]
            at += n
        if at != rows:
            raise RuntimeError(f"shard {name}: wrote {at} rows, expected {rows}")

    write_atomically(m.shard_path(name), fill, sync)
    return name


def read_rows(f: h5py.File, start: int = 0, stop: int | None = None, names=None, where=None) -> dict[str, np.ndarray]:
    """Columns ``names`` (default all) of rows ``start:stop`` of an open shard,
    or of the increasing row indices ``where`` if given."""
    names = names or COLUMNS
    if where is None:
        return {n: f[n][start:stop] for n in names}
    where = np.asarray(where, np.int64)
    if not len(where):
        return {n: np.zeros((0,) + COLUMNS[n].shape, COLUMNS[n].dtype) for n in names}
    lo, hi = int(where[0]), int(where[-1]) + 1
    if hi - lo <= 4 * len(where) + 1024:  # a dense run: one slice read beats HDF5 point selection
        return {n: f[n][lo:hi][where - lo] for n in names}
    return {n: f[n][where] for n in names}


def check_rows(path: str, cols: dict[str, np.ndarray]) -> None:
    """HardmineError naming the first row of ``cols`` (every column) whose checksum fails:
    readers that hand out pixels or labels refuse damaged cases instead of returning them."""
    bad = np.flatnonzero(checksums(cols) != cols["crc"])
    if len(bad):
        case = int(cols["id"][bad[0]])
        raise HardmineError(
            f"bank {path}: case {case} fails its checksum (damaged on disk); keep it out of training and exports "
            f"with `hardmine bank review {path} --reject --id {case}`, see `hardmine bank verify {path}`"
        )


def merged_parts(files: list[h5py.File], keep: np.ndarray | None, step: int):
    """(rows, parts): the rows of ``files`` whose id is in ``keep`` (all if None),
    merged into id order and yielded ``step`` rows at a time."""
    ids = [f["id"][()] for f in files]
    src = np.concatenate([np.full(len(i), s) for s, i in enumerate(ids)]) if ids else np.zeros(0, int)
    row = np.concatenate([np.arange(len(i)) for i in ids]) if ids else np.zeros(0, int)
    all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    order = np.argsort(all_ids, kind="stable")
    if keep is not None:
        order = order[np.isin(all_ids[order], keep)]

    def parts():
        for a in range(0, len(order), step):
            sel = order[a:a + step]
            part = {n: np.zeros((len(sel),) + c.shape, c.dtype) for n, c in COLUMNS.items()}
            for s in np.unique(src[sel]):
                mine = src[sel] == s  # rows of one shard within an id-sorted run are increasing
                data = read_rows(files[s], where=row[sel][mine])
                for n in part:
                    part[n][mine] = data[n]
            yield part

    return len(order), parts()


class Snapshot:
    """The bank as of one read of its main file, every listed shard kept open."""

    def __init__(self, path: str):
        for _ in range(OPEN_RETRIES):
            self.manifest = read_manifest(path)
            self.files: list[h5py.File] = []
            try:
                for name in self.manifest.shards["name"]:
                    self.files.append(h5py.File(self.manifest.shard_path(name), "r", locking=False))
                return
            except READ_ERRORS:
                self.close()
                # A writer compacted between our two reads and removed a shard we were about to
                # open: h5py says FileNotFoundError, or a bare OSError ("can't retrieve stat info")
                # when the file goes mid-open. Look again; a listed shard that exists and still
                # fails to open is a real error.
                if all(os.path.exists(self.manifest.shard_path(n)) for n in self.manifest.shards["name"]):
                    with damage_is_an_error(path):
                        raise
        raise HardmineError(f"bank {path}: shards keep disappearing while opening it; run `hardmine bank verify {path}`")

    def __len__(self) -> int:
        return self.manifest.rows

    def close(self) -> None:
        for f in self.files:
            f.close()
        self.files = []

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def column(self, name: str) -> np.ndarray:
        """One column over the whole bank (for small columns: ids, labels, ...)."""
        c = COLUMNS[name]
        with damage_is_an_error(self.manifest.path):
            parts = [f[name][()] for f in self.files]
        return np.concatenate(parts) if parts else np.zeros((0,) + c.shape, c.dtype)

    def blocks(self, block_rows: int) -> list[tuple[int, int, int]]:
        """(shard, start, stop) pieces of at most ``block_rows`` rows covering the bank."""
        out = []
        for s, rows in enumerate(self.manifest.shards["rows"]):
            out += [(s, a, min(a + block_rows, int(rows))) for a in range(0, int(rows), block_rows)]
        return out

    def rows_by_id(self, ids, names=None) -> dict[str, np.ndarray]:
        """Columns of the cases ``ids`` in the given order; HardmineError for unknown ids."""
        with damage_is_an_error(self.manifest.path):
            return self._rows_by_id(ids, names)

    def _rows_by_id(self, ids, names=None) -> dict[str, np.ndarray]:
        ids = np.asarray(ids, np.int64).reshape(-1)
        out = {n: np.zeros((len(ids),) + COLUMNS[n].shape, COLUMNS[n].dtype) for n in (names or COLUMNS)}
        found = np.zeros(len(ids), bool)
        sh = self.manifest.shards
        for s, f in enumerate(self.files):
            want = np.flatnonzero((ids >= sh["min_id"][s]) & (ids <= sh["max_id"][s]))
            if not len(want):
                continue
            shard_ids = f["id"][()]
            pos = np.clip(np.searchsorted(shard_ids, ids[want]), 0, len(shard_ids) - 1)
            hit = shard_ids[pos] == ids[want]
            want, pos = want[hit], pos[hit]
            rows, inverse = np.unique(pos, return_inverse=True)  # h5py wants increasing indices
            part = read_rows(f, names=list(out), where=rows)
            for n in out:
                out[n][want] = part[n][inverse]
            found[want] = True
        if not found.all():
            raise HardmineError(
                f"bank {self.manifest.path}: no case with id {int(ids[~found][0])}; list ids with `hardmine bank list`"
            )
        return out
