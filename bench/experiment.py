"""Does mining make the model better on real handwriting? A controlled experiment.

    python bench/experiment.py                                  # 3 seeds x 3 arms; writes docs/results.md
    python bench/experiment.py --arms mnist-only,random,misclassified,no-label-guard   # + the guard's own effect
    python bench/experiment.py --seeds 0 --rounds 1             # a quick look
    python bench/experiment.py --report-only                    # rebuild the report from finished runs
    python bench/experiment.py --dask-address local:2           # two runs at a time on this machine
    python bench/experiment.py --dask-address tcp://HOST:8786   # (arm, seed) runs spread over a Dask cluster

Arms, all with the same compute: every arm of a seed starts from the same
round-0 model (``hardmine train``, trained once per seed) and runs the same
retraining rounds, epochs and batches of ``hardmine run``; they differ only in
what reaches the training batches:

    mnist-only       mix_fraction 0: the bank is never read (train longer, nothing else)
    random           synthetic digits taken without looking at the model (the control)
    misclassified    the service's defaults: the digits the model gets wrong, label guard on
    no-label-guard   misclassified with the label guard off: what the loop did before it
                     (only with --arms: a fourth arm is a third more compute)
    realistic        misclassified, mining MNIST-like renderings (only with --arms)
    unbalanced       misclassified, bank draws as the bank holds them, not balanced over
                     classes (only with --arms)
    mix-0.05         misclassified with half the default bank share of each batch (only with --arms)
    balance-cap-2    misclassified with balanced draws that repeat no case more than twice per pass of
                     the bank (only with --arms)

``--set name=value`` changes a ``hardmine run`` option in every arm (a candidate
default, screened before it becomes one).

Every run's last-round model and shipped model (after the promotion guard) are
scored by ``hardmine evaluate --json`` on MNIST test, on the fixed synthetic
set (accuracy per jitter) and on the real-digit robustness suite's *test* split
(model/robustness.py: MNIST test digits thickened, thinned, scanned at low
resolution, blurred, slanted, rotated, rescaled, moved, distorted). The label
guard's reader is trained once (``python -m model.reader``) and shared by every
run. Run directories are named by a hash of every setting of the run, defaults
included, so a finished run is reused only for exactly the same settings (a
changed default makes new runs), whichever arm's name it was made under. Writes
``docs/results.md`` and ``docs/results/`` (runs.csv, scores.csv, PNGs); every
number and verdict in the report is computed from those rows. Models and banks
stay in ``--work``.

Runs in parallel (``--dask-address``, the addresses of ``hardmine run
--dask-address``): the round-0 models and the reader are prepared here first,
then every (arm, seed) run still to do is one Dask task that runs the same
``hardmine run`` command the sequential path runs, as a subprocess on a
worker, and every evaluation still to do is one more task; the client keeps
the parameters, the run directories, the evaluation caches and the report, so
the runs, their directories and the report are the ones the sequential path
gives. A worker runs the command with this interpreter in this repository
(``sys.executable -m flows.cli`` in the repository's folder), so a worker on
another machine needs the repository and its venv at the same paths, ``--work``
on a shared file system and MNIST in its own environment (``$HARDMINE_MNIST``);
``local:N`` starts N worker processes here, each running one command at a time
(give remote workers ``--nthreads 1``: a run already uses every core of its
machine); a command gets its worker's environment (Dask's nanny sets
``OMP_NUM_THREADS=1``). Closing the cluster (the end, a failed run, Ctrl-C)
ends the commands its local workers were running (``flows.cluster.run_command``);
remote workers finish theirs. An unreachable scheduler is one ``error:`` line,
exit 2, before anything trains.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from flows.cluster import check_address, connect, run_command  # noqa: E402
from flows.run_cli import FLAGS  # noqa: E402
from flows.settings import FlowSettings  # noqa: E402
from miner.config import HardmineError  # noqa: E402
from miner.options import argv, flag  # noqa: E402
from model.robustness import NAMES as VARIANTS  # noqa: E402
from store import Bank  # noqa: E402

HARDMINE = [sys.executable, "-m", "flows.cli"]
HARD_JITTER = 2.0  # "jitter 2 and above" is where synthetic accuracy is read
# test digits per suite variant: the whole MNIST test split, 13 x 10,000 = 130,000 predictions per
# model, ~1,000 digits per (variant, class) cell, so one digit moves a cell by 0.1 point
ROBUST_LIMIT = 10_000
EVAL_SUFFIX = f".eval{ROBUST_LIMIT}.json"  # an evaluation's cache next to its model, named by what it scored


@dataclass(frozen=True)
class Arm:
    name: str                  # column label in the report
    options: dict              # `hardmine run` options that differ from the service's defaults
    # added to the seed of rounds 1+ (the round-0 model stays the seed's own): an arm that
    # repeats another with only the training and mining randomness changed, the noise floor
    seed_shift: int = 0


ARMS: tuple[Arm, ...] = (
    Arm("mnist-only", {"mix_fraction": 0.0, "label_guard": False}),
    Arm("random", {"strategy": "random"}),
    Arm("misclassified", {}),
    Arm("no-label-guard", {"label_guard": False}),
    Arm("realistic", {"realistic": True}),
    Arm("unbalanced", {"balance": False}),
    Arm("mix-0.05", {"mix_fraction": 0.05}),
    Arm("balance-cap-2", {"balance_cap": 2.0}),  # balanced draws, no case drawn more than twice a pass
    Arm("strict-reader", {"reader_threshold": 0.9}),
    Arm("jitter-0-3", {"jitter": (0.0, 0.5, 1.0, 2.0, 3.0)}),
    Arm("strict-40k", {"reader_threshold": 0.9, "synthetic_per_round": 40_000}),  # the stricter guard, twice the pool
    # mnist-only again with other batches: how many cells differ by chance alone
    Arm("mnist-only-reseeded", {"mix_fraction": 0.0, "label_guard": False}, seed_shift=1000),
)
BASELINE, DEFAULT = "mnist-only", "misclassified"
RESEEDED = "mnist-only-reseeded"  # the baseline against itself: what chance alone gives


@dataclass(frozen=True)
class Bar:
    """What the default arm must do against mnist-only (means over seeds)."""
    synthetic_gain: float = 0.08    # accuracy at jitter >= 2, at least this much higher
    suite_mean_loss: float = 0.0    # the suite's mean (test) not lower by more than this
    cell_loss: float = 0.01         # no (variant, class) cell lower by more than this
    mnist_loss: float = 0.0005      # MNIST test within this (0.05 points)


@dataclass
class Settings:
    seeds: tuple[int, ...] = (0, 1, 2)
    base_epochs: int = 3                  # epochs of each seed's shared round-0 model
    rounds: int = 2                       # retraining rounds after round 0
    epochs_per_round: int = 1
    synthetic_per_round: int = 20_000
    preset: str = "seed"
    arms: tuple[str, ...] = ("mnist-only", "random", "misclassified")
    common: tuple[tuple[str, str], ...] = ()  # --set name=value: options of every arm
    work: Path = ROOT / "runs" / "experiment"
    out: Path = ROOT / "docs"
    report_only: bool = False
    dask_address: str = ""  # empty: one run after the other in this process


SWEEP = "experiment"  # names this script in its error lines
ALONE = "run the sweep here, one run after another"  # what it does without --dask-address


def parse_args(argv: list[str]) -> Settings:
    d = Settings()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default=",".join(map(str, d.seeds)), help="comma-separated seeds")
    p.add_argument("--base-epochs", type=int, default=d.base_epochs, help="round-0 epochs")
    p.add_argument("--rounds", type=int, default=d.rounds, help="retraining rounds")
    p.add_argument("--epochs-per-round", type=int, default=d.epochs_per_round)
    p.add_argument("--synthetic-per-round", type=int, default=d.synthetic_per_round)
    p.add_argument("--preset", default=d.preset)
    p.add_argument("--arms", default=",".join(d.arms), help="comma-separated arms: "
                   + ", ".join(a.name for a in ARMS))
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a `hardmine run` option for every arm, e.g. pen_scan=true (repeatable)")
    p.add_argument("--work", type=Path, default=d.work, help="where models and banks go")
    p.add_argument("--out", type=Path, default=d.out, help="where results.md goes")
    p.add_argument("--report-only", action="store_true", help="rebuild the report; start no run")
    p.add_argument(flag("dask_address", FLAGS), dest="dask_address", default=d.dask_address, metavar="ADDRESS",
                   help="run the (arm, seed) runs concurrently on a Dask cluster, one task each: a scheduler "
                        "address (tcp://HOST:8786) or local:N worker processes here, as for `hardmine run`; "
                        "empty = one after another in this process")
    a = p.parse_args(argv)
    arms = tuple(a.arms.split(","))
    if not {BASELINE, DEFAULT} <= set(arms) or not set(arms) <= {x.name for x in ARMS}:
        p.error(f"--arms must include {BASELINE} and {DEFAULT}, from: " + ", ".join(x.name for x in ARMS))
    if any("=" not in x for x in a.set):
        p.error("--set takes NAME=VALUE, e.g. --set pen_scan=true")
    common = tuple(tuple(x.split("=", 1)) for x in a.set)
    return Settings(tuple(int(x) for x in a.seeds.split(",")), a.base_epochs, a.rounds, a.epochs_per_round,
                    a.synthetic_per_round, a.preset, arms, common, a.work, a.out, a.report_only, a.dask_address)


def run(cmd: list) -> float:
    """Run a command here, fail loudly, return its wall time in seconds."""
    t0 = time.perf_counter()
    print("$", " ".join(str(c) for c in cmd[1:]), flush=True)
    check(cmd, subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True))
    return time.perf_counter() - t0


def check(cmd: list, proc: subprocess.CompletedProcess) -> str:
    """``proc``'s stdout, or exit with its stderr if ``cmd`` failed."""
    if proc.returncode != 0:
        sys.exit(f"experiment: command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                 f"{proc.stderr[-3000:]}")
    return proc.stdout


def execute(cluster, commands: list[list]) -> list[str]:
    """Run ``commands`` and return their stdouts, in order: one after another here (``cluster``
    None), or each as a task on ``cluster`` (flows.cluster.connect: the same command, a
    subprocess on a worker, in this repository's folder), all at once. The first failure
    stops the sweep, as here."""
    commands = [[str(c) for c in cmd] for cmd in commands]
    if cluster is None:
        outs = []
        for cmd in commands:
            print("$", " ".join(cmd[1:]), flush=True)
            outs.append(check(cmd, subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)))
        return outs
    from distributed import as_completed
    client = cluster.client
    futures = {client.submit(run_command, cmd, str(ROOT), pure=False): cmd for cmd in commands}
    for cmd in commands:
        print("$", " ".join(cmd[1:]), f"[{client.scheduler.address}]", flush=True)
    t0, outs = time.perf_counter(), {}
    for future in as_completed(futures):
        cmd = futures[future]
        outs[id(cmd)] = check(cmd, future.result())  # exits on the first failure: connect() closes the cluster
        print(f"done at {time.perf_counter() - t0:.0f} s:", " ".join(cmd[1:]), flush=True)
    return [outs[id(cmd)] for cmd in commands]


def tag(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]


# ----------------------------------------------------------------------------- the runs
def base_path(s: Settings, seed: int) -> Path:
    """The round-0 model every arm of this seed starts from."""
    return s.work / f"base-seed{seed}-{tag({'preset': s.preset, 'epochs': s.base_epochs, 'seed': seed})}.keras"


def base_model(s: Settings, seed: int) -> Path:
    """The round-0 model of this seed, trained here once."""
    path = base_path(s, seed)
    if not path.exists() and not s.report_only:
        s.work.mkdir(parents=True, exist_ok=True)
        run(HARDMINE + ["train", "--preset", s.preset, "--epochs", s.base_epochs, "--no-augment",
                        "--seed", seed, "--out", path])
    return path


def reader_model(s: Settings) -> Path:
    """The label guard's reader, shared by every run (MNIST only: it never sees a bank)."""
    path = s.work / "reader.keras"
    if not path.exists() and not s.report_only:
        s.work.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "model.reader", "--out", path])
    return path


def evaluate_command(model: Path) -> list:
    return HARDMINE + ["evaluate", model, "--json", "--no-plots", "--robust-per-variant", ROBUST_LIMIT]


def eval_cache(model: Path) -> Path:
    return model.with_suffix(EVAL_SUFFIX)


def evaluation(model: Path) -> dict:
    """``hardmine evaluate --json`` of ``model``, cached next to it."""
    cached = eval_cache(model)
    if not cached.exists():
        cached.write_text(execute(None, [evaluate_command(model)])[0])
    return json.loads(cached.read_text())


def score_row(scores: dict) -> dict:
    """One flat row of an evaluation: MNIST, synthetic at jitter >= 2, the suite's cells."""
    jitter = {float(j): a for j, a in scores["jitter_acc"].items()}
    rob = scores["robustness"]
    row = {"mnist_test_acc": scores["mnist_test_acc"],
           "synth_hard": float(np.mean([a for j, a in jitter.items() if j >= HARD_JITTER])),
           "suite_mean": rob["mean"]}
    row.update({f"suite_{v}": a for v, a in rob["per_variant"].items()})
    row.update({f"suite_c{d}": a for d, a in rob["per_class"].items()})
    row.update({f"cell_{v}_{d}": a for v, cells in zip(rob["per_variant"], rob["matrix"])
                for d, a in enumerate(cells)})
    return row


@dataclass(frozen=True)
class Run:
    """One (arm, seed) run: its ``hardmine run`` parameters and the directory they name."""
    arm: Arm
    seed: int
    params: dict
    run_dir: Path

    @property
    def reader(self) -> bool:
        """Whether it uses the experiment's shared reader (its label guard is on)."""
        return FlowSettings(**self.params).label_guard

    def done(self, s: Settings) -> bool:
        metrics = self.run_dir / "metrics.csv"
        return metrics.exists() and len(pd.read_csv(metrics)) == s.rounds + 1

    def models(self, s: Settings) -> tuple[tuple[str, int], ...]:
        """(which, round) of the models scored: the last round's and the shipped one (a finished run)."""
        shipped = int(pd.read_csv(self.run_dir / "metrics.csv")["current_round"].iloc[-1])
        return ("last round", s.rounds), ("shipped", shipped)

    def model(self, k: int) -> Path:
        return self.run_dir / "models" / f"round-{k}.keras"


# where a run writes and what it reads: they do not change what it computes
PLACES = {"run_dir", "bank_path", "mnist_path", "reader_model", "init_model", "dask_address"}


def run_tag(s: Settings, seed: int, params: dict) -> str:
    """A hash of every setting the run resolves to, its defaults included, and its round-0 model."""
    resolved = FlowSettings(**params).model_dump(mode="json", exclude=PLACES)
    return tag({**resolved, "base": base_path(s, seed).name})


def planned(s: Settings) -> list[Run]:
    """Every (arm, seed) run of the sweep, in report order (seed, then arm)."""
    out = []
    for seed in s.seeds:
        for arm in ARMS:
            if arm.name not in s.arms:
                continue
            params = {"rounds": s.rounds, "epochs_per_round": s.epochs_per_round,
                      "synthetic_per_round": s.synthetic_per_round, "preset": s.preset,
                      "seed": seed + arm.seed_shift, **dict(s.common), **arm.options}
            out.append(Run(arm, seed, params, run_dir(s, arm, seed, run_tag(s, seed, params))))
    return out


def run_dir(s: Settings, arm: Arm, seed: int, h: str) -> Path:
    """The arm's own directory, or a run of the same settings (one with a metrics.csv: done,
    or resumed from its last round) made under another arm's name (a default changed to what
    an arm used to set: that arm's runs still count)."""
    own = s.work / f"{arm.name}-seed{seed}-{h}"
    same = [d for d in sorted(s.work.glob(f"*-seed{seed}-{h}")) if (d / "metrics.csv").exists()]
    return own if own.exists() or not same else same[0]


def sweep(s: Settings, runs: list[Run]) -> None:
    """Bring every run to done, with its evaluations cached: round-0 models and the reader
    first (here), then the runs still to do and then the evaluations still to do, each batch
    through :func:`execute` (here one by one, or concurrently on the cluster)."""
    todo = list({r.run_dir: r for r in runs if not r.done(s)}.values())  # two arms, one setting: run once
    commands = []
    for r in todo:
        base = base_model(s, r.seed)
        r.run_dir.mkdir(parents=True, exist_ok=True)
        (r.run_dir / "params.json").write_text(json.dumps(r.params, indent=1))
        options = argv(FlowSettings, r.params, FLAGS)  # --no-label-guard, --pen-scan, --jitter 0,3, ...
        if r.reader:
            options += ["--reader-model", reader_model(s)]
        commands.append(HARDMINE + ["run", "--init-model", base, *options, "--run-dir", r.run_dir])
    if not commands and all(eval_cache(r.model(k)).exists() for r in runs for _, k in r.models(s)):
        return  # nothing to run: no cluster to start
    with connect(s.dask_address, SWEEP, ALONE) as cluster:  # None without --dask-address: here
        execute(cluster, commands)
        models = list(dict.fromkeys(r.model(k) for r in runs for _, k in r.models(s)))  # unique, in order
        models = [m for m in models if not eval_cache(m).exists()]
        for model, out in zip(models, execute(cluster, [evaluate_command(m) for m in models])):
            eval_cache(model).write_text(out)


def run_arm(s: Settings, r: Run) -> tuple[pd.DataFrame, list[dict]] | None:
    """(metrics.csv rows, score rows of the last-round and shipped models) of one finished run."""
    if not r.done(s):
        return None
    rows = pd.read_csv(r.run_dir / "metrics.csv")
    scored = [{"arm": r.arm.name, "seed": r.seed, "model": which, "round": k,
               **score_row(evaluation(r.model(k)))} for which, k in r.models(s)]
    for col, value in (("arm", r.arm.name), ("seed", r.seed)):
        rows.insert(0, col, value)
    rows.attrs["run_dir"] = r.run_dir
    return rows, scored


def collect(s: Settings) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Path]]:
    frames, scores, run_dirs = [], [], {}
    runs = planned(s)
    if not s.report_only:
        sweep(s, runs)
    for r in runs:
        got = run_arm(s, r)
        if got is None:
            continue
        rows, scored = got
        frames.append(rows)
        scores += scored
        run_dirs.setdefault(r.arm.name, rows.attrs["run_dir"])
    if not frames:
        sys.exit(f"experiment: no finished runs in {s.work}; run without --report-only first")
    return pd.concat(frames, ignore_index=True), pd.DataFrame(scores), run_dirs


# ----------------------------------------------------------------------------- analysis
def per_arm(scores: pd.DataFrame, model: str = "last round") -> pd.DataFrame:
    """Mean over seeds of every score column, one row per arm (report order)."""
    picked = scores[scores["model"] == model].drop(columns=["model", "round"])
    order = [a.name for a in ARMS if a.name in set(picked["arm"])]
    return picked.groupby("arm").mean(numeric_only=True).drop(columns="seed").loc[order]


def spread(scores: pd.DataFrame, column: str, model: str = "last round") -> pd.Series:
    picked = scores[scores["model"] == model]
    return picked.groupby("arm")[column].std(ddof=1).fillna(0.0)


def checks(means: pd.DataFrame, bar: Bar = Bar()) -> dict[str, tuple[str, bool]]:
    """The bar for the default arm against mnist-only: name -> (what was measured, passed)."""
    d, b = means.loc[DEFAULT], means.loc[BASELINE]
    cells = [c for c in means.columns if c.startswith("cell_")]
    diff = (d[cells] - b[cells]).astype(float)
    worst = diff.idxmin()
    _, variant, digit = worst.split("_")
    return {
        f"synthetic accuracy at jitter >= {HARD_JITTER:g}: at least +{bar.synthetic_gain * 100:g} points":
            (f"{(d['synth_hard'] - b['synth_hard']) * 100:+.1f} points",
             d["synth_hard"] - b["synth_hard"] >= bar.synthetic_gain),
        "real-digit suite mean (test): not lower":
            (f"{(d['suite_mean'] - b['suite_mean']) * 100:+.2f} points",
             d["suite_mean"] - b["suite_mean"] >= -bar.suite_mean_loss),
        f"no (variant, class) cell of the suite lower by more than {bar.cell_loss * 100:g} point":
            (f"worst {variant}, class {digit}: {diff[worst] * 100:+.2f} points; "
             f"{int((diff < -bar.cell_loss).sum())} of {len(cells)} cells below",
             bool(diff.min() >= -bar.cell_loss)),
        f"MNIST test within {bar.mnist_loss * 100:g} points":
            (f"{(d['mnist_test_acc'] - b['mnist_test_acc']) * 100:+.2f} points",
             d["mnist_test_acc"] - b["mnist_test_acc"] >= -bar.mnist_loss),
    }


def cell_losses(scores: pd.DataFrame, model: str, bar: Bar = Bar(), arm: str = DEFAULT) -> pd.DataFrame:
    """The suite cells where ``arm`` is lower than mnist-only by more than the bar's
    point, mean over seeds, each with a 95% t-interval of the paired (same seed) difference:
    cell, mean, low, high (points), sorted worst first. ``high < 0``: lower beyond the seeds'
    own spread; otherwise the loss is within what changing the seed does."""
    from scipy import stats
    picked = scores[scores["model"] == model]
    cells = [c for c in picked.columns if c.startswith("cell_")]
    d = picked[picked["arm"] == arm].set_index("seed")[cells]
    b = picked[picked["arm"] == BASELINE].set_index("seed")[cells]
    diff = (d - b).dropna(how="all").astype(float) * 100  # (seeds, cells) points
    n = len(diff)
    mean = diff.mean()
    half = (stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else mean * np.nan
    out = pd.DataFrame({"mean": mean, "low": mean - half, "high": mean + half})
    return out[out["mean"] < -bar.cell_loss * 100].sort_values("mean")


def cell_loss_lines(scores: pd.DataFrame, model: str) -> list[str]:
    lost = cell_losses(scores, model)
    seeds = scores[(scores["model"] == model) & (scores["arm"] == DEFAULT)]["seed"].nunique()
    beyond = lost[lost["high"] < 0]
    lines = [f"{len(lost)} cells are lower than {BASELINE} by more than a point (mean over {seeds} seeds); "
             f"in {len(beyond)} of them the 95% t-interval of the paired difference excludes zero "
             "(lower beyond the seed-to-seed spread):", "",
             "| cell (variant, class) | mean change, points | 95% interval |", "|---|---|---|"]
    for cell, r in lost.iterrows():
        _, variant, digit = cell.split("_")
        lines.append(f"| {variant}, {digit} | {r['mean']:+.2f} | {r['low']:+.2f} .. {r['high']:+.2f}"
                     f"{' **beyond noise**' if r['high'] < 0 else ''} |")
    return lines


def cell_count_table(scores: pd.DataFrame) -> list[str]:
    """Per arm: cells lower than mnist-only by more than the bar's point, and how many of those
    lie beyond the seeds' spread, for both models. Against the reseeded mnist-only arm (chance
    alone) this is what the bar's "no cell lower" can be read against."""
    lines = ["| arm | last round: cells lower > 1 point (beyond noise) | shipped: cells lower > 1 point (beyond noise) |",
             "|---|---|---|"]
    for arm in [a.name for a in ARMS if a.name in set(scores["arm"]) and a.name != BASELINE]:
        counts = []
        for model in ("last round", VERDICT_MODEL):
            lost = cell_losses(scores, model, arm=arm)
            counts.append(f"{len(lost)} ({int((lost['high'] < 0).sum())})")
        lines.append(f"| {arm} | {counts[0]} | {counts[1]} |")
    return lines


# ----------------------------------------------------------------------------- report
def headline_table(scores: pd.DataFrame, model: str) -> list[str]:
    means = per_arm(scores, model)
    sd = {c: spread(scores, c, model) for c in ("mnist_test_acc", "synth_hard", "suite_mean")}
    lines = ["| arm | MNIST test | synthetic, jitter >= 2 | real-digit suite (test), mean | worst class of the suite |",
             "|---|---|---|---|---|"]
    for arm, r in means.iterrows():
        classes = {d: r[f"suite_c{d}"] for d in range(10)}
        worst = min(classes, key=classes.get)
        lines.append(f"| {arm} | {r['mnist_test_acc']:.4f} ± {sd['mnist_test_acc'][arm]:.4f} "
                     f"| {r['synth_hard']:.3f} ± {sd['synth_hard'][arm]:.3f} "
                     f"| {r['suite_mean']:.4f} ± {sd['suite_mean'][arm]:.4f} | {worst}: {classes[worst]:.3f} |")
    return lines


def diff_table(means: pd.DataFrame, columns: list[str], labels: list[str]) -> list[str]:
    """Each arm's accuracy on ``columns``, and below it the change against mnist-only, in points."""
    lines = ["| arm | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    base = means.loc[BASELINE]
    for arm, r in means.iterrows():
        lines.append(f"| {arm} | " + " | ".join(f"{r[c]:.3f}" for c in columns) + " |")
    for arm, r in means.iterrows():
        if arm != BASELINE:
            lines.append(f"| {arm} - {BASELINE} | " + " | ".join(
                f"{(r[c] - base[c]) * 100:+.1f}" for c in columns) + " |")
    return lines


def guard_table(rows: pd.DataFrame) -> list[str]:
    mined = rows[rows["round"] > 0].groupby("arm")[["mined", "ambiguous"]].sum()
    refused = rows[rows["round"] > 0].groupby("arm")["promoted"].apply(lambda p: int((~p.astype(bool)).sum()))
    total = rows[rows["round"] > 0].groupby("arm").size()
    lines = ["| arm | cases stored | quarantined as ambiguous | retrained models refused by the promotion guard |",
             "|---|---|---|---|"]
    for arm in [a.name for a in ARMS if a.name in mined.index]:
        m = mined.loc[arm]
        share = m["ambiguous"] / m["mined"] if m["mined"] else 0.0
        lines.append(f"| {arm} | {int(m['mined'])} | {int(m['ambiguous'])} ({share:.0%}) "
                     f"| {refused[arm]} of {total[arm]} |")
    return lines


def suite_png(means: pd.DataFrame, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(VARIANTS))
    arms = [a for a in means.index if a != BASELINE]
    width = 0.8 / max(len(arms), 1)
    for i, arm in enumerate(arms):
        delta = [(means.loc[arm, f"suite_{v}"] - means.loc[BASELINE, f"suite_{v}"]) * 100 for v in VARIANTS]
        ax.bar(x + i * width - 0.4 + width / 2, delta, width, label=arm)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, VARIANTS, rotation=40, ha="right")
    ax.set(ylabel=f"accuracy change vs {BASELINE} (points)",
           title="Real-digit robustness suite (MNIST test), last round's model, mean over seeds")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out / "suite_vs_mnist_only.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


VERDICT_MODEL = "shipped"  # the model a user gets: the promotion guard is part of the service


def bar_table(c: dict[str, tuple[str, bool]]) -> list[str]:
    return ["| bar | measured | met |", "|---|---|---|",
            *(f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, (value, ok) in c.items())]


def regenerate_args(argv: list[str]) -> list[str]:
    """The command line that gives the same results: without --report-only, and without
    --dask-address (where the runs ran is not part of them)."""
    opt, out, skip = flag("dask_address", FLAGS), [], False
    for a in argv:
        if skip or a == "--report-only" or a.startswith(opt + "="):
            skip = False
            continue
        if a == opt:
            skip = True
            continue
        out.append(a)
    return out


def write_report(s: Settings, rows: pd.DataFrame, scores: pd.DataFrame, argv: list[str],
                 montages: list[str]) -> Path:
    means = per_arm(scores)
    c = checks(per_arm(scores, VERDICT_MODEL))
    met = all(ok for _, ok in c.values())
    minutes = rows.filter(like="seconds_").sum().sum() / 60
    lines = [
        "# Does mining make the model better on real handwriting? Results",
        "",
        f"Regenerate ({minutes:.0f} minutes of flow stages on a 2-core CPU, plus the round-0 models, "
        "the reader and the evaluations):",
        "",
        "```bash",
        " ".join(["python bench/experiment.py", *regenerate_args(argv)]),
        "```",
        "",
        "## Finding",
        "",
        f"The service's defaults ({DEFAULT} arm: mine the digits the model gets wrong, label guard on, "
        + ("bank draws balanced over classes, " if FlowSettings().balance else "") +
        f"promotion guard on the real-digit suite) against {BASELINE} training of the same compute, "
        f"mean over {len(s.seeds)} seeds, the model each run ships (after the promotion guard): "
        + ("**it meets every part of the bar.**" if met else "**it does not meet the whole bar.**"),
        "",
        *bar_table(c),
        "",
        "The same bar for the last round's model, promoted or not (the same compute in every arm):",
        "",
        *bar_table(checks(means)),
        "",
        "## Every arm (mean ± sd over seeds)",
        "",
        "Last round's model (the same compute in every arm):",
        "",
        *headline_table(scores, "last round"),
        "",
        "The model each run ships (after the promotion guard):",
        "",
        *headline_table(scores, "shipped"),
        "",
        "## Cells of the suite that lost more than a point",
        "",
        "Last round's model (the same compute in every arm):",
        "",
        *cell_loss_lines(scores, "last round"),
        "",
        "The model each run ships (arms and seeds may ship models of different rounds):",
        "",
        *cell_loss_lines(scores, VERDICT_MODEL),
        "",
        f"Every arm against {BASELINE}, of {len(VARIANTS) * 10} cells"
        + (f" ({RESEEDED}: the same training as {BASELINE} with other batches, so its count "
           "is what chance alone gives)" if RESEEDED in set(scores["arm"]) else "") + ":",
        "",
        *cell_count_table(scores),
        "",
        "## Real-digit robustness suite per variant (test split, last round's model)",
        "",
        *diff_table(means, [f"suite_{v}" for v in VARIANTS], list(VARIANTS)),
        "",
        "![suite per variant](results/suite_vs_mnist_only.png)",
        "",
        "## Per class (suite, pooled over variants)",
        "",
        *diff_table(means, [f"suite_c{d}" for d in range(10)], [str(d) for d in range(10)]),
        "",
        "## Guards",
        "",
        *guard_table(rows),
        "",
        *montages,
        "## Setup",
        "",
        f"- seeds {list(s.seeds)}; every arm of a seed starts from the same round-0 `{s.preset}` model "
        f"({s.base_epochs} epochs on MNIST, no augmentation);",
        f"- {s.rounds} retraining rounds x {s.epochs_per_round} epoch(s), {s.synthetic_per_round} synthetic "
        "digits generated a round, every other setting the service's default"
        + (" but " + ", ".join(f"`{k}={v}`" for k, v in s.common) + " (every arm)" if s.common else "") + ";",
        "- synthetic accuracy: the fixed synthetic evaluation set (seeds mining never draws), mean over "
        f"jitter >= {HARD_JITTER:g}; real-digit suite: `model/robustness.py` on the first {ROBUST_LIMIT:,} MNIST "
        f"test digits under each of its {len(VARIANTS)} variants; the promotion guard decides on the validation split only.",
        "",
        "All rows: [results/runs.csv](results/runs.csv) (every round of every run), "
        "[results/scores.csv](results/scores.csv) (every evaluated model).",
        "",
    ]
    path = s.out / "results.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    s = parse_args(argv)
    try:
        check_address(s.dask_address, SWEEP, ALONE)  # before anything trains
    except HardmineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    t0 = time.perf_counter()
    rows, scores, run_dirs = collect(s)
    if not {BASELINE, DEFAULT} <= set(scores["arm"]):
        sys.exit(f"experiment: {BASELINE} and {DEFAULT} must both have finished runs")
    res = s.out / "results"
    res.mkdir(parents=True, exist_ok=True)
    for old in ("accuracy_over_rounds.png", "accuracy_per_jitter.png", "mined_montage.png"):
        (res / old).unlink(missing_ok=True)
    rows.to_csv(res / "runs.csv", index=False)
    scores.to_csv(res / "scores.csv", index=False)
    suite_png(per_arm(scores), res)
    montages = []
    bank = run_dirs[DEFAULT] / "bank.h5"
    with Bank.open(bank) as b:
        counts = b.status_counts()
    for status, what in (("ok", "kept for training"), ("ambiguous", "quarantined by the label guard")):
        png = res / f"mined_{status}.png"
        png.unlink(missing_ok=True)
        if not counts[status]:  # e.g. no ambiguous case with the label guard off (--set label_guard=false)
            continue
        run(HARDMINE + ["bank", "montage", bank, "--status", status, "--sort", "confidence",
                        "--limit", 40, "--out", png])
        montages += [f"Mined digits {what} ({DEFAULT} arm, first seed, most confidently wrong first):", "",
                     f"![{status}](results/{png.name})", ""]
    report = write_report(s, rows, scores, argv, montages)
    for model in (VERDICT_MODEL, "last round"):
        means = per_arm(scores, model)
        print(f"== {model} model, mean over seeds")
        print(means[["mnist_test_acc", "synth_hard", "suite_mean"]].to_string(float_format=lambda v: f"{v:.4f}"))
        for name, (value, ok) in checks(means).items():
            print(f"{'OK     ' if ok else 'NOT MET'}  {name}: {value}")
    print(f"wrote {report} in {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
