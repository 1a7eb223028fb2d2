"""One change, judged model for model: the same experiment arms run in two work directories
that differ in one setting, each seed's last-round model against its twin.

    python bench/experiment.py --arms mnist-only,misclassified --set pen_scan=false --work runs/off
    python bench/experiment.py --arms mnist-only,misclassified --work runs/on
    python bench/paired.py --off runs/off --on runs/on --arm mnist-only --change pen/scan

    python bench/experiment.py --seeds 0,1,2,3,4,5 --arms mnist-only,misclassified --set precision=auto \\
        --work runs/bf16   # with runs/screen's base-seed*.keras and reader.keras linked in first
    python bench/paired.py --off runs/screen --on runs/bf16 --arm misclassified --seeds 0,1,2,3,4,5 \\
        --change "bfloat16 training"   # runs/screen: the same runs in float32; same round-0 models
    python bench/paired.py --off runs/screen --on runs/screen --arm misclassified --on-arm balance-cap-2 \\
        --seeds 0,1,2,3,4,5 --change "balance cap 2"   # two arms of one experiment

Both work directories hold ``<arm>-seed<S>-<tag>/models/round-<K>.eval<N>.json``
(``hardmine evaluate --json`` of each run's last-round model, written by the
experiment); runs of the same seed start from the same round-0 model. Prints,
per seed and as the mean over seeds, the change (on minus off, in points) of
MNIST test, synthetic accuracy at jitter >= 2, the real-digit suite's mean and
each of its variants, and how many (variant, class) cells moved by more than a
point.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from experiment import EVAL_SUFFIX, VARIANTS, score_row  # the experiment's own reading of an evaluation

SHOWN = ("mnist_test_acc", "synth_hard", "suite_mean", *(f"suite_{v}" for v in VARIANTS))


def scores(path: Path) -> dict:
    return score_row(json.loads(path.read_text()))


def last_round(work: Path, arm: str, seed: int) -> Path:
    found = sorted(work.glob(f"{arm}-seed{seed}-*/models/round-*{EVAL_SUFFIX}"),
                   key=lambda p: int(p.name.split("-")[1].split(".")[0]))
    if not found:
        sys.exit(f"error: no evaluated {arm} run of seed {seed} in {work}; run bench/experiment.py there first")
    return found[-1]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--off", type=Path, required=True, help="experiment work directory without the change")
    p.add_argument("--on", type=Path, required=True, help="experiment work directory with the change")
    p.add_argument("--arm", default="mnist-only")
    p.add_argument("--on-arm", default=None, help="the arm read in --on (default: --arm): two arms of one "
                   "experiment, same round-0 models, compared with --off and --on the same directory")
    p.add_argument("--change", default="pen/scan", help="what the two directories differ in, for the heading")
    p.add_argument("--seeds", default="0,1,2")
    a = p.parse_args(argv)
    seeds = [int(x) for x in a.seeds.split(",")]
    on_arm = a.on_arm or a.arm
    pairs = [(scores(last_round(a.off, a.arm, s)), scores(last_round(a.on, on_arm, s))) for s in seeds]
    arms = a.arm if on_arm == a.arm else f"{on_arm} against {a.arm}"
    print(f"{arms} arm, last round's model, {a.change} on minus off, points (seeds {seeds} -> mean):")
    for name in SHOWN:
        d = [100 * (on[name] - off[name]) for off, on in pairs]
        print(f"  {name:22s}" + " ".join(f"{x:+7.2f}" for x in d) + f"  -> {np.mean(d):+.2f}")
    cells = [c for c in pairs[0][0] if c.startswith("cell_")]
    diff = np.mean([[100 * (on[c] - off[c]) for c in cells] for off, on in pairs], axis=0)
    print(f"  (variant, class) cells, mean over seeds: {(diff < -1).sum()} of {len(cells)} lower by more "
          f"than 1 point, {(diff > 1).sum()} higher")

if __name__ == "__main__":
    main()
