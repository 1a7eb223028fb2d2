"""Checking a bank: structure, cross-references and every case's checksum.

    hardmine bank verify bank.h5

Read-only, works while a writer appends (it checks the snapshot it opened).
Leftovers of a killed writer (temp files, shards the main file does not list)
are not findings: they were never committed, and the next writer removes them.
"""

from __future__ import annotations

import h5py
import numpy as np

from store.layout import READ_ERRORS, DamagedBank, read_manifest
from store.review import NAMES, NO_LABEL, RELABELLED, STATUSES
from store.schema import COLUMNS, N_CLASSES, checksums
from store.shards import read_rows

BLOCK_ROWS = 8192  # rows checksummed per read: 7 MB


def verify_bank(path: str) -> tuple[list[str], int]:
    """(findings, cases checked). No findings means the bank is intact.
    HardmineError if ``path`` is missing, not a bank, or of a newer schema."""
    try:
        m = read_manifest(path)
    except DamagedBank as exc:
        return [f"main file: {str(exc).split('; run ')[0]}"], 0
    findings: list[str] = []
    appends, shards = m.appends, m.shards
    if len(set(appends["key"])) != len(appends["key"]):
        findings.append("appends table repeats a key")
    seen_ids = []
    for s, name in enumerate(shards["name"]):
        try:
            with h5py.File(m.shard_path(name), "r", locking=False) as f:
                ids = _check_shard(f, name, int(shards["rows"][s]), appends, findings)
        except READ_ERRORS as exc:  # whatever h5py raises on a damaged shard is a finding, never a crash
            findings.append(f"shard {name} cannot be read ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})")
            continue
        if ids is not None:
            if len(ids) and (ids[0] != shards["min_id"][s] or ids[-1] != shards["max_id"][s]):
                findings.append(f"shard {name}: ids {ids[0]}..{ids[-1]} differ from the main file's range")
            seen_ids.append(ids)
    ids = np.concatenate(seen_ids) if seen_ids else np.zeros(0, np.int64)
    if len(np.unique(ids)) != len(ids):
        findings.append("some case ids occur in more than one shard")
    if len(ids) and ids.max() >= m.next_id:
        findings.append(f"case id {ids.max()} is not below next_id {m.next_id}")
    _check_reviews(m.reviews, m.review_cases, ids, findings)
    return findings, len(ids)


def _check_reviews(reviews, review_cases, ids: np.ndarray, findings: list[str]) -> None:
    """Decisions: known statuses, a label 0..9 exactly on relabels, unique keys,
    every entry pointing at a decision and at a case of the bank."""
    keys = [k for k in reviews["key"] if k]
    if len(set(keys)) != len(keys):
        findings.append("reviews table repeats a key")
    status, label = reviews["status"], reviews["label"].astype(np.int64)
    bad = np.flatnonzero(status >= len(NAMES))
    if len(bad):
        findings.append(f"review {bad[0]} has unknown status code {status[bad[0]]} ({len(bad)} such reviews)")
    relabel = status == STATUSES[RELABELLED].code
    wrong = np.flatnonzero(np.where(relabel, (label < 0) | (label >= N_CLASSES), label != NO_LABEL))
    if len(wrong):
        findings.append(f"review {wrong[0]} has label {label[wrong[0]]}: relabels need 0..9, other statuses none")
    rows = review_cases["review"]
    if len(rows) and rows.max() >= len(status):
        findings.append(f"review_cases point at review {rows.max()} beyond the reviews table")
    unknown = review_cases["id"][~np.isin(review_cases["id"], ids)]
    if len(unknown):
        findings.append(f"reviews name case {unknown[0]}, which is not in the bank ({len(unknown)} such entries)")


def _check_shard(f: h5py.File, name: str, rows: int, appends, findings: list[str]) -> np.ndarray | None:
    for col, c in COLUMNS.items():
        if col not in f:
            findings.append(f"shard {name}: column {col} is missing")
            return None
        ds = f[col]
        if ds.shape != (rows,) + c.shape or ds.dtype != np.dtype(c.dtype):
            findings.append(f"shard {name}: column {col} is {ds.shape} {ds.dtype}, expected {(rows,) + c.shape} {c.dtype}")
            return None
    ids = f["id"][()]
    if np.any(np.diff(ids) <= 0):
        findings.append(f"shard {name}: ids are not increasing")
    append = f["append"][()]
    if len(append) and append.max() >= len(appends["key"]):
        findings.append(f"shard {name}: rows point at append {append.max()} beyond the appends table")
        return ids
    first = appends["first_id"][append]
    if np.any((ids < first) | (ids >= first + appends["rows"][append])):
        findings.append(f"shard {name}: some ids lie outside the id range of their append")
    for a in range(0, rows, BLOCK_ROWS):
        cols = read_rows(f, a, a + BLOCK_ROWS)
        bad = np.flatnonzero(checksums(cols) != cols["crc"])
        if len(bad):
            findings.append(f"shard {name}: case {cols['id'][bad[0]]} fails its checksum ({len(bad)} in rows {a}..)")
    return ids
