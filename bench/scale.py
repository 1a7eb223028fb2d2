"""How fast a round scores candidates in this process and on 1 and 2 local Dask workers,
and what distribution costs per candidate as a share of scoring it.

    python bench/scale.py                        # ~2-3 min on 2 cores; an untrained seed CNN
    python bench/scale.py --model runs/default/models/round-1.keras --blocks 32

Each setting mines the same round (``miner.mining.mine``: uniform plan over the
notebook's jitter radii, cap never reached, ``--blocks`` blocks of 512
candidates); each cluster is warmed up first with a one-chunk round (worker
start, TensorFlow import, model load: a once-per-run cost, printed apart) so the
figures are the steady state of a round. Overhead of distribution per
candidate, on 1 worker = (round's wall seconds - seconds the worker spent
drawing and scoring its blocks) / candidates: scheduling, pickling, transfer and
waiting, shown as a share of the worker's own seconds per candidate (the cost of
drawing and scoring one). It is measured against the worker's own time, not the
in-process run's, because Dask's nanny starts workers with OMP_NUM_THREADS=1
(one core each) while this process's TensorFlow uses every core. Every setting
must give the same cases; the script checks that too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from miner.budget import Plan  # noqa: E402
from miner.generator import EVAL_JITTERS  # noqa: E402
from miner.mining import BLOCK, Job, Selection, mine  # noqa: E402


def _model(path: str | None, folder: str) -> str:
    if path:
        return path
    import keras
    from model.cnn import build_model
    keras.utils.set_random_seed(0)
    out = os.path.join(folder, "seed.keras")
    build_model("seed").save(out)  # same forward pass cost as a trained seed CNN
    return out


def _timed(job: Job, **how):
    start = time.perf_counter()
    mined = mine(job, 0.2, **how)
    return mined, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a .keras model [default: an untrained seed CNN]")
    p.add_argument("--blocks", type=int, default=24, help="blocks of 512 candidates per timed round")
    p.add_argument("--chunk-blocks", type=int, default=4, help="blocks per Dask task")
    args = p.parse_args(argv)

    from model.infer import predictor  # first: the model package sets oneDNN before TensorFlow loads
    import keras
    from distributed import Client, LocalCluster
    from flows.cluster import Cluster

    with tempfile.TemporaryDirectory() as tmp:
        model_path = _model(args.model, tmp)
        job = Job(Plan.uniform(EVAL_JITTERS, 20_000), seed=1, selection=Selection("misclassified", 10**9),
                  max_candidates=args.blocks * BLOCK)
        warm = Job(job.plan, seed=2, selection=job.selection, max_candidates=args.chunk_blocks * BLOCK)
        predict = predictor(keras.models.load_model(model_path))
        mine(warm, 0.2, predict)  # numba and TensorFlow warm-up, as a running flow has them
        here, seconds_here = _timed(job, predict=predict)
        rows = [("in process", seconds_here, None, here.block_seconds)]
        for n in (1, 2):
            start = time.perf_counter()
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster, Client(cluster) as client:
                runner = Cluster(client, args.chunk_blocks)
                mine(warm, 0.2, blocks=runner.blocks(warm, model_path))
                setup = time.perf_counter() - start
                there, seconds = _timed(job, blocks=runner.blocks(job, model_path))
            assert (there.cases.records == here.cases.records).all(), "cluster cases differ"
            assert there.cases.probs.tobytes() == here.cases.probs.tobytes(), "cluster scores differ"
            rows.append((f"{n} local worker{'s' if n > 1 else ''}", seconds, setup, there.block_seconds))

    n = job.max_candidates
    print(f"{n} candidates per round ({args.blocks} blocks of {BLOCK}), chunks of {args.chunk_blocks} blocks, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; same cases everywhere")
    print(f"{'where':<16} {'seconds':>8} {'candidates/s':>13} {'block s':>8} {'start-up s':>11}")
    for name, seconds, setup, block_seconds in rows:
        print(f"{name:<16} {seconds:8.1f} {n / seconds:13.0f} {block_seconds:8.1f} "
              f"{'' if setup is None else f'{setup:11.1f}'}")
    _, wall, _, busy = rows[1]
    scoring, overhead = busy / n, (wall - busy) / n
    print(f"on 1 worker: scoring {scoring * 1e3:.3f} ms per candidate, distribution overhead "
          f"{overhead * 1e3:.3f} ms per candidate = {overhead / scoring:.1%} of scoring (target <= 10%)")


if __name__ == "__main__":
    main()
