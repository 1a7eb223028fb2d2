"""Review status of hard cases: which are trainable, and under which label.

    python -c "import store.review as r; print({n: s.trainable for n, s in r.STATUSES.items()})"

A mined case can be quarantined by the label-noise guard (it looks like another
digit) and later accepted, rejected or relabelled by a person. Decisions live in
the main file, never in the shards: the ``reviews`` table holds one row per
decision (key, by, time, status, label) and ``review_cases`` one row per case a
decision changed (id, review). The status of a case is that of its last entry;
a case without one is ``ok``. Nothing here opens a bank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miner.config import HardmineError
from store.schema import N_CLASSES


@dataclass(frozen=True)
class Status:
    code: int  # stored in reviews.status; never renumber
    trainable: bool  # streamed into training (and exported by default)
    meaning: str


# name -> status; the one place that says which statuses exist and which train
STATUSES: dict[str, Status] = {
    "ok": Status(0, True, "not reviewed: trainable under its true label"),
    "ambiguous": Status(1, False, "quarantined by the label-noise guard: kept, never trained on until reviewed"),
    "accepted": Status(2, True, "a reviewer says the true label is right: trainable"),
    "rejected": Status(3, False, "a reviewer says the case is unusable: never trained on"),
    "relabelled": Status(4, True, "a reviewer gave a new label: trainable under it"),
}
DEFAULT = "ok"
RELABELLED = "relabelled"  # the one status that carries a label
NAMES = tuple(sorted(STATUSES, key=lambda n: STATUSES[n].code))  # code -> name
TRAINABLE = tuple(n for n in NAMES if STATUSES[n].trainable)
TRAINABLE_CODES = np.array([STATUSES[n].trainable for n in NAMES])  # code -> trainable
GROUPS = {"all": NAMES, "trainable": TRAINABLE}  # names --status accepts besides the statuses
NO_LABEL = -1  # reviews.label of a decision that is not a relabel

# main-file tables: name -> dtype ("str" = variable-length string)
REVIEW_COLUMNS: dict[str, object] = {
    "key": "str",  # idempotency key, "" = none
    "by": "str",  # who decided: a user name, or "append:<key>" for statuses set by an append
    "time": "<f8",  # unix seconds of the commit
    "status": "u1",  # code of the status
    "label": "i1",  # new label of a relabel, else NO_LABEL
}
REVIEW_CASE_COLUMNS: dict[str, object] = {
    "id": "<i8",  # case id
    "review": "<u4",  # row of the reviews table
}


def status_code(name: str, where: str) -> int:
    if name not in STATUSES:
        raise HardmineError(f"{where}: unknown status {name!r}; use one of {', '.join(NAMES)}")
    return STATUSES[name].code


def codes_of(status, n: int, where: str) -> np.ndarray:
    """(n,) uint8 codes from None (all ok), or a length-n array of status names or codes."""
    if status is None:
        return np.zeros(n, np.uint8)
    arr = np.asarray(status)
    if arr.shape != (n,):
        raise HardmineError(f"{where}: status must have one entry per case ({n}), got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        if n and (arr.min() < 0 or arr.max() >= len(NAMES)):
            raise HardmineError(f"{where}: status codes must be 0..{len(NAMES) - 1} ({', '.join(NAMES)})")
        return arr.astype(np.uint8)
    return np.array([status_code(str(s), where) for s in arr], np.uint8)


def parse_names(text: str, where: str) -> tuple[str, ...]:
    """Statuses named by ``--status`` text: comma-separated names or groups (all, trainable)."""
    out: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        names = GROUPS.get(word, (word,) if word in STATUSES else None)
        if names is None:
            raise HardmineError(f"{where}: unknown status {word!r}; use {', '.join([*NAMES, *GROUPS])}")
        out += [n for n in names if n not in out]
    return tuple(n for n in NAMES if n in out)


class Marks:
    """The current status and label of every reviewed case, from a manifest's tables."""

    def __init__(self, reviews: dict[str, np.ndarray], review_cases: dict[str, np.ndarray]):
        ids, rows = review_cases["id"], review_cases["review"].astype(np.int64)
        # the last entry of each id wins: unique() of the reversed table keeps first occurrences
        self.ids, first = np.unique(ids[::-1], return_index=True)  # (m,) sorted ids with a decision
        last = rows[::-1][first]
        self.codes = reviews["status"][last].astype(np.uint8) if len(last) else np.zeros(0, np.uint8)
        self.labels = reviews["label"][last].astype(np.int8) if len(last) else np.zeros(0, np.int8)

    def __bool__(self) -> bool:
        return bool(len(self.ids))

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(codes uint8, relabels int8, NO_LABEL where none) of ``ids``."""
        ids = np.asarray(ids, np.int64)
        codes, labels = np.zeros(len(ids), np.uint8), np.full(len(ids), NO_LABEL, np.int8)
        if len(self.ids) and len(ids):
            pos = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
            hit = self.ids[pos] == ids
            codes[hit], labels[hit] = self.codes[pos[hit]], self.labels[pos[hit]]
        return codes, labels


def effective_labels(true: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) uint8: the relabel where there is one, else the true label."""
    return np.where(labels >= 0, labels, true).astype(np.uint8)


def check_label(status: str, label, where: str) -> int:
    """The stored label of a decision: 0..9 for a relabel, NO_LABEL otherwise."""
    if status == RELABELLED:
        if label is None or not 0 <= int(label) < N_CLASSES:
            raise HardmineError(f"{where}: status {RELABELLED} needs a label 0..9, got {label!r}")
        return int(label)
    if label is not None:
        raise HardmineError(f"{where}: only status {RELABELLED} takes a label; drop label={label!r}")
    return NO_LABEL
