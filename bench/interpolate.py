"""What weight interpolation (model.interpolate, WiSE-FT) does to a finished run's rounds.

    python bench/interpolate.py runs/default                     # alphas 0, 0.25, 0.5, 0.75, 1
    python bench/interpolate.py runs/default --alphas 0,0.5,1 --per-variant 3000

For each retraining round k of the run, the model it started from (the current model
after round k - 1, from ``metrics.csv``) and the model it trained are interpolated at
each alpha (0: the start, 1: the round's own model), and every mix is scored in this
process on: MNIST validation and test, synthetic accuracy at jitter >= 2 (the flow's
evaluation set), and the real-digit suite on both sides -- validation (what the
promotion guard decides on) and test (what reports use), the first ``--per-variant``
digits of each split. Each line gives the guard's verdict against the start model on
the validation side and the test-side mean, worst class and change per class, so the
gain can be read where decisions are not made.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HARD_JITTER = 2.0  # as bench/experiment.py reads synthetic accuracy


def arguments(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a finished hardmine run directory")
    p.add_argument("--alphas", default="0,0.25,0.5,0.75,1", help="comma-separated weights of the round's model")
    p.add_argument("--per-variant", type=int, default=3000, help="digits per suite variant on each side")
    p.add_argument("--mnist", default=None, help="MNIST path (default: $HARDMINE_MNIST, then Keras' cache)")
    return p.parse_args(argv)


def scores(model, data, synthetic, suites) -> dict:
    """The flat figures of one model (accuracies 0..1)."""
    from model.evaluate import evaluate, predict_labels
    from model.robustness import evaluate_suite, summary_columns
    s = evaluate(model, data, synthetic=synthetic)
    jitter = {float(j): a for j, a in s["jitter_acc"].items()}
    row = {"val_acc": s["val_acc"], "mnist_test_acc": s["mnist_test_acc"],
           "synth_hard": float(np.mean([a for j, a in jitter.items() if j >= HARD_JITTER]))}
    for prefix, suite in suites.items():
        row.update(summary_columns(evaluate_suite(lambda x: predict_labels(model, x), suite), prefix))
    return row


def main(argv=None) -> int:
    args = arguments(argv)
    import keras
    import miner
    from flows.rundir import RunDir
    from flows.settings import DEFAULTS
    from model import robustness
    from model.data import load_mnist
    from model.guard import Tolerances, verdict
    from model.interpolate import interpolate

    alphas = [float(a) for a in args.alphas.split(",")]
    rd = RunDir(args.run_dir)
    rows = rd.rows()
    if len(rows) < 2:
        print(f"error: {rd.metrics} has {len(rows)} rounds, need round 0 and a retraining round; "
              f"run hardmine run --run-dir {args.run_dir} first", file=sys.stderr)
        return 2
    data = load_mnist(args.mnist)
    synthetic = miner.eval_set(per_cell=DEFAULTS.eval_per_cell, jitters=tuple(DEFAULTS.jitter))
    suites = {"rob_val": robustness.for_split(data, "val", args.per_variant),
              "rob_test": robustness.for_split(data, "test", args.per_variant)}
    classes = range(robustness.N_CLASSES)
    load = os.getloadavg()
    print(f"run {args.run_dir}; suite {args.per_variant} digits per variant each side; load {load[0]:.1f}")
    print("round start alpha | val_acc  test   synth>=2 | suite val  test  worst(test) | "
          "test class change vs alpha 0 (points) | guard (val side, vs start)")
    t0 = time.perf_counter()
    for k in [int(r) for r in rows["round"] if int(r) >= 1]:
        start_round = int(rows.loc[rows["round"] == k - 1, "current_round"].iloc[0])
        start = keras.models.load_model(rd.model(start_round))
        tuned = keras.models.load_model(rd.model(k))
        base = None
        for alpha in alphas:
            row = scores(interpolate(start, tuned, alpha), data, synthetic, suites)
            base = base or row
            test_c = [row[f"rob_test_c{d}"] for d in classes]
            worst = int(np.argmin(test_c))
            change = " ".join(f"{100 * (row[f'rob_test_c{d}'] - base[f'rob_test_c{d}']):+5.1f}" for d in classes)
            ok, reason = verdict(row, base if alpha > 0 else None, Tolerances())
            print(f"{k:>5} {start_round:>5} {alpha:5.2f} | {row['val_acc']:.4f} {row['mnist_test_acc']:.4f} "
                  f"{row['synth_hard']:.4f} | {row['rob_val_mean']:.4f} {row['rob_test_mean']:.4f} "
                  f"{worst}:{test_c[worst]:.3f} | {change} | {reason if alpha > 0 else 'start'}", flush=True)
    print(f"{time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
