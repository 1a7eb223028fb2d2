"""A round's candidates scored on a real Dask cluster (a scheduler and two worker
processes on loopback) give the same cases and the same bank as in this process,
whatever the chunking, and when a worker is killed mid-round; an unreachable
scheduler is one line.

    pytest -q tests/test_cluster.py          # ~2-3 min on 2 cores
"""

from __future__ import annotations

import os
import signal
import socket

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("distributed")  # the dask extra (in the test extra, so CI has it)

from distributed import Client, LocalCluster  # noqa: E402

from flows.cluster import Cluster  # noqa: E402
from miner.budget import Plan  # noqa: E402
from miner.mining import BLOCK, Job, MiningResult, Selection, mine  # noqa: E402

pytestmark = pytest.mark.slow

TINY = {"epochs_per_round": 1, "synthetic_per_round": 200, "jitter": (0.0, 3.0),
        "mnist_limit": 2000, "eval_per_cell": 5, "mine_cap": 300, "robust_per_variant": 200,
        "max_candidates": 5 * BLOCK, "label_guard": False}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """An untrained seed CNN: it gets most digits wrong, so every block has cases."""
    import keras
    from model.cnn import build_model
    keras.utils.set_random_seed(3)
    path = tmp_path_factory.mktemp("model") / "untrained.keras"
    build_model("seed").save(path)
    return str(path)


def _same(a: MiningResult, b: MiningResult) -> None:
    assert len(a.cases) == len(b.cases) > 0
    assert (a.cases.records == b.cases.records).all()
    assert (a.cases.images == b.cases.images).all()
    assert a.cases.probs.tobytes() == b.cases.probs.tobytes()  # bit for bit
    assert (a.next_plan.counts == b.next_plan.counts).all()
    assert (a.generated, a.invalid, a.wrong, a.eligible) == (b.generated, b.invalid, b.wrong, b.eligible)


def _here(job: Job, model_path: str) -> MiningResult:
    import keras
    from model.infer import predictor
    return mine(job, 0.2, predictor(keras.models.load_model(model_path)))


@pytest.mark.parametrize("cap", [10**6, 700])  # every block; stops in the second block
def test_cluster_gives_the_same_cases_whatever_the_chunking(client, model_path, cap):
    job = Job(Plan.uniform((0.0, 3.0, 5.0), 1000), seed=11, selection=Selection("misclassified", cap),
              max_candidates=6 * BLOCK + 100)  # a partial last block
    here = _here(job, model_path)
    for chunk_blocks in (1, 3):
        there = mine(job, 0.2, blocks=Cluster(client, chunk_blocks).blocks(job, model_path))
        _same(here, there)
    assert (here.generated < job.max_candidates) == (cap == 700)


def test_a_worker_killed_mid_round_changes_nothing(client, model_path):
    job = Job(Plan.uniform((0.0, 3.0), 1000), seed=12, selection=Selection("margin", 10**6, 0.9),
              max_candidates=12 * BLOCK)
    here = _here(job, model_path)
    pids = client.run(os.getpid)  # worker address -> pid of its process
    killed = []

    def kill_one(progress) -> None:  # after the first block: the other chunks are on the workers
        if not killed:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    there = mine(job, 0.2, blocks=Cluster(client, 1).blocks(job, model_path), progress=kill_one)
    assert killed and set(client.run(os.getpid).values()) != set(pids.values())  # the nanny restarted it
    _same(here, there)


def _bank(path) -> tuple[pd.DataFrame, np.ndarray]:
    from store import Bank
    with Bank.open(path) as bank:
        table = bank.table()
        return table, bank.images(table["id"].to_numpy())


def test_mining_only_round_fills_the_same_bank_on_the_cluster(client, model_path, tmp_path):
    from prefect.testing.utilities import prefect_test_harness
    from flows.mine_and_retrain import mine_and_retrain
    with prefect_test_harness(server_startup_timeout=120):
        for name, address in (("here", ""), ("there", client.scheduler.address)):
            mine_and_retrain(rounds=0, run_dir=str(tmp_path / name), init_model=model_path,
                             dask_address=address, **TINY)
    here, here_images = _bank(tmp_path / "here" / "bank.h5")
    there, there_images = _bank(tmp_path / "there" / "bank.h5")
    same = [c for c in here.columns if c != "key" and "time" not in c]  # the run's id, the clock
    assert len(here) == TINY["mine_cap"] and len(same) > 10
    pd.testing.assert_frame_equal(here[same], there[same])
    assert (here_images == there_images).all()
    metrics = pd.read_csv(tmp_path / "there" / "metrics.csv")
    assert metrics["mined"].tolist() == [TINY["mine_cap"]] and metrics["candidates_per_s"].iloc[0] > 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.mark.parametrize("address, message", [
    (None, "cannot reach the Dask scheduler at tcp://127.0.0.1:{port} (connection refused); start one "
           "with `dask scheduler`"),
    ("local:0", "dask_address 'local:0': local:N needs N workers in 1..64"),
    ("http://x/y", "dask_address 'http://x/y' is not a scheduler address"),
])
def test_unreachable_or_bad_address_is_one_line_before_anything_runs(tmp_path, address, message):
    from flows.cli import cli
    port = _closed_port()
    address = address or f"tcp://127.0.0.1:{port}"
    result = CliRunner().invoke(cli, ["run", "--run-dir", str(tmp_path / "r"), "--dask-address", address])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error: mine-and-retrain: ") and "\n" not in line
    assert message.format(port=port) in line
    assert not (tmp_path / "r").exists()
