"""Does mining hard cases make the model better? A controlled experiment (issue 6).

    python bench/experiment.py                       # full run, writes docs/results.md (+ CSV, PNGs)
    python bench/experiment.py --seeds 0 --rounds 1  # quick look

Arms, all with the same compute: every arm starts each seed from the same
round-0 model (trained once per seed with ``hardmine train``) and runs the same
number of retraining rounds, epochs per round and batches per epoch of
``hardmine run``; the arms differ only in what reaches the training batches:

    mnist-only     mix_fraction 0: the bank is never read (train longer, nothing else)
    random         synthetic digits taken without looking at the model (the control)
    misclassified  the service's default: the digits the model gets wrong
    margin         digits whose true-class probability is below --margin, wrong or not

Each arm stores at most ``--mine-cap`` cases a round and mixes them into
``--mix`` of every batch. The script reads every run's ``metrics.csv`` and
writes ``docs/results/runs.csv`` (all rows), ``docs/results/*.png`` and
``docs/results.md``; the verdict in it is computed from those numbers.
Models and banks stay in ``--work`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HARDMINE = [sys.executable, "-m", "flows.cli"]


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Arm:
    name: str            # column label in the report
    strategy: str        # flows.select strategy (ignored when mix == 0)
    mix: bool            # False: mix_fraction 0, MNIST only


ARMS: tuple[Arm, ...] = (
    Arm("mnist-only", "misclassified", mix=False),
    Arm("random", "random", mix=True),
    Arm("misclassified", "misclassified", mix=True),
    Arm("margin", "margin", mix=True),
)
HARD_JITTER = 2.0  # "jitter 2 and above" is where the verdict is read


@dataclass
class Settings:
    seeds: tuple[int, ...] = (0, 1, 2)     # one round-0 model and one run per arm per seed
    base_epochs: int = 3                   # epochs of the shared round-0 model
    rounds: int = 2                        # retraining rounds after round 0
    epochs_per_round: int = 1              # epochs per retraining round
    synthetic_per_round: int = 20_000      # digits generated per round
    mine_cap: int = 4_000                  # cases stored per round, every strategy
    mix: float = 0.25                      # fraction of each batch from the bank
    margin: float = 0.5                    # strategy=margin threshold
    preset: str = "seed"                   # CNN preset
    work: Path = ROOT / "runs" / "experiment"   # models and banks (not committed)
    out: Path = ROOT / "docs"              # results.md and results/
    arms: tuple[str, ...] = field(default_factory=lambda: tuple(a.name for a in ARMS))
    report_only: bool = False              # rebuild the report from finished runs, start none


def parse_args(argv: list[str] | None) -> Settings:
    d = Settings()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default=",".join(map(str, d.seeds)), help="comma-separated seeds")
    p.add_argument("--base-epochs", type=int, default=d.base_epochs, help="round-0 epochs")
    p.add_argument("--rounds", type=int, default=d.rounds, help="retraining rounds")
    p.add_argument("--epochs-per-round", type=int, default=d.epochs_per_round, help="epochs a round")
    p.add_argument("--synthetic-per-round", type=int, default=d.synthetic_per_round, help="digits a round")
    p.add_argument("--mine-cap", type=int, default=d.mine_cap, help="cases stored a round")
    p.add_argument("--mix", type=float, default=d.mix, help="bank fraction of each batch")
    p.add_argument("--margin", type=float, default=d.margin, help="margin threshold")
    p.add_argument("--preset", default=d.preset, help="CNN preset")
    p.add_argument("--arms", default=",".join(d.arms), help="comma-separated arm names")
    p.add_argument("--work", type=Path, default=d.work, help="where models and banks go")
    p.add_argument("--out", type=Path, default=d.out, help="where results.md goes")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the report from the runs already finished in --work; start none")
    a = p.parse_args(argv)
    known = {arm.name for arm in ARMS}
    arms = tuple(x for x in a.arms.split(",") if x)
    if not set(arms) <= known:
        p.error(f"unknown arm(s) {sorted(set(arms) - known)}; use {sorted(known)}")
    return Settings(tuple(int(s) for s in a.seeds.split(",")), a.base_epochs, a.rounds,
                    a.epochs_per_round, a.synthetic_per_round, a.mine_cap, a.mix, a.margin,
                    a.preset, a.work, a.out, arms, a.report_only)


def run(cmd: list[str]) -> float:
    """Run a hardmine command, fail loudly, return its wall time in seconds."""
    t0 = time.perf_counter()
    print("$", " ".join(str(c) for c in cmd[2:]), flush=True)
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"experiment: command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                 f"{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- the runs
def base_model(s: Settings, seed: int) -> Path:
    """The round-0 model every arm of this seed starts from (trained once)."""
    path = s.work / f"base-seed{seed}.keras"
    if not path.exists():
        s.work.mkdir(parents=True, exist_ok=True)
        run(HARDMINE + ["train", "--preset", s.preset, "--epochs", s.base_epochs, "--no-augment",
                        "--seed", seed, "--out", path])
    return path


def run_arm(s: Settings, arm: Arm, seed: int, base: Path) -> pd.DataFrame:
    run_dir = s.work / f"{arm.name}-seed{seed}"
    if not (run_dir / "metrics.csv").exists() or \
            len(pd.read_csv(run_dir / "metrics.csv")) < s.rounds + 1:
        run(HARDMINE + [
            "run", "--init-model", base, "--rounds", s.rounds,
            "--epochs-per-round", s.epochs_per_round, "--synthetic-per-round", s.synthetic_per_round,
            "--mine-cap", s.mine_cap, "--mix-fraction", s.mix if arm.mix else 0.0,
            "--strategy", arm.strategy, "--margin", s.margin, "--preset", s.preset,
            "--seed", seed, "--run-dir", run_dir])
    return read_arm(arm, seed, run_dir / "metrics.csv")


def read_arm(arm: Arm, seed: int, metrics: Path) -> pd.DataFrame:
    rows = pd.read_csv(metrics)
    rows.insert(0, "seed", seed)
    rows.insert(0, "arm", arm.name)
    return rows


# ----------------------------------------------------------------------------- analysis
def jitter_columns(rows: pd.DataFrame) -> list[str]:
    cols = [c for c in rows.columns if c.startswith("acc_j")]
    return sorted(cols, key=lambda c: float(c[5:]))


def shipped(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, seed), the row of the model the service ends with: the round that
    is ``current`` after the last round (the promotion guard may have kept an
    earlier one), i.e. what a user of the run would deploy."""
    final = rows[rows["round"] == rows["round"].max()][["arm", "seed", "current_round"]]
    picked = rows.merge(final.rename(columns={"current_round": "shipped_round"}), on=["arm", "seed"])
    return picked[picked["round"] == picked["shipped_round"]].drop(columns="shipped_round")


def last_round(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, seed), the model the last round trained: the same compute in every arm."""
    return rows[rows["round"] == rows["round"].max()]


VIEWS = {"last round": last_round, "shipped": shipped}


def summarise(rows: pd.DataFrame, view: str = "last round") -> pd.DataFrame:
    """One model per run (``view``), mean and std over seeds, per arm."""
    last = VIEWS[view](rows).copy()
    jcols = jitter_columns(rows)
    hard = [c for c in jcols if float(c[5:]) >= HARD_JITTER]
    last["acc_hard"] = last[hard].mean(axis=1)
    cols = ["mnist_test_acc", "acc_hard", *jcols]
    g = last.groupby("arm", sort=False)[cols]
    return g.mean().join(g.std(ddof=1).fillna(0.0).add_suffix("_sd")).join(g.size().rename("seeds"))


def verdict(summary: pd.DataFrame) -> list[str]:
    """The finding, computed from the summary (two sentences for the README)."""
    need = {"misclassified", "mnist-only", "random"}
    if not need <= set(summary.index):
        return ["Not all arms ran; no verdict."]
    m, b, r = (summary.loc[a] for a in ("misclassified", "mnist-only", "random"))
    spread = max(m["acc_hard_sd"], b["acc_hard_sd"], r["acc_hard_sd"])
    beats_b = m["acc_hard"] - b["acc_hard"]
    beats_r = m["acc_hard"] - r["acc_hard"]
    mnist_gap = (m["mnist_test_acc"] - b["mnist_test_acc"]) * 100
    checks = {
        f"beats MNIST-only by more than the spread ({beats_b:+.3f} vs {spread:.3f})": beats_b > spread,
        f"beats random by more than the spread ({beats_r:+.3f} vs {spread:.3f})": beats_r > spread,
        f"keeps MNIST test accuracy within 0.1 points of MNIST-only ({mnist_gap:+.2f})": abs(mnist_gap) <= 0.1,
    }
    first = (f"Mining misclassified synthetic digits raised mean accuracy at jitter >= {HARD_JITTER:g} "
             f"to {m['acc_hard']:.3f}, versus {b['acc_hard']:.3f} for MNIST-only training and "
             f"{r['acc_hard']:.3f} for random synthetic digits (largest sd over seeds "
             f"{spread:.3f}), while MNIST test accuracy moved by {mnist_gap:+.2f} points.")
    passed = [c for c, ok in checks.items() if ok]
    failed = [c for c, ok in checks.items() if not ok]
    second = ("It meets every part of the bar: it " + "; ".join(passed) + "." if not failed else
              "Against the bar we set it " + ("; ".join(passed) + ", but it does not " if passed else "does not ")
              + "; ".join(c.replace("beats", "beat").replace("keeps", "keep") for c in failed) + ".")
    return [first, second]


# ----------------------------------------------------------------------------- report
def summary_table(summary: pd.DataFrame, jcols: list[str]) -> list[str]:
    lines = ["| arm | seeds | MNIST test | synthetic, jitter >= %g | %s |"
             % (HARD_JITTER, " | ".join(f"j={c[5:]}" for c in jcols)),
             "|---|---|---|---|%s|" % "|".join("---" for _ in jcols)]
    for arm, r in summary.iterrows():
        cells = " | ".join(f"{r[c]:.3f} ± {r[c + '_sd']:.3f}" for c in jcols)
        lines.append(f"| {arm} | {int(r['seeds'])} | {r['mnist_test_acc']:.4f} ± {r['mnist_test_acc_sd']:.4f} "
                     f"| {r['acc_hard']:.3f} ± {r['acc_hard_sd']:.3f} | {cells} |")
    return lines


def promoted_rows(rows: pd.DataFrame) -> list[str]:
    last = last_round(rows)
    return [f"| {arm} | {int(g['promoted'].astype(bool).sum())} of {len(g)} |"
            for arm, g in last.groupby("arm", sort=False)]


def tradeoff_rows(summary: pd.DataFrame) -> list[str]:
    if "mnist-only" not in summary.index:
        return []
    b = summary.loc["mnist-only"]
    return [f"| {arm} | {r['acc_hard']:.3f} ({r['acc_hard'] - b['acc_hard']:+.3f}) "
            f"| {r['mnist_test_acc']:.4f} ({(r['mnist_test_acc'] - b['mnist_test_acc']) * 100:+.2f}) |"
            for arm, r in summary.iterrows()]


def plots(rows: pd.DataFrame, summary: pd.DataFrame, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jcols = jitter_columns(rows)
    radii = [float(c[5:]) for c in jcols]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in summary.index:
        mean = summary.loc[arm, jcols].to_numpy(float)
        sd = summary.loc[arm, [c + "_sd" for c in jcols]].to_numpy(float)
        ax.errorbar(radii, mean, yerr=sd, marker="o", capsize=3, label=arm)
    ax.set(xlabel="jitter radius (pixels)", ylabel="accuracy on the fixed synthetic set",
           title="Last round: accuracy per jitter (mean ± sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_per_jitter.png", dpi=110)
    plt.close(fig)

    hard = [c for c in jcols if float(c[5:]) >= HARD_JITTER]
    rows = rows.assign(acc_hard=rows[hard].mean(axis=1))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, group in rows.groupby("arm", sort=False):
        by_round = group.groupby("round")
        for ax, col in zip(axes, ("acc_hard", "mnist_test_acc")):
            ax.errorbar(by_round[col].mean().index, by_round[col].mean(), yerr=by_round[col].std().fillna(0),
                        marker="o", capsize=3, label=arm)
    axes[0].set(xlabel="round", ylabel=f"synthetic accuracy, jitter >= {HARD_JITTER:g}")
    axes[1].set(xlabel="round", ylabel="MNIST test accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_over_rounds.png", dpi=110)
    plt.close(fig)


def write_report(s: Settings, rows: pd.DataFrame, summary: pd.DataFrame, argv: list[str], seconds: float) -> Path:
    res = s.out / "results"
    jcols = jitter_columns(rows)
    lines = [
        "# Does mining hard cases help? Results",
        "",
        "Regenerate (the runs' stages took %.0f minutes of wall time on a 2-core CPU, the sum of "
        "`seconds_*` in `results/runs.csv`, plus start-up and the round-0 models):"
        % (rows.filter(like="seconds_").sum().sum() / 60),
        "",
        "```bash",
        "python bench/experiment.py " + " ".join(a for a in argv if a != "--report-only"),
        "```",
        "",
        "## Finding",
        "",
        *verdict(summary),
        "",
        "## Trade-off per arm (last round's model, vs mnist-only)",
        "",
        "| arm | synthetic accuracy, jitter >= %g (change) | MNIST test accuracy (change, points) |" % HARD_JITTER,
        "|---|---|---|",
        *tradeoff_rows(summary),
        "",
        "Only one mining setting was affordable in this session's compute (mix fraction, cap, "
        "budget floor and validity filter as listed under Setup). Not tried yet, and the obvious "
        "next knobs for the MNIST cost: a smaller `--mix-fraction` (0.1), `--balance`d bank "
        "sampling, a lower `--mine-cap`, or mining only jitter <= 3.",
        "",
        "## Setup",
        "",
        f"- seeds {list(s.seeds)}; every arm of a seed starts from the same round-0 `{s.preset}` model "
        f"({s.base_epochs} epochs on MNIST, no augmentation);",
        f"- {s.rounds} retraining rounds x {s.epochs_per_round} epoch(s), same batches per epoch in every arm;",
        f"- {s.synthetic_per_round} synthetic digits generated a round, at most {s.mine_cap} stored a round "
        f"(every strategy), bank mixed into {s.mix:.0%} of each batch (0% for mnist-only);",
        "- accuracy per jitter on the fixed synthetic evaluation set (seeds mining never uses).",
        "",
        "## The last round's model, mean ± sd over seeds",
        "",
        "What the same compute produced in each arm (the verdict above reads this table).",
        "",
        *summary_table(summary, jcols),
        "",
        "## The model each run ships, mean ± sd over seeds",
        "",
        "The model `models/current.keras` points at after the last round: the promotion guard "
        "keeps an earlier round when MNIST validation accuracy drops by more than 0.002, so a "
        "run whose retrained models all lost MNIST accuracy ships its round-0 model.",
        "",
        *summary_table(summarise(rows, "shipped"), jcols),
        "",
        "| arm | runs whose last model was promoted |",
        "|---|---|",
        *promoted_rows(rows),
    ]
    lines += [
        "",
        "![accuracy per jitter](results/accuracy_per_jitter.png)",
        "",
        "![accuracy over rounds](results/accuracy_over_rounds.png)",
        "",
        "## What got mined (misclassified arm, first seed, most confidently wrong first)",
        "",
        "![mined montage](results/mined_montage.png)",
        "",
        "At high jitter some mined digits no longer look like their label (a 0 whose loop "
        "closed into a 6 or a 9): the validity filter checks only that the ink stays in the "
        "frame and does not collapse, so such cases are learned as labelled. They are a likely "
        "source of the MNIST cost above; a shape-level filter is not built yet.",
        "",
        "All rows (every arm, seed and round): [results/runs.csv](results/runs.csv).",
        "",
    ]
    path = s.out / "results.md"
    path.write_text("\n".join(lines))
    return path


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    s = parse_args(argv)
    t0 = time.perf_counter()
    frames = []
    for seed in s.seeds:
        for arm in ARMS:
            if arm.name not in s.arms:
                continue
            if s.report_only:
                done = s.work / f"{arm.name}-seed{seed}" / "metrics.csv"
                if done.exists() and len(pd.read_csv(done)) == s.rounds + 1:
                    frames.append(read_arm(arm, seed, done))
                continue
            frames.append(run_arm(s, arm, seed, base_model(s, seed)))
    rows = pd.concat(frames, ignore_index=True)
    summary = summarise(rows)
    res = s.out / "results"
    res.mkdir(parents=True, exist_ok=True)
    rows.to_csv(res / "runs.csv", index=False)
    plots(rows, summary, res)
    mined_bank = s.work / f"misclassified-seed{s.seeds[0]}" / "bank.h5"
    if mined_bank.exists():
        run(HARDMINE + ["bank", "montage", mined_bank, "--sort", "confidence", "--limit", 40,
                        "--out", res / "mined_montage.png"])
    seconds = time.perf_counter() - t0
    report = write_report(s, rows, summary, argv, seconds)
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    print("\n".join(verdict(summary)))
    print(f"wrote {report} in {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
