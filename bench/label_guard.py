"""How good is the label guard? Precision and recall against labels given by eye.

    python bench/label_guard.py sample runs/guard --n 240 --out docs/results/guard   # a run directory
    # a person writes docs/results/guard/labels.csv: sheet,cell,read (the digit they see, or ? if none)
    python bench/label_guard.py score docs/results/guard

``sample`` draws ``--n`` mined cases at random (seeded) from a bank and draws
them on numbered sheets *without* their labels or statuses, so whoever labels
them reads each digit blind, as a new writer's digit. ``score`` joins those
readings with the bank's labels and the guard's verdicts: a case is *label
noise* when the person read another digit or none (``?``) instead of its label.
Precision = share of quarantined cases that are label noise; recall = share of
label noise that was quarantined. ``score`` also prints what other reader
thresholds would have done (the reader's probabilities are read from the run's
staged ``cases/round-<k>.npz``), and the noise rate per jitter radius.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PER_SHEET = 40  # 8 x 5 cells, numbered 0..39
COLS = 8


THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


def staged_columns(run_dir: Path, table: pd.DataFrame) -> pd.DataFrame:
    """reader_p and jitter of every bank case, from the run's staged files: a round's
    cases are appended in staged order, so its k-th smallest id is staged row k."""
    parts = []
    for k, cases in table.sort_values("id").groupby("round"):
        path = run_dir / "cases" / f"round-{k}.npz"
        staged = np.load(path if path.exists() else run_dir / "mined" / f"round-{k}.npz")  # runs before cases/
        parts.append(pd.DataFrame({"id": cases["id"].to_numpy(), "reader_p": staged["reader_p"],
                                   "jitter": staged["records"]["jitter"]}))
    return pd.concat(parts)


def sample(run_dir: Path, n: int, out: Path, seed: int) -> None:
    import cv2

    from store import Bank
    with Bank.open(run_dir / "bank.h5") as bank:
        table = bank.table()
        table = table.drop(columns=["jitter"]).merge(staged_columns(run_dir, table), on="id")
        # random order on the sheets too: ids run by label, and a run of one label would cue the reader
        pick = np.random.default_rng(seed).choice(len(table), size=min(n, len(table)), replace=False)
        rows = table.iloc[pick].reset_index(drop=True)
        images = bank.images(rows["id"].to_numpy())
    out.mkdir(parents=True, exist_ok=True)
    rows = rows.assign(sheet=np.arange(len(rows)) // PER_SHEET, cell=np.arange(len(rows)) % PER_SHEET)
    rows[["sheet", "cell", "id", "true", "pred", "status", "reader_p", "jitter"]].to_csv(
        out / "sample.csv", index=False)
    scale = 4  # 28 px -> 112 px cells: big enough to judge by eye
    for sheet in range(int(rows["sheet"].max()) + 1):
        idx = np.flatnonzero(rows["sheet"].to_numpy() == sheet)
        n_rows = -(-len(idx) // COLS)
        canvas = np.full((n_rows * (28 * scale + 22), COLS * (28 * scale + 8)), 255, np.uint8)
        for j, i in enumerate(idx):
            r, c = divmod(j, COLS)
            y, x = r * (28 * scale + 22), c * (28 * scale + 8)
            cell = cv2.resize(255 - images[i], (28 * scale, 28 * scale), interpolation=cv2.INTER_NEAREST)
            canvas[y + 20:y + 20 + 28 * scale, x:x + 28 * scale] = cell
            cv2.putText(canvas, str(j), (x + 2, y + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1)
        cv2.imwrite(str(out / f"sheet-{sheet}.png"), canvas)
    print(f"wrote {len(rows)} cases on {int(rows['sheet'].max()) + 1} sheets in {out}; "
          f"label them in {out / 'labels.csv'} (columns sheet,cell,read)")


def score(folder: Path) -> None:
    cases = pd.read_csv(folder / "sample.csv")
    read = pd.read_csv(folder / "labels.csv", dtype={"read": str})
    joined = cases.merge(read, on=["sheet", "cell"], how="left", validate="one_to_one")
    if joined["read"].isna().any():
        sys.exit(f"label_guard: {int(joined['read'].isna().sum())} sampled cases have no reading in labels.csv")
    noise = joined["read"].str.strip() != joined["true"].astype(str)
    quarantined = joined["status"] == "ambiguous"
    tp = int((noise & quarantined).sum())
    precision = tp / max(int(quarantined.sum()), 1)
    recall = tp / max(int(noise.sum()), 1)
    print(f"{len(joined)} mined digits read by eye: {int(noise.sum())} are label noise "
          f"({noise.mean():.0%}: read as another digit or as none)")
    print(f"label guard quarantined {int(quarantined.sum())}: precision {precision:.2f} "
          f"({tp} of {int(quarantined.sum())} are label noise), recall {recall:.2f} "
          f"({tp} of {int(noise.sum())} label-noise digits caught)")
    for radius, group in joined.assign(noise=noise).groupby("jitter"):
        print(f"  jitter {radius:g}: {group['noise'].mean():.0%} label noise ({len(group)} digits)")
    for threshold in THRESHOLDS:
        q = joined["reader_p"] < threshold
        hit = int((q & noise).sum())
        print(f"  threshold {threshold:g}: quarantines {int(q.sum())}, precision {hit / max(int(q.sum()), 1):.2f}, "
              f"recall {hit / max(int(noise.sum()), 1):.2f}, label noise left {int((~q & noise).sum())} "
              f"of {int((~q).sum())} kept")
    kept_noise = int((noise & ~quarantined).sum())
    print(f"label noise left in training: {kept_noise} of {int((~quarantined).sum())} kept digits "
          f"({kept_noise / max(int((~quarantined).sum()), 1):.0%}), against {noise.mean():.0%} without the guard")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("sample", help="draw a random sample of mined cases on numbered sheets")
    a.add_argument("run_dir", type=Path, help="a hardmine run directory (bank.h5, cases/)")
    a.add_argument("--n", type=int, default=240)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "guard")
    b = sub.add_parser("score", help="precision and recall from labels.csv")
    b.add_argument("folder", type=Path)
    args = p.parse_args(argv)
    if args.command == "sample":
        sample(args.run_dir, args.n, args.out, args.seed)
    else:
        score(args.folder)


if __name__ == "__main__":
    main()
