"""The promotion guard: a round's model replaces the current one only if it loses
nowhere that matters -- on MNIST validation, on the real-digit robustness suite's
mean, and on any single class of the suite.

    python -c "from model.guard import Tolerances, verdict; print(verdict({'val_acc': .99}, None, Tolerances()))"

Both models are described by their flat metrics (a ``metrics.csv`` row: ``val_acc``,
``rob_val_mean``, ``rob_val_c<digit>``, all on the validation split, which the
test-split reports never decide on). A check whose metric the current model's row
lacks (a run resumed from before the suite existed) is skipped, and the reason says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from model.robustness import N_CLASSES
from model.settings import Tolerances  # its defaults live with the other settings

SUITE_PREFIX = "rob_val"  # metrics.csv columns of the validation-side suite


@dataclass(frozen=True)
class Check:
    label: str                  # how a reason names the metric
    column: str                 # metrics.csv column
    tolerance: str              # field of Tolerances


CHECKS: tuple[Check, ...] = (
    Check("MNIST val", "val_acc", "val"),
    Check("suite mean", f"{SUITE_PREFIX}_mean", "suite_mean"),
    *(Check(f"suite class {d}", f"{SUITE_PREFIX}_c{d}", "suite_class") for d in range(N_CLASSES)),
)


def _number(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def verdict(new: Mapping[str, Any], current: Mapping[str, Any] | None,
            tol: Tolerances) -> tuple[bool, str]:
    """(promote?, reason). The first model is always promoted; a later one only if
    no check loses more than its tolerance. The reason names every failing check
    with both values, e.g. ``refused: suite class 6 0.9120 < 0.9350 - 0.010``."""
    if current is None:
        return True, "promoted: no current model"
    failures, skipped = [], []
    for check in CHECKS:
        was, now = _number(current, check.column), _number(new, check.column)
        if was is None or now is None:
            skipped.append(check.label)
            continue
        limit = getattr(tol, check.tolerance)
        if now < was - limit:
            failures.append(f"{check.label} {now:.4f} < {was:.4f} - {limit:g}")
    note = f" (not compared: {', '.join(skipped)})" if skipped else ""
    if failures:
        return False, "refused: " + "; ".join(failures) + note
    return True, "promoted: within tolerances" + note
