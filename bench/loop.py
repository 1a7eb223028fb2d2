"""Where a default run's wall time goes, in one run: its stages, the time outside them,
training against a plain ``model.fit`` of the same recipe, and scoring against the
machine's roofline.

    python bench/loop.py --mnist /work/shared/data/mnist.npz          # ~10-15 min on 2 cores
    python bench/loop.py --reader runs/default/reader.keras -- --rounds 1   # after --: hardmine run options

1. **The run**: ``hardmine run`` with the service's defaults (plus whatever follows
   ``--``) in a fresh run directory, timed from the command's start to its exit. The
   label guard's reader is a once-per-bank cost (a run reuses the reader next to its
   bank), so it is trained first, apart (``python -m model.reader``), and timed on its
   own line, unless ``--reader`` gives one.
2. **Stages**: the seconds the flow records per round in ``metrics.csv`` (train, mine,
   store, evaluate, promote). *Outside stages* = wall - their sum: process start,
   imports, Prefect's embedded server, loading MNIST and the evaluation sets, flow
   bookkeeping. *Idle in fit* = a round's fit seconds - the sum of its epochs' seconds
   (``epoch_seconds`` in the round's history file): a stall after the last epoch.
   Idle share = (outside stages + idle in fit) / wall. Target <= 5%.
3. **Training**: the flow's seconds per epoch (rounds 1.., bank mixed in) against a
   plain ``model.fit`` on in-memory arrays of a model that runs the same augmentation
   and pen/scan as its first layers (``bench/train_cost.py``'s ``plain+aug``), for the
   same epochs of the same MNIST images, right after the run. Target <= 1.10.
4. **Scoring**: valid candidates scored per second per round (``metrics.csv``: drawn per
   second x scored / drawn; mining's seconds include generation, selection and the label
   guard), with the round's candidates scored and miss rate, and as a share of the
   roofline: candidates/s x inference FLOPs per candidate / the measured GFLOP/s of a
   large conv2d on all cores (``bench/roofline.py``), measured in this run.

The load average is printed at the start and the end; ratios are from this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IDLE_TARGET = 0.05
FIT_TARGET = 1.10


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def timed(cmd: list[str], env: dict) -> float:
    """Run ``cmd`` (output passed through), return its wall seconds; exit on failure."""
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if code:
        sys.exit(f"error: {' '.join(cmd[1:3])} failed with exit {code}, in bench/loop.py; see its output above")
    return time.perf_counter() - t0


def plain_fit(mnist: str | None, epochs: int) -> list[float]:
    """Seconds of each epoch of a plain fit of the flow's recipe on MNIST train (54,000 images)."""
    import keras
    import numpy as np
    from model.data import load_mnist
    from train_cost import BATCH, EpochTimer, in_model_recipe

    data = load_mnist(mnist)
    keras.utils.set_random_seed(0)
    model = in_model_recipe(0)
    timer = EpochTimer()
    model.fit(data.x_train.astype(np.float32)[..., None], data.y_train, batch_size=BATCH, epochs=epochs,
              shuffle=True, verbose=0, callbacks=[timer])
    return timer.seconds


def roof(preset: str) -> tuple[float, int]:
    """(GFLOP/s of a large conv2d on all cores, inference FLOPs per image of ``preset``)."""
    from model.cnn import build_model
    from roofline import conv_roof, layer_flops

    return conv_roof(repeats=3)["plain"][0], sum(f for _, f in layer_flops(build_model(preset)))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", default=os.environ.get("HARDMINE_MNIST"), help="MNIST .npz [$HARDMINE_MNIST]")
    ap.add_argument("--reader", type=Path, default=None, help="the label guard's reader; default: train one first")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run directory here (default: a temporary one)")
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)

    env = {**os.environ, **({"HARDMINE_MNIST": a.mnist} if a.mnist else {})}
    work = Path(a.keep or tempfile.mkdtemp(prefix="hardmine-loop-"))
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"bench/loop.py: load average {load()} at the start", flush=True)

    reader, reader_s = a.reader, None
    if reader is None:
        reader = work / "reader.keras"
        reader_s = timed([sys.executable, "-m", "model.reader", "--out", str(reader)], env)
    wall = timed([sys.executable, "-m", "flows.cli", "run", "--run-dir", str(run_dir),
                  "--reader-model", str(reader), *extra], env)

    from flows.mine_and_retrain import STAGES  # metrics.csv's seconds_<stage>
    from flows.rundir import RunDir
    from model.train import history_path  # TensorFlow: imported after the runs, not during them

    m = pd.read_csv(run_dir / "metrics.csv")
    stages = {s: float(m[f"seconds_{s}"].sum()) for s in STAGES}
    rd = RunDir(str(run_dir))
    fits = [json.loads(history_path(rd.model(k)).read_text())  # an init_model's round 0 has none
            for k in m["round"] if history_path(rd.model(k)).exists()]
    idle_fit = sum(h["seconds"] - sum(h["epoch_seconds"]) for h in fits)
    outside = wall - sum(stages.values())
    retrain = [h for h in fits if h.get("bank_mix", 0) > 0] or fits
    flow_epoch = sum(sum(h["epoch_seconds"]) for h in retrain) / sum(len(h["epoch_seconds"]) for h in retrain)
    epochs = len(retrain[0]["epoch_seconds"])

    print(f"\nplain fit of the same recipe, {epochs} epochs, load average {load()}", flush=True)
    plain = plain_fit(a.mnist, epochs)
    plain_epoch = sum(plain) / len(plain)
    preset = fits[0]["config"]["preset"]
    gflops, flops = roof(preset)
    rate = m["candidates_per_s"] * m["scored"] / m["generated"]  # scored (valid) candidates/s: what is predicted

    print(f"\n== bench/loop.py: `hardmine run {' '.join(extra)}` (defaults), load average {load()} at the end")
    if reader_s is not None:
        print(f"reader (once per bank, trained apart)   {reader_s:8.1f} s")
    print(f"run wall                                 {wall:8.1f} s")
    for s, v in stages.items():
        print(f"  {s:<8}                               {v:8.1f} s  {v / wall:6.1%}")
    print(f"  outside stages                         {outside:8.1f} s  {outside / wall:6.1%}")
    print(f"  idle in fit (after the last epoch)     {idle_fit:8.1f} s  {idle_fit / wall:6.1%}")
    idle = (outside + idle_fit) / wall
    print(f"idle share                               {idle:8.1%}   (target <= {IDLE_TARGET:.0%}: "
          f"{'OK' if idle <= IDLE_TARGET else 'ABOVE'})")
    ratio = flow_epoch / plain_epoch
    print(f"epoch in the flow (retraining rounds)    {flow_epoch:8.1f} s")
    print(f"epoch of a plain fit, same recipe        {plain_epoch:8.1f} s   ratio {ratio:.2f} "
          f"(target <= {FIT_TARGET:.2f}: {'OK' if ratio <= FIT_TARGET else 'ABOVE'})")
    share = rate * flops / (gflops * 1e9)
    print(f"roof: conv2d {gflops:.1f} GFLOP/s; {preset} preset {flops / 1e6:.2f} MFLOP per candidate")
    print("mining per round: " + ", ".join(
        f"{int(n):,} scored, miss rate {mr:.3f}, {r:,.0f} scored/s ({s:.0%} of roof)"
        for n, mr, r, s in zip(m["scored"], m["miss_rate"], rate, share)))


if __name__ == "__main__":
    main()
