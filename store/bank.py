"""The hard-case bank: one writer appends atomically, any number of readers read.

    python -c "from store import Bank; b = Bank.open('bank.h5'); print(len(b), b.table().head())"

Every change (append, compaction, prune) writes new immutable shard files and
then commits by atomically replacing the main file (``store.layout``); a review
decision (``store.review``) changes only the main file. One
writer at a time holds ``flock`` on ``<bank>.lock``; readers never lock and see
the bank as of the moment they opened it.
"""

from __future__ import annotations

import copy
import fcntl
import logging
import os
import time
from typing import Literal

import numpy as np
from pydantic import Field

from miner.config import HardmineError, TransientError
from miner.settings import Settings, checked_replace
from store.layout import (damage_is_an_error, TMP_SUFFIX, Manifest, lock_path, new_manifest, read_manifest, shard_dir, shard_files,
                          write_manifest)
from store.retention import POLICIES, keep_ids
from store.review import RELABELLED, STATUSES, check_label, codes_of, status_code
from store.schema import SOURCES, build_rows
from store.shards import Snapshot, check_rows, merged_parts, write_shard

LOGGER = logging.getLogger("hardmine.store")
COMPRESSIONS = {"none": None, "lzf": "lzf", "gzip": "gzip"}


class BankConfig(Settings):
    chunk_rows: int = Field(4096, ge=1, description="rows per HDF5 chunk; 4096 rows of images = 3.2 MB")
    compression: Literal[tuple(COMPRESSIONS)] = Field(
        "none", description="none appends 5x faster (docs/store.md)")
    compact_below: int = Field(8192, ge=0, description="a shard with fewer rows is 'small'...")
    compact_at: int = Field(16, ge=2, description="...and this many small shards are merged into one")
    max_cases: int = Field(0, ge=0, description="size cap applied after every append; 0 = no cap")
    policy: Literal[tuple(POLICIES)] = Field("newest", description="what the cap keeps")
    fsync: bool = Field(True, description="fsync before each commit; off only for throwaway banks")


class Bank:
    """Open with :meth:`open`; use as a context manager."""

    def __init__(self, path: str, mode: str, config: BankConfig):
        self.path, self.mode, self.config = os.fspath(path), mode, config
        self._lock_fd: int | None = None
        self._snap: Snapshot | None = None
        self._manifest: Manifest | None = None

    @classmethod
    def open(cls, path, mode: str = "r", config: BankConfig | None = None, **overrides) -> "Bank":
        """``mode="r"``: read-only snapshot. ``mode="a"``: the one writer; creates the bank if missing."""
        if mode not in ("r", "a"):
            raise HardmineError(f"Bank.open: mode must be 'r' or 'a', got {mode!r}")
        config = checked_replace(config or BankConfig(), overrides)
        bank = cls(path, mode, config)
        if mode == "r":
            bank._snap = Snapshot(bank.path)
        else:
            bank._open_writer()
        return bank

    def _open_writer(self) -> None:
        if os.path.exists(self.path):
            read_manifest(self.path)  # refuse a non-bank before creating the lock file next to it
        else:
            refuse_new_over_shards(self.path)
        self._lock_fd = writer_lock(self.path)
        try:
            if os.path.exists(self.path):  # again: another writer may have created it while we waited
                self._manifest = read_manifest(self.path)
                self._remove_orphans()
            else:
                refuse_new_over_shards(self.path)
                self._manifest = new_manifest(self.path)
                write_manifest(self._manifest, self.config.fsync)
        except BaseException:
            self.close()  # release the lock: no Bank object will exist to do it
            raise

    def close(self) -> None:
        if self._snap is not None:
            self._snap.close()
            self._snap = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> "Bank":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # reading -------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        if self._snap is None:
            self._snap = Snapshot(self.path)
        return self._snap

    @property
    def manifest(self) -> Manifest:
        return self._manifest if self.mode == "a" else self.snapshot.manifest

    def __len__(self) -> int:
        return self.manifest.rows

    def table(self):
        """pandas DataFrame, one row per case, every field but the pixels."""
        from store.table import build_table

        with damage_is_an_error(self.path):  # a flipped append index or label: one line, not a traceback
            return build_table(self.snapshot)

    def images(self, ids) -> np.ndarray:
        """(n, 28, 28) uint8 images of the cases ``ids``, in that order; HardmineError
        if one of them fails its checksum."""
        rows = self.snapshot.rows_by_id(ids)  # every column: the checksum covers the whole row
        check_rows(self.path, rows)
        return rows["image"]

    def status_counts(self) -> dict[str, int]:
        """Cases per review status, every status present (``store.review.STATUSES`` order)."""
        codes, _ = self.manifest.marks().lookup(self.snapshot.column("id"))
        counts = np.bincount(codes, minlength=len(STATUSES))
        return {name: int(counts[s.code]) for name, s in STATUSES.items()}

    # writing -------------------------------------------------------------
    def _writer(self) -> Manifest:
        if self._lock_fd is None:
            raise HardmineError(f"bank {self.path} is open read-only; open it with mode='a' to change it")
        return self._manifest

    def append(self, images, true, pred, probs, params=None, *, round: int, model_id: str,
               source: str = "synthetic", key: str, status=None) -> np.ndarray:
        """Add cases atomically; returns their ids. A committed ``key`` is a no-op
        that returns the ids of that append still in the bank. ``status``: None
        (all ``ok``) or one status name or code per case (not ``relabelled``,
        which needs a label: review those afterwards), committed with the rows;
        recorded as decisions by ``append:<key>``."""
        m = self._writer()
        if not isinstance(key, str) or not key:
            raise HardmineError("bank append: key must be a non-empty string, e.g. 'round-3'")
        if source not in SOURCES:
            raise HardmineError(f"bank append: source must be one of {', '.join(SOURCES)}, got {source!r}")
        done = np.flatnonzero(m.appends["key"] == key)
        if len(done):
            a = int(done[0])
            ids = np.arange(m.appends["first_id"][a], m.appends["first_id"][a] + m.appends["rows"][a])
            return ids[np.isin(ids, self.snapshot.column("id"))]
        cols = build_rows(images, true, pred, probs, params, first_id=m.next_id, append=len(m.appends["key"]))
        n = len(cols["id"])
        codes = codes_of(status, n, "bank append")
        if np.any(codes == STATUSES[RELABELLED].code):
            raise HardmineError(f"bank append: status {RELABELLED} needs a label; append as ok, then review the cases")
        m = copy.deepcopy(m)
        try:  # up to the commit: a failure (a full disk) leaves the bank as it was
            shards = [self._write(m, [cols], n)] if n else []
            now = time.time()
            _add(m.appends, key=key, round=int(round), model_id=str(model_id), source=source, time=now,
                 first_id=m.next_id, rows=n)
            for code in np.unique(codes[codes != 0]):
                _decide(m, cols["id"][codes == code], int(code), -1, by=f"append:{key}", key="", now=now)
            m.next_id += n
            self._swap(m, [], shards)
        except OSError as exc:
            raise HardmineError(f"bank {self.path}: the append of {n} cases could not be written "
                                f"({exc.strerror or type(exc).__name__}); nothing was added; free disk space "
                                "and run it again") from None
        try:  # after the commit: housekeeping that fails costs nothing stored, so the append succeeded
            self._compact()
            if self.config.max_cases and len(self) > self.config.max_cases:
                self.prune(self.config.max_cases, self.config.policy)
        except OSError as exc:
            LOGGER.warning("bank %s: %d cases appended; compaction or pruning after it failed (%s) and "
                           "will be retried by the next writer", self.path, n, exc.strerror or exc)
        return cols["id"]

    def review(self, ids, status: str, label: int | None = None, *, by: str = "user", key: str | None = None) -> int:
        """Set the review ``status`` (a name of ``store.review.STATUSES``) of the cases
        ``ids`` in one atomic commit of the main file; ``label`` (0..9) only with
        ``relabelled``. Returns how many cases changed status or label: cases
        already in that state are not touched, so a repeated review returns 0 and
        writes nothing. A ``key`` committed before makes the call a no-op (0).
        HardmineError, nothing written, for an unknown id or a relabel to a case's
        own true label (use ``accepted``)."""
        m = self._writer()
        where = "bank review"
        code = status_code(status, where)
        stored = check_label(status, label, where)
        if key is not None and (not isinstance(key, str) or not key):
            raise HardmineError(f"{where}: key must be a non-empty string or None")
        if key is not None and key in set(m.reviews["key"]):
            return 0
        ids = np.unique(np.asarray(ids, np.int64).reshape(-1))
        true = self.snapshot.rows_by_id(ids, ["true"])["true"]  # HardmineError for an unknown id
        if status == RELABELLED and np.any(true == stored):
            first = int(ids[true == stored][0])
            raise HardmineError(
                f"{where}: case {first} already has true label {stored}; relabel to another digit or accept it"
            )
        codes, labels = m.marks().lookup(ids)
        changed = ids[(codes != code) | (labels != stored)]
        if not len(changed) and key is None:
            return 0
        m = copy.deepcopy(m)
        _decide(m, changed, code, stored, by=str(by), key=key or "", now=time.time())
        self._swap(m, [], [])
        return len(changed)

    def _write(self, m: Manifest, parts, rows: int) -> dict:
        """Write ``parts`` (id-sorted row dicts, ``rows`` in all) as a new shard; its shard-table row."""
        bounds = []

        def tracked():
            for p in parts:
                bounds.append((int(p["id"][0]), int(p["id"][-1])))
                yield p

        cfg = self.config
        name = write_shard(m, tracked(), rows, cfg.chunk_rows, COMPRESSIONS[cfg.compression], cfg.fsync)
        return dict(name=name, rows=rows, min_id=bounds[0][0], max_id=bounds[-1][1])

    def _swap(self, m: Manifest, old: list[int], new_rows: list[dict]) -> None:
        """Commit ``m`` with shards ``old`` replaced by ``new_rows``: replace the main
        file (the commit point), then delete the shards it no longer lists."""
        dropped = [m.shards["name"][s] for s in old]
        keep = np.setdiff1d(np.arange(len(m.shards["name"])), old)
        m.shards = {k: v[keep] for k, v in m.shards.items()}
        for row in new_rows:
            _add(m.shards, **row)
        order = np.argsort(m.shards["min_id"], kind="stable")
        m.shards = {k: v[order] for k, v in m.shards.items()}
        write_manifest(m, self.config.fsync)
        self._manifest = m
        if self._snap is not None:
            self._snap.close()  # open handles keep the dropped files readable until here
            self._snap = None
        for name in dropped:
            os.unlink(m.shard_path(name))

    def _compact(self) -> None:
        """Merge the small shards into one once there are ``compact_at`` of them."""
        m = copy.deepcopy(self._manifest)
        small = [int(s) for s in np.flatnonzero(m.shards["rows"] < self.config.compact_below)]
        if len(small) < self.config.compact_at:
            return
        rows, parts = merged_parts([self.snapshot.files[s] for s in small], None, self.config.chunk_rows)
        self._swap(m, small, [self._write(m, parts, rows)])

    def prune(self, keep: int, policy: str = "newest") -> int:
        """Keep ``keep`` cases chosen by ``policy`` in one atomic commit, rewriting
        only the shards that lose rows. Returns the number of cases removed."""
        m = copy.deepcopy(self._writer())
        snap = self.snapshot
        ids, true, probs = snap.column("id"), snap.column("true"), snap.column("probs")
        p_true = probs[np.arange(len(ids)), true] if len(ids) else np.zeros(0, np.float32)
        kept = keep_ids(ids, true, p_true, keep, policy)
        old, new = [], []
        for s, f in enumerate(snap.files):
            rows, parts = merged_parts([f], kept, self.config.chunk_rows)
            if rows == len(f["id"]):
                continue
            old.append(s)
            if rows:
                new.append(self._write(m, parts, rows))
        if old:
            gone = ~np.isin(m.review_cases["id"], kept)  # decisions about removed cases go with them
            m.review_cases = {k: v[~gone] for k, v in m.review_cases.items()}
            self._swap(m, old, new)
        return len(ids) - len(kept)

    def _remove_orphans(self) -> None:
        """Delete what a killed writer left behind: temp files and unlisted shards."""
        listed = set(self._manifest.shards["name"])
        folder = shard_dir(self.path)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            if name not in listed:
                os.unlink(os.path.join(folder, name))
        parent = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path) + "."
        for name in os.listdir(parent):
            if name.startswith(base) and name.endswith(TMP_SUFFIX):
                os.unlink(os.path.join(parent, name))


def writer_lock(path: str) -> int:
    """Take the one writer's ``flock`` on ``<bank>.lock``; returns the descriptor (closing it releases)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise HardmineError(f"bank {path}: directory {parent} does not exist; create it first")
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise TransientError(  # the one bank error that waiting can fix: the flow's store task retries it
            f"bank {path} is being written by another process (lock {lock_path(path)} is held); wait for it to finish"
        ) from None
    return fd


def refuse_new_over_shards(path: str) -> None:
    """A missing main file next to a shards folder that holds shards is a lost bank,
    not a new one: creating one would delete every shard as an orphan."""
    found = shard_files(path)
    if found:
        raise HardmineError(
            f"bank {path} does not exist but {shard_dir(path)} holds {len(found)} shard files (was the main file "
            f"deleted?); rebuild it with `hardmine bank recover {path}`, or move {shard_dir(path)} away for a new bank"
        )


def _decide(m: Manifest, ids: np.ndarray, code: int, label: int, *, by: str, key: str, now: float) -> None:
    """Record one decision about ``ids`` in ``m`` (committed by the caller's swap)."""
    _add(m.reviews, key=key, by=by, time=now, status=code, label=label)
    row = len(m.reviews["key"]) - 1
    m.review_cases["id"] = np.append(m.review_cases["id"], np.asarray(ids, np.int64))
    m.review_cases["review"] = np.append(m.review_cases["review"], np.full(len(ids), row, np.uint32))


def _add(columns: dict[str, np.ndarray], **row) -> None:
    for k, v in row.items():
        columns[k] = np.append(columns[k], np.array([v], dtype=columns[k].dtype))
