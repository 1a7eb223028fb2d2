"""On-disk layout of a bank and its one atomic step: replacing a file.

    python -c "from store.layout import read_manifest; print(read_manifest('bank.h5'))"

A bank named ``bank.h5`` is
  ``bank.h5``          the small main file (HDF5): attributes, the shard list,
                       the appends table (keys, rounds, model ids, sources, times),
                       the review decisions (``store.review``; absent before schema 2);
  ``bank.h5.shards/``  immutable shard files, one or more appends each;
  ``bank.h5.lock``     the writer's lock file (``flock``), never holds data.
Every file is written under a temporary name, fsynced and ``os.replace``d into
place, so a reader (or a writer killed with SIGKILL) sees the old or the new
file, never half of one. The main file is replaced last: a shard it does not
list yet does not exist for readers, and the next writer deletes it.
"""

from __future__ import annotations

import os
import re
import socket
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import h5py
import numpy as np

from miner.config import HardmineError
from store.review import REVIEW_CASE_COLUMNS, REVIEW_COLUMNS, Marks
from store.schema import APPEND_COLUMNS, FORMAT, SCHEMA_VERSION

TMP_SUFFIX = ".tmp"  # files being written; never read, removed by the next writer
SHARD_COLUMNS = {"name": "str", "rows": "<i8", "min_id": "<i8", "max_id": "<i8"}
# main-file group -> its columns; Manifest has one attribute per group. Review
# groups are optional on read: banks written before them have no decisions.
TABLES = {"shards": SHARD_COLUMNS, "appends": APPEND_COLUMNS, "reviews": REVIEW_COLUMNS,
          "review_cases": REVIEW_CASE_COLUMNS}
OPTIONAL_TABLES = ("reviews", "review_cases")


SHARD_NAME = re.compile(r"\d{6,}\.h5")  # what write_shard names a shard: a plain file name in the shards folder


def shard_dir(path: str) -> str:
    return path + ".shards"


def shard_name(number: int) -> str:
    return f"{number:06d}.h5"


def is_shard_name(name: str) -> bool:
    return SHARD_NAME.fullmatch(name) is not None


def shard_files(path: str) -> list[str]:
    """Sorted names of the shard files in the bank's shards folder (listed by the main file or not)."""
    folder = shard_dir(path)
    return sorted(n for n in os.listdir(folder) if is_shard_name(n)) if os.path.isdir(folder) else []


def lock_path(path: str) -> str:
    return path + ".lock"


def bank_part(path: str, other: str) -> str | None:
    """Which of the bank's own files ``other`` is ("main file", "shards folder",
    "lock file"), after resolving links; None if it is none of them."""
    real = os.path.realpath(other)
    if real == os.path.realpath(path):
        return "main file"
    if real == os.path.realpath(lock_path(path)):
        return "lock file"
    shards = os.path.realpath(shard_dir(path))
    if real == shards or real.startswith(shards + os.sep):
        return "shards folder"
    return None


@dataclass
class Manifest:
    """The contents of the main file: everything but the rows."""

    path: str  # the main file the user names
    created: str  # ISO time of creation, UTC
    created_by: str  # "hardmine <version> on <host>"
    next_id: int = 0  # first id of the next append; ids are never reused
    next_shard: int = 0  # number of the next shard file
    schema: int = 1  # raised on write to what the contents need (needed_schema)
    shards: dict[str, np.ndarray] = field(default_factory=lambda: _empty(SHARD_COLUMNS))
    appends: dict[str, np.ndarray] = field(default_factory=lambda: _empty(APPEND_COLUMNS))
    reviews: dict[str, np.ndarray] = field(default_factory=lambda: _empty(REVIEW_COLUMNS))
    review_cases: dict[str, np.ndarray] = field(default_factory=lambda: _empty(REVIEW_CASE_COLUMNS))

    @property
    def rows(self) -> int:
        return int(self.shards["rows"].sum())

    def shard_path(self, name: str) -> str:
        """Path of shard ``name``; never outside the shards folder (names are checked on read)."""
        if not is_shard_name(name):
            raise HardmineError(_bad_name(self.path, name))
        return os.path.join(shard_dir(self.path), name)

    def marks(self) -> Marks:
        """Current review status and relabel of every case that has a decision."""
        return Marks(self.reviews, self.review_cases)

    def needed_schema(self) -> int:
        """The lowest schema version that reads this manifest right (see store.schema)."""
        return 2 if len(self.reviews["key"]) else 1


def _bad_name(path: str, name: str) -> str:
    return (f"bank {path}: the main file lists shard {name!r}, which is not a shard file name (NNNNNN.h5 in "
            f"{shard_dir(path)}); the main file is damaged or was altered, nothing was opened or deleted; move it aside "
            f"and rebuild it from the shards with `hardmine bank recover {path}`")


def _empty(columns: dict) -> dict[str, np.ndarray]:
    return {k: np.zeros(0, object if d == "str" else d) for k, d in columns.items()}


def new_manifest(path: str) -> Manifest:
    try:
        from importlib.metadata import version

        ver = version("hardmine")
    except Exception:  # not installed: still a valid bank
        ver = "unknown"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Manifest(path=path, created=now, created_by=f"hardmine {ver} on {socket.gethostname()}")


def check_bank(path: str) -> Manifest:
    """Read the main file of the bank at ``path``; HardmineError if it is missing,
    not a bank, or written by a newer hardmine."""
    return read_manifest(path)


# What h5py and numpy raise on a damaged file: a flipped byte can surface as any of these.
READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError)


class DamagedBank(HardmineError):
    """A bank file that h5py could open but not read through: ``verify`` reports it as a finding."""


@contextmanager
def damage_is_an_error(path: str) -> Iterator[None]:
    """Turn a low-level failure while reading the bank at ``path`` into one
    HardmineError line: a damaged bank is refused, never half-read or a traceback."""
    try:
        yield
    except HardmineError:
        raise
    except READ_ERRORS as exc:
        detail = (str(exc).splitlines() or [""])[0][:120]
        raise DamagedBank(f"bank {path} is damaged ({type(exc).__name__}: {detail}); "
                            f"run `hardmine bank verify {path}`") from None


def read_manifest(path: str) -> Manifest:
    path = os.fspath(path)
    if not os.path.exists(path):
        if shard_files(path):
            raise HardmineError(f"bank {path} does not exist but {shard_dir(path)} holds shards (was the main file "
                                f"deleted?); rebuild it with `hardmine bank recover {path}`")
        raise HardmineError(f"bank {path} does not exist; check the path (a writer such as `hardmine bank import` creates it)")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError:
        raise HardmineError(f"{path} is not a hardmine bank (not an HDF5 file); check the path") from None
    with f, damage_is_an_error(path):
        attrs = f.attrs
        if attrs.get("format") != FORMAT or "shards" not in f or "appends" not in f:
            raise HardmineError(f"{path} is not a hardmine bank (no '{FORMAT}' format attribute); check the path")
        schema = int(attrs["schema_version"])
        if schema > SCHEMA_VERSION:
            raise HardmineError(
                f"bank {path} has schema version {schema} but this hardmine reads up to {SCHEMA_VERSION}; upgrade hardmine"
            )
        m = Manifest(
            path=path,
            created=str(attrs["created"]),
            created_by=str(attrs["created_by"]),
            next_id=int(attrs["next_id"]),
            next_shard=int(attrs["next_shard"]),
            schema=schema,
            **{name: _read_columns(f[name], columns) for name, columns in TABLES.items()
               if name in f or name not in OPTIONAL_TABLES},
        )
    bad = [n for n in m.shards["name"] if not is_shard_name(n)]
    if bad:
        raise HardmineError(_bad_name(path, bad[0]))
    return m


def table_crc(values: dict[str, np.ndarray], columns: dict) -> int:
    """crc32 of a main-file table (every column in order, strings as UTF-8 with a separator):
    the ``crc`` attribute of its group, so a flipped round or time cannot pass as intact."""
    crc = 0
    for name, dtype in columns.items():
        if dtype == "str":
            data = "\x00".join(str(v) for v in values[name]).encode()
        else:
            data = np.ascontiguousarray(np.asarray(values[name], dtype=dtype)).tobytes()
        crc = zlib.crc32(data, zlib.crc32(name.encode(), crc))
    return crc


def _read_columns(group: h5py.Group, columns: dict) -> dict[str, np.ndarray]:
    out = {}
    for name, dtype in columns.items():
        ds = group[name]
        out[name] = ds.asstr()[()] if dtype == "str" else ds[()]
        if dtype == "str":
            out[name] = np.asarray(out[name], dtype=object)
    if "crc" in group.attrs and int(group.attrs["crc"]) != table_crc(out, columns):  # banks before it: none
        raise DamagedBank(f"bank {group.file.filename} is damaged: its main file's {group.name.strip('/')} "
                          f"table fails its checksum; run `hardmine bank verify {group.file.filename}`")
    return out


def write_manifest(m: Manifest, sync: bool = True) -> None:
    """Atomically replace the main file with ``m``: the commit point of every change."""
    m.schema = max(m.schema, m.needed_schema())

    def fill(f: h5py.File) -> None:
        f.attrs.update(
            format=FORMAT, schema_version=m.schema, created=m.created, created_by=m.created_by,
            next_id=m.next_id, next_shard=m.next_shard,
        )
        for group, columns in TABLES.items():
            values = getattr(m, group)
            g = f.create_group(group)
            g.attrs["crc"] = table_crc(values, columns)
            for name, dtype in columns.items():
                kind = h5py.string_dtype() if dtype == "str" else dtype
                g.create_dataset(name, data=np.asarray(values[name], dtype=object if dtype == "str" else dtype), dtype=kind)

    write_atomically(m.path, fill, sync)


def write_atomically(path: str, fill, sync: bool = True) -> None:
    """Write an HDF5 file with ``fill(h5file)`` under a temp name, fsync it,
    and ``os.replace`` it onto ``path`` (atomic on POSIX), then fsync the directory."""
    tmp = f"{path}.{os.getpid()}{TMP_SUFFIX}"
    try:
        with h5py.File(tmp, "w", locking=False) as f:
            fill(f)
        if sync:
            fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if sync:
        fsync_path(os.path.dirname(os.path.abspath(path)))


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_bytes(m: Manifest) -> int:
    """Bytes on disk of the main file plus every shard it lists."""
    return os.path.getsize(m.path) + sum(os.path.getsize(m.shard_path(n)) for n in m.shards["name"])
