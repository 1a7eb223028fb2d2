"""Rebuilding a lost main file from the bank's self-describing shards.

    hardmine bank recover bank.h5

Each shard holds whole rows: id, the index of its append, image, labels,
probabilities, generator fields and checksum. What the main file alone held is
rebuilt where the rows allow and marked where they do not:

* shard list, next id, next shard number: exact (from the shard files);
* appends: one per append index found, ``first_id``/``rows`` spanning its
  surviving ids; ``source`` is inferred (``synthetic`` if any of its rows has a
  generator jitter, else ``imported``); ``time`` is the shard file's date;
  ``key`` becomes ``recovered-<index>``, ``round`` -1, ``model_id`` ``unknown``
  (lost: a flow re-running a recovered round appends it again, and round
  filters no longer tell recovered rounds apart);
* review decisions are not in shards: every case gets ``--status`` (default
  ok; ``ambiguous`` quarantines the whole bank until it is reviewed again).

A shard whose ids also occur in a newer shard (higher number) was superseded
by a compaction or prune whose clean-up was cut short; it is left out (and
the next writer deletes it, as for any unlisted shard).
"""

from __future__ import annotations

import os
import time

import h5py
import numpy as np

from miner.config import HardmineError
from store.bank import _add, _decide, writer_lock
from store.layout import Manifest, new_manifest, shard_dir, shard_files, write_manifest
from store.review import status_code
from store.schema import COLUMNS
from store.verify import verify_bank

LOST = dict(round=-1, model_id="unknown")  # append fields no shard records
KEY_PREFIX = "recovered-"


def _read_shard(path: str, name: str) -> dict:
    """ids, append indices and jitter of one shard; HardmineError if it is not a readable shard."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            rows = len(f["id"]) if "id" in f else -1
            for col, c in COLUMNS.items():
                if col not in f or f[col].shape != (rows,) + c.shape or f[col].dtype != np.dtype(c.dtype):
                    raise HardmineError(f"recover: shard {name} lacks a well-formed column {col}; "
                                        f"move it out of the shards folder and run recover again")
            return dict(name=name, id=f["id"][()], append=f["append"][()].astype(np.int64), jitter=f["jitter"][()],
                        time=os.path.getmtime(path))
    except OSError as exc:
        raise HardmineError(f"recover: shard {name} cannot be read ({str(exc).splitlines()[0][:80]}); "
                            "move it out of the shards folder and run recover again") from None


def recover_bank(path: str, status: str = "ok", fsync: bool = True) -> dict:
    """Write a main file for the shards of the bank at ``path`` (whose main file is
    missing) under the writer's lock; returns counts for the report."""
    path = os.fspath(path)
    code = status_code(status, "recover")
    if os.path.exists(path):
        raise HardmineError(f"recover: bank {path} exists; recover only rebuilds a missing main file "
                            f"(check the bank with `hardmine bank verify {path}`)")
    names = shard_files(path)
    if not names:
        raise HardmineError(f"recover: {shard_dir(path)} holds no shard files; nothing to recover")
    fd = writer_lock(path)
    try:
        if os.path.exists(path):  # another process rebuilt or created it while we took the lock
            raise HardmineError(f"recover: bank {path} exists now; nothing to recover")
        m = new_manifest(path)
        shards, superseded = [], []
        claimed = np.zeros(0, np.int64)
        for name in sorted(names, key=lambda n: int(n[:-3]), reverse=True):  # newest first
            s = _read_shard(m.shard_path(name), name)
            if np.isin(s["id"], claimed).any():
                superseded.append(name)
                continue
            claimed = np.concatenate([claimed, s["id"]])
            shards.append(s)
        _fill(m, shards, names)
        if code:
            _decide(m, np.sort(claimed), code, -1, by="recover", key="", now=time.time())
        write_manifest(m, fsync)
    finally:
        os.close(fd)
    findings, cases = verify_bank(path)
    return dict(cases=cases, shards=len(shards), superseded=len(superseded), appends=len(m.appends["key"]),
                status=status, findings=findings)


def _fill(m: Manifest, shards: list[dict], names: list[str]) -> None:
    ids = np.concatenate([s["id"] for s in shards]) if shards else np.zeros(0, np.int64)
    append = np.concatenate([s["append"] for s in shards]) if shards else np.zeros(0, np.int64)
    jitter = np.concatenate([s["jitter"] for s in shards]) if shards else np.zeros(0, np.float32)
    when = np.concatenate([np.full(len(s["id"]), s["time"]) for s in shards]) if shards else np.zeros(0)
    for a in range(int(append.max()) + 1 if len(append) else 0):
        mine = append == a
        first = int(ids[mine].min()) if mine.any() else 0
        _add(m.appends, key=f"{KEY_PREFIX}{a}", source="synthetic" if np.isfinite(jitter[mine]).any() else "imported",
             time=float(when[mine].min()) if mine.any() else 0.0, first_id=first,
             rows=int(ids[mine].max()) - first + 1 if mine.any() else 0, **LOST)
    for s in sorted(shards, key=lambda s: int(s["id"].min()) if len(s["id"]) else -1):
        _add(m.shards, name=s["name"], rows=len(s["id"]), min_id=int(s["id"].min()) if len(s["id"]) else 0,
             max_id=int(s["id"].max()) if len(s["id"]) else -1)
    m.next_id = int(ids.max()) + 1 if len(ids) else 0
    m.next_shard = max(int(n[:-3]) for n in names) + 1
