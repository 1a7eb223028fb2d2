"""The run directory: its layout, ``metrics.csv``, and resume bookkeeping.

    python -c "from flows.rundir import RunDir; print(RunDir('runs/default').completed_rounds())"

Layout of ``RUN_DIR``::

    run.id                  this run's identity: bank keys are ``<run id>/round-<k>``
    metrics.csv             one row per completed round (the row is the commit mark)
    models/round-<k>.keras  every round's model, promoted or not
    models/current.keras    the promoted model the next round continues from
    budget/round-<k>.csv    the (digit, jitter) split round k generated with
    cases/round-<k>.npz     round k's selected cases, staged before the bank append
    plots/                  the model package's PNG plots
    bank.h5                 the hard-case bank (unless --bank says otherwise)

Resume rule: a round is completed when its metrics row is written, and the row
is written last. A rerun starts at the first round without a row; stages of a
half-done round are redone (the bank append is keyed by round, so the cases of
a round are stored exactly once, even in a bank shared by several runs), and
``models/current.keras`` is first put back to the last promoted completed round.

``run_dir`` may contain ``{date}``: it becomes the flow run's scheduled date
(UTC, ``YYYY-MM-DD``), so the nightly deployment makes one directory a night
and a rerun on the same day resumes it.
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

# Leading columns of metrics.csv; per-jitter accuracies and stage seconds follow.
FIRST_COLUMNS = ("round", "val_acc", "mnist_test_acc", "rob_val_mean", "synth_acc", "generated",
                 "invalid", "wrong", "mined", "ambiguous", "bank_size", "promoted", "current_round",
                 "promote_reason")


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    # ---- layout
    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def current(self) -> Path:
        return self.root / "models" / "current.keras"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def model(self, k: int) -> Path:
        return self.root / "models" / f"round-{k}.keras"

    def budget(self, k: int) -> Path:
        return self.root / "budget" / f"round-{k}.csv"

    def cases(self, k: int) -> Path:
        return self.root / "cases" / f"round-{k}.npz"

    def make(self) -> "RunDir":
        for sub in ("models", "budget", "cases", "plots"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self

    def run_id(self) -> str:
        """This run's identity, created on first use and kept for resumes."""
        path = self.root / "run.id"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("run.id.tmp")
            tmp.write_text(uuid.uuid4().hex[:12] + "\n")
            os.replace(tmp, path)
        return path.read_text().strip()

    def bank_key(self, k: int) -> str:
        return f"{self.run_id()}/round-{k}"

    # ---- metrics.csv
    def rows(self) -> pd.DataFrame:
        """The completed rounds' rows (empty frame if none)."""
        if not self.metrics.exists() or self.metrics.stat().st_size == 0:
            return pd.DataFrame(columns=list(FIRST_COLUMNS))
        return pd.read_csv(self.metrics)

    def completed_rounds(self) -> list[int]:
        return [int(k) for k in self.rows()["round"]]

    def next_round(self) -> int:
        done = self.completed_rounds()
        return max(done) + 1 if done else 0

    def append_row(self, row: dict) -> Path:
        """Append one round's row; rewrites the file atomically so a kill never
        leaves a half row (the header is the union of columns, in order)."""
        done = self.rows()
        new = pd.DataFrame([row])
        # concat with an empty frame would turn new integer columns into floats
        table = pd.concat([done, new], ignore_index=True) if len(done) else new
        columns = [c for c in FIRST_COLUMNS if c in table] + \
                  [c for c in table.columns if c not in FIRST_COLUMNS]
        tmp = self.metrics.with_suffix(".csv.tmp")
        table[columns].to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)
        os.replace(tmp, self.metrics)
        return self.metrics

    # ---- promotion state
    def current_state(self) -> tuple[int | None, float | None]:
        """(round, val_acc) of the current model according to the completed rows."""
        k, row = self.current_row()
        return k, None if row is None else float(row["val_acc"])

    def current_row(self) -> tuple[int | None, dict | None]:
        """(round, metrics row) of the current model according to the completed rows."""
        rows = self.rows()
        promoted = rows[rows["promoted"].astype(bool)] if len(rows) else rows
        if not len(promoted):
            return None, None
        last = promoted.iloc[-1]
        return int(last["round"]), last.to_dict()

    def restore_current(self) -> int | None:
        """Make ``models/current.keras`` the last promoted completed round's model
        (undoes a promotion of a round that was killed before its row)."""
        k, _ = self.current_state()
        if k is None:
            self.current.unlink(missing_ok=True)
            return None
        promote_copy(self.model(k), self.current)
        return k


def expand_run_dir(run_dir: str, when: datetime) -> str:
    """``run_dir`` with ``{date}`` replaced by ``when``'s date (YYYY-MM-DD)."""
    return run_dir.replace("{date}", when.strftime("%Y-%m-%d"))


def promote_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` over ``dst`` atomically (a reader never sees half a model)."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
