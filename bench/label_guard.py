"""How good is the label guard? Precision and recall against labels given by eye.

    python bench/label_guard.py sample runs/guard --n 240 --out docs/results/guard   # a run directory
    # a person writes docs/results/guard/labels.csv: sheet,cell,read (the digit they see, or ? if none)
    python bench/label_guard.py score docs/results/guard                       # the verdicts stored at mining
    python bench/label_guard.py score docs/results/guard --reader reader.keras  # + model/labelcheck.py's guard

``sample`` draws ``--n`` mined cases at random (seeded) from a bank and draws
them on numbered sheets *without* their labels or statuses, so whoever labels
them reads each digit blind, as a new writer's digit. ``score`` joins those
readings with the bank's labels and the guard's verdicts: a case is *label
noise* when the person read another digit or none (``?``) instead of its label.
Precision = share of quarantined cases that are label noise; recall = share of
label noise that was quarantined. ``score`` also prints what other reader
thresholds would have done (the reader's probabilities are read from the run's
staged ``cases/round-<k>.npz``), and the noise rate per jitter radius.

``sample`` also keeps the sampled digits' pixels, losslessly, in
``images.png`` (row-major cells of 28x28, in sample.csv order), so ``score
--reader R`` can judge the same digits with any reader and the label check of
``model/labelcheck.py`` (softmax and deep-kNN agreement against MNIST train)
without the run directory: it prints ROC AUC, precision, recall and the noise
left among kept digits for the old guard (``reader_p < threshold`` as stored
at mining, and recomputed with ``R``) and the new one, side by side.
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
IMAGE_COLS = 20  # images.png: 20 digits a row


THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
BOOTSTRAP = 2000


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


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """(N, 28, 28) uint8 -> one uint8 image, ``cols`` digits a row, unused cells 0."""
    n_rows = -(-len(images) // cols)
    grid = np.zeros((n_rows * cols, 28, 28), np.uint8)
    grid[:len(images)] = images
    return grid.reshape(n_rows, cols, 28, 28).transpose(0, 2, 1, 3).reshape(n_rows * 28, cols * 28)


def untile(image: np.ndarray, n: int, cols: int) -> np.ndarray:
    """The inverse of :func:`tile`: the first ``n`` (28, 28) cells."""
    n_rows = image.shape[0] // 28
    return image.reshape(n_rows, 28, cols, 28).transpose(0, 2, 1, 3).reshape(-1, 28, 28)[:n]


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
    cv2.imwrite(str(out / "images.png"), tile(images, IMAGE_COLS))
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


def auc(clean: np.ndarray, keep_score: np.ndarray) -> float:
    """ROC AUC of ``keep_score`` (higher = keep) for telling clean digits from label noise:
    the chance that a random clean digit scores above a random noisy one (ties count half)."""
    pos, neg = keep_score[clean], keep_score[~clean]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / max(len(pos) * len(neg), 1))


def guard_line(name: str, noise: np.ndarray, quarantined: np.ndarray, keep_score=None) -> str:
    q, kept = quarantined, ~quarantined
    tp = int((noise & q).sum())
    left = int((noise & kept).sum())
    a = f"{auc(~noise, keep_score):.2f}" if keep_score is not None else "  - "
    return (f"  {name:<44s} {a:>5s} {int(q.sum()):>5d} {tp / max(int(q.sum()), 1):>9.2f} "
            f"{tp / max(int(noise.sum()), 1):>6.2f} {int(kept.sum()):>5d} {int((kept & ~noise).sum()):>5d} "
            f"{left / max(int(kept.sum()), 1):>8.0%}")


def label_check(folder: Path, cases: pd.DataFrame, reader_path: Path, mnist, threshold: float):
    """The reader's probability of each sampled digit's label and its deep-kNN agreement."""
    import keras

    from model import labelcheck
    from model.data import load_mnist
    images = untile(cv2_read(folder / "images.png"), len(cases), IMAGE_COLS)
    reader = keras.models.load_model(reader_path)
    ref = labelcheck.reference(reader, load_mnist(mnist))
    return labelcheck.check(reader, ref, images, cases["true"].to_numpy(), threshold)


def score(folder: Path, reader: Path | None = None, mnist=None, threshold: float = 0.5,
          montage: bool = False) -> None:
    cases = pd.read_csv(folder / "sample.csv")
    read = pd.read_csv(folder / "labels.csv", dtype={"read": str})
    joined = cases.merge(read, on=["sheet", "cell"], how="left", validate="one_to_one")
    if joined["read"].isna().any():
        sys.exit(f"label_guard: {int(joined['read'].isna().sum())} sampled cases have no reading in labels.csv")
    seen = joined["read"].str.strip()
    noise = (seen != joined["true"].astype(str)).to_numpy()
    quarantined = (joined["status"] == "ambiguous").to_numpy()
    tp = int((noise & quarantined).sum())
    precision = tp / max(int(quarantined.sum()), 1)
    recall = tp / max(int(noise.sum()), 1)
    print(f"{len(joined)} mined digits read by eye: {int(noise.sum())} are label noise "
          f"({noise.mean():.0%}: {int((seen == '?').sum())} read as none, "
          f"{int((noise & (seen != '?').to_numpy()).sum())} as another digit)")
    print(f"label guard quarantined {int(quarantined.sum())}: precision {precision:.2f} "
          f"({tp} of {int(quarantined.sum())} are label noise), recall {recall:.2f} "
          f"({tp} of {int(noise.sum())} label-noise digits caught)")
    for radius, group in joined.assign(noise=noise).groupby("jitter"):
        print(f"  jitter {radius:g}: {group['noise'].mean():.0%} label noise ({len(group)} digits)")
    for t in THRESHOLDS:
        q = (joined["reader_p"] < t).to_numpy()
        hit = int((q & noise).sum())
        print(f"  threshold {t:g}: quarantines {int(q.sum())}, precision {hit / max(int(q.sum()), 1):.2f}, "
              f"recall {hit / max(int(noise.sum()), 1):.2f}, label noise left {int((~q & noise).sum())} "
              f"of {int((~q).sum())} kept")
    kept_noise = int((noise & ~quarantined).sum())
    print(f"label noise left in training: {kept_noise} of {int((~quarantined).sum())} kept digits "
          f"({kept_noise / max(int((~quarantined).sum()), 1):.0%}), against {noise.mean():.0%} without the guard")
    if reader is None:
        return
    v = label_check(folder, joined, reader, mnist, threshold)
    stored = joined["reader_p"].to_numpy()
    print(f"\nold and new guard on the same {len(joined)} digits (reader {reader}; threshold {threshold:g}, "
          f"agreement >= {_min_agreement():g}; AUC of the score each guard thresholds):")
    print(f"  {'guard':<44s} {'AUC':>5s} {'quar.':>5s} {'precision':>9s} {'recall':>6s} {'kept':>5s} "
          f"{'clean':>5s} {'noise in kept':>8s}")
    print(guard_line("none", noise, np.zeros(len(noise), bool)))
    print(guard_line("old: reader_p < threshold (stored at mining)", noise, quarantined, stored))
    print(guard_line("old rule, this reader", noise, v.reader_p < threshold, v.reader_p))
    print(guard_line("deep-kNN agreement alone", noise, v.agreement < _min_agreement(), v.agreement))
    print(guard_line("new: reader_p and agreement (labelcheck)", noise, v.ambiguous,
                     np.minimum(v.reader_p / threshold, v.agreement / _min_agreement())))
    old_q, new_q = quarantined, v.ambiguous
    new_score = np.minimum(v.reader_p / threshold, v.agreement / _min_agreement())
    rng = np.random.default_rng(0)
    stats = []
    for _ in range(BOOTSTRAP):  # resample the labelled digits, both guards on the same draw
        i = rng.integers(0, len(noise), len(noise))
        n_, o, q = noise[i], old_q[i], new_q[i]
        stats.append((auc(~n_, stored[i]), auc(~n_, new_score[i]),
                      n_[~o].mean() if (~o).any() else np.nan, n_[~q].mean() if (~q).any() else np.nan))
    lo, hi = np.nanpercentile(np.array(stats), [2.5, 97.5], axis=0)
    print(f"  95% bootstrap intervals ({BOOTSTRAP} resamples of the {len(noise)} digits): "
          f"AUC old {lo[0]:.2f}-{hi[0]:.2f}, new {lo[1]:.2f}-{hi[1]:.2f}; noise in kept old {lo[2]:.0%}-{hi[2]:.0%}, new {lo[3]:.0%}-{hi[3]:.0%}")
    if montage:
        images = untile(cv2_read(folder / "images.png"), len(joined), IMAGE_COLS)
        for name, rows in (("kept", ~v.ambiguous), ("quarantined", v.ambiguous)):
            idx = np.flatnonzero(rows)
            write_montage(folder / f"{name}.png", images[idx], joined["true"].to_numpy()[idx],
                          seen.to_numpy()[idx], v.reader_p[idx], v.agreement[idx])
        print(f"wrote {folder / 'kept.png'} and {folder / 'quarantined.png'} (label, eye reading, reader_p, "
              f"agreement; red = label noise)")


def cv2_read(path: Path) -> np.ndarray:
    import cv2
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        sys.exit(f"label_guard: {path} is missing: sample again to keep the digits' pixels")
    return image


def write_montage(path: Path, images, labels, seen, reader_p, agree, cols: int = 12) -> None:
    """Digits with their label, what the eye read, the reader's p and the kNN agreement;
    label noise (eye reading != label) framed in red."""
    import cv2
    scale, head = 3, 26
    w, h = 28 * scale + 6, 28 * scale + head + 4
    n_rows = max(-(-len(images) // cols), 1)
    canvas = np.full((n_rows * h, cols * w, 3), 255, np.uint8)
    for j, im in enumerate(images):
        r, c = divmod(j, cols)
        y, x = r * h, c * w
        bad = seen[j] != str(labels[j])
        colour = (0, 0, 200) if bad else (0, 120, 0)
        cell = cv2.resize(255 - im, (28 * scale, 28 * scale), interpolation=cv2.INTER_NEAREST)
        canvas[y + head:y + head + 28 * scale, x + 3:x + 3 + 28 * scale] = cell[..., None]
        cv2.rectangle(canvas, (x + 2, y + head - 1), (x + 3 + 28 * scale, y + head + 28 * scale), colour, 2)
        cv2.putText(canvas, f"{labels[j]} eye {seen[j]}", (x + 3, y + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1)
        cv2.putText(canvas, f"p{reader_p[j]:.2f} a{agree[j]:.2f}", (x + 3, y + 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.33, 0, 1)
    cv2.imwrite(str(path), canvas)


def _min_agreement() -> float:
    from model.labelcheck import MIN_AGREEMENT
    return MIN_AGREEMENT


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
    b.add_argument("--reader", type=Path, default=None,
                   help="a reader (.keras): also score model/labelcheck.py's guard with it on the same digits")
    b.add_argument("--mnist", default=None, help="MNIST for the reference digits [default: $HARDMINE_MNIST]")
    b.add_argument("--threshold", type=float, default=0.5, help="the reader's threshold (the flow's default)")
    b.add_argument("--montage", action="store_true",
                   help="with --reader: draw the new guard's kept.png and quarantined.png into the folder")
    args = p.parse_args(argv)
    if args.command == "sample":
        sample(args.run_dir, args.n, args.out, args.seed)
    else:
        score(args.folder, args.reader, args.mnist, args.threshold, args.montage)


if __name__ == "__main__":
    main()
