"""What a round tells its user: the Prefect artifacts (markdown, table, progress)
and the text they are made of.

    python -c "from flows.report import round_markdown; print(round_markdown({'round': 0, 'val_acc': 0.99}, None))"

Per round: a markdown artifact ``mine-and-retrain-round-<k>`` (the round's
metrics and what was mined, by class and jitter) and the table artifact
``mine-and-retrain-metrics`` (every completed round so far, one row each).
Across rounds: the progress artifact ``mine-and-retrain-progress`` and the
picture ``plots/rounds.png`` (MNIST and per-jitter synthetic accuracy, round by
round). The text builders are pure so they are tested without Prefect;
``publish_*`` call the Prefect API and must run inside a flow or task run.
"""

from __future__ import annotations

from typing import Any, Mapping
from uuid import UUID

import numpy as np
import pandas as pd

from model.guard import SUITE_PREFIX
from model.robustness import N_CLASSES, NAMES as VARIANTS

PROGRESS_KEY = "mine-and-retrain-progress"
TABLE_KEY = "mine-and-retrain-metrics"


def round_key(k: int) -> str:
    return f"mine-and-retrain-round-{k}"


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def metrics_markdown(row: Mapping[str, Any]) -> str:
    """A two-column markdown table of one metrics row."""
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in row.items()]
    return "\n".join(lines)


def mined_markdown(mined: pd.DataFrame | None) -> str:
    """Digits stored this round as a class x jitter count table (rows: digit)."""
    if mined is None or mined.empty or mined.to_numpy().sum() == 0:
        return "Nothing was mined this round."
    header = "| digit | " + " | ".join(f"j={c:g}" for c in mined.columns) + " | total |"
    lines = [header, "|---" * (len(mined.columns) + 2) + "|"]
    for digit, counts in mined.iterrows():
        cells = " | ".join(str(int(c)) for c in counts)
        lines.append(f"| {digit} | {cells} | {int(counts.sum())} |")
    totals = " | ".join(str(int(c)) for c in mined.sum(axis=0))
    lines.append(f"| **all** | {totals} | {int(mined.to_numpy().sum())} |")
    return "\n".join(lines)


def round_markdown(row: Mapping[str, Any], mined: pd.DataFrame | None) -> str:
    k = row.get("round")
    verdict = {True: "promoted to current", False: "kept, not promoted"}.get(
        bool(row["promoted"]) if "promoted" in row else None, "")
    title = f"# mine-and-retrain, round {k}" + (f" ({verdict})" if verdict else "")
    suite = {name: value for name, value in row.items() if name.startswith(SUITE_PREFIX)}
    rest = {name: value for name, value in row.items() if name not in suite}
    parts = [title]
    if row.get("promote_reason"):
        parts.append(f"**Promotion guard:** {row['promote_reason']}")
    parts += ["## Real-digit robustness (validation split)", suite_markdown(suite),
              "## Metrics", metrics_markdown(rest),
              "## Mined (stored in the bank), by class and jitter", mined_markdown(mined)]
    return "\n\n".join(parts)


def suite_markdown(suite: Mapping[str, Any]) -> str:
    """The robustness suite's columns of a row: one table of variants, one of classes."""
    if not suite:
        return "Not measured this round."
    variants = {n: suite[f"{SUITE_PREFIX}_{n}"] for n in VARIANTS if f"{SUITE_PREFIX}_{n}" in suite}
    classes = {str(d): suite[f"{SUITE_PREFIX}_c{d}"] for d in range(N_CLASSES) if f"{SUITE_PREFIX}_c{d}" in suite}
    lines = [f"mean over variants: **{_fmt(suite.get(SUITE_PREFIX + '_mean'))}**", "",
             "| " + " | ".join(variants) + " |", "|---" * len(variants) + "|",
             "| " + " | ".join(_fmt(v) for v in variants.values()) + " |", "",
             "| class | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|",
             "| accuracy | " + " | ".join(_fmt(v) for v in classes.values()) + " |"]
    return "\n".join(lines)


def mined_frame(counts: np.ndarray, radii: tuple[float, ...]) -> pd.DataFrame:
    """(10 digits x len(radii)) counts of stored digits as a labelled frame."""
    table = pd.DataFrame(np.asarray(counts, dtype=np.int64).reshape(10, len(radii)),
                         columns=[float(r) for r in radii])
    table.index.name, table.columns.name = "digit", "jitter"
    return table


def table_rows(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """metrics.csv as JSON-friendly rows for a table artifact (NaN -> None)."""
    clean = rows.astype(object).where(pd.notna(rows), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in clean.to_dict(orient="records")]


def progress_percent(done_rounds: int, total_rounds: int) -> float:
    return 100.0 * min(done_rounds, total_rounds) / max(total_rounds, 1)


def rounds_png(rows: pd.DataFrame, path) -> str:
    """Accuracy over rounds: MNIST test (thick black), the real-digit robustness
    suite's mean (thick red) and each jitter radius of the synthetic evaluation
    set; hollow markers = rounds not promoted."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    jitter_columns = [c for c in rows.columns if c.startswith("acc_j")]
    colours = dict(zip(jitter_columns, np.linspace(0.15, 0.9, max(len(jitter_columns), 1))))
    for column in jitter_columns:
        ax.plot(rows["round"], rows[column], marker=".", color=_cmap(colours[column]),
                label=f"synthetic, jitter {column[5:]}")
    ax.plot(rows["round"], rows["mnist_test_acc"], marker="o", color="black", linewidth=2.5,
            label="MNIST test")
    refused = rows[~rows["promoted"].astype(bool)]
    ax.plot(refused["round"], refused["mnist_test_acc"], "o", mfc="white", color="black")
    real = [c for c in (f"{SUITE_PREFIX}_mean",) if c in rows]
    for column in real:  # the yardstick: real digits under real-world changes
        ax.plot(rows["round"], rows[column], marker="s", color="tab:red", linewidth=2.5,
                label="real-digit robustness suite (val)")
    lowest = float(np.nanmin(rows[jitter_columns + ["mnist_test_acc"] + real].to_numpy(np.float64)))
    ax.set(xlabel="round", ylabel="accuracy", ylim=(max(0.0, np.floor(lowest * 10) / 10 - 0.05), 1.005),
           title="mine-and-retrain")
    ax.set_xticks(rows["round"].tolist())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return str(path)


def _cmap(x: float):
    from matplotlib import colormaps
    return colormaps["viridis"](x)


# ---- Prefect side (needs a run context)

def publish_round(row: Mapping[str, Any], mined: pd.DataFrame | None, rows: pd.DataFrame) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    k = int(row["round"])
    create_markdown_artifact(markdown=round_markdown(row, mined), key=round_key(k),
                             description=f"round {k}: metrics and what was mined")
    create_table_artifact(table=table_rows(rows), key=TABLE_KEY,
                          description="metrics.csv: one row per completed round")


def start_progress(done_rounds: int, total_rounds: int) -> UUID:
    from prefect.artifacts import create_progress_artifact
    return create_progress_artifact(progress=progress_percent(done_rounds, total_rounds),
                                    key=PROGRESS_KEY,
                                    description=f"rounds completed out of {total_rounds}")


def update_progress(artifact_id: UUID, done_rounds: int, total_rounds: int) -> None:
    from prefect.artifacts import update_progress_artifact
    update_progress_artifact(artifact_id=artifact_id,
                             progress=progress_percent(done_rounds, total_rounds),
                             description=f"{done_rounds} of {total_rounds} rounds completed")
