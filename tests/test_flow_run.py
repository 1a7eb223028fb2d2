"""The flow for real, with tiny settings: tasks through ``.fn()``, the flow under
``prefect_test_harness``, and resume after ``kill -9`` of a flow in a subprocess
(`python -m flows.mine_and_retrain`, the same as `hardmine run`).

    pytest -q tests/test_flow_run.py          # ~1-2 min on 2 cores

Tiny = the first 2,000 MNIST training images, 1 epoch, 200 synthetic digits
per round over two jitter radii.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect.logging import disable_run_logger
from prefect.testing.utilities import prefect_test_harness

from flows.mine_and_retrain import mine_and_retrain
from flows.rundir import RunDir
from flows.settings import make_settings
from flows.tasks import mine_round, plan_round, promote_round, store_round, train_round
from model.train import history_path
from store import Bank

pytestmark = pytest.mark.slow

TINY = {"epochs_per_round": 1, "synthetic_per_round": 200, "jitter": (0.0, 3.0),
        "mnist_limit": 2000, "eval_per_cell": 5, "mine_cap": 50, "robust_per_variant": 200}


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _bank_rows(path: Path) -> pd.DataFrame:
    with Bank.open(path) as bank:
        return bank.table()


def _latest_artifact(key: str) -> dict:
    """The newest artifact with ``key``, straight from the REST API: prefect
    3.8.8's ``Artifact.get`` sends null paging fields that its server (with
    fastapi 0.154) rejects with 422."""
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        response = client.request("GET", f"/artifacts/{key}/latest")
    response.raise_for_status()
    return response.json()


# ---------------------------------------------------------------- tasks via .fn()

def _scores(val: float, class6: float = 0.9) -> dict:
    return {"val_acc": val, "rob_val_mean": 0.9, **{f"rob_val_c{d}": 0.9 for d in range(10)},
            "rob_val_c6": class6}


def test_promote_guard_task_keeps_every_model_and_moves_current(tmp_path):
    s = make_settings({"run_dir": str(tmp_path), "promote_tolerance": 0.01})
    rd = RunDir(tmp_path).make()
    for k in (0, 1, 2, 3):
        rd.model(k).write_bytes(f"model {k}".encode())
    with disable_run_logger():
        first = promote_round.fn(s, 0, str(rd.model(0)), _scores(0.95))
        rd.append_row({"round": 0, **_scores(0.95), "promoted": first.promoted})
        worse = promote_round.fn(s, 1, str(rd.model(1)), _scores(0.939))  # 0.011 worse: refused
        rd.append_row({"round": 1, **_scores(0.939), "promoted": worse.promoted})
        close = promote_round.fn(s, 2, str(rd.model(2)), _scores(0.941))  # 0.009 worse: within tolerance
        rd.append_row({"round": 2, **_scores(0.941), "promoted": close.promoted})
        real = promote_round.fn(s, 3, str(rd.model(3)), _scores(0.96, class6=0.85))  # loses real 6s
    assert (first.promoted, first.current_round) == (True, 0)
    assert (worse.promoted, worse.current_round) == (False, 0)
    assert worse.reason == "refused: MNIST val 0.9390 < 0.9500 - 0.01"
    assert (close.promoted, close.current_round) == (True, 2)
    assert (real.promoted, real.current_round) == (False, 2)
    assert real.reason == "refused: suite class 6 0.8500 < 0.9000 - 0.03"
    assert rd.current.read_bytes() == b"model 2" and rd.model(1).read_bytes() == b"model 1"


def test_store_task_is_idempotent_per_round(tmp_path):
    import miner
    s = make_settings({"run_dir": str(tmp_path)})
    images, records = miner.generate(np.array([1, 7, 7]), 1.0, seed=5)
    probs = np.full((3, 10), 0.1, np.float32)
    staged = tmp_path / "mined.npz"
    np.savez(staged, images=images, labels=records["label"], pred=np.array([7, 1, 1], np.uint8),
             probs=probs, records=records, reader_p=np.array([0.9, 0.2, 0.8], np.float32),
             ambiguous=np.array([False, True, False]))
    with disable_run_logger():
        once = store_round.fn(s, 1, str(staged))
        again = store_round.fn(s, 1, str(staged))  # a resumed round: no-op
        other = store_round.fn(s, 2, str(staged))
    assert (once.count, once.bank_size) == (3, 3)
    assert (again.count, again.bank_size) == (3, 3)
    assert other.bank_size == 6
    bank = _bank_rows(s.bank)
    assert bank["status"].tolist() == ["ok", "ambiguous", "ok"] * 2  # the reader's verdicts are kept


def test_mine_task_seconds_include_the_label_guard(tmp_path, monkeypatch):
    """metrics.csv's seconds_mine is the whole stage: a slow label guard shows there, not as
    time outside stages."""
    import model.labelcheck
    from model.cnn import build_model
    from model.labelcheck import Verdict

    def slow_check(reader, ref, images, labels, threshold):
        time.sleep(1.0)
        n = len(labels)
        return Verdict(np.ones(n, np.float32), np.ones(n), np.zeros(n, bool))

    monkeypatch.setattr(model.labelcheck, "check", slow_check)
    monkeypatch.setattr("flows.tasks._reference", lambda s, path: None)
    s = make_settings({"run_dir": str(tmp_path), **TINY})
    path = tmp_path / "untrained.keras"
    build_model("seed").save(path)
    with disable_run_logger():
        staged = mine_round.fn(s, 0, str(path), plan_round.fn(s, 0), str(path))
    scoring = staged.generated / staged.per_second  # the scoring loop's own time
    assert staged.seconds - scoring >= 1.0


def test_warm_loads_everything_round_0_reads(tmp_path, monkeypatch):
    """What `hardmine run` loads while the embedded server boots is what the stages read:
    after warm(), round 0's mining (label guard on) and evaluation load nothing again."""
    import miner
    import model.data
    import model.labelcheck
    import model.robustness
    from flows import tasks
    from flows.tasks import evaluate_round
    from model.cnn import build_model

    reader = tmp_path / "reader.keras"
    build_model("seed").save(reader)
    s = make_settings({"run_dir": str(tmp_path / "run"), "reader_model": str(reader), **TINY})
    for cached in (tasks._mnist_once, tasks._eval_set, tasks._model_once, tasks._reference_once,
                   model.robustness._cached):
        cached.cache_clear()
    tasks.warm(s)

    def loaded_again(*args, **kwargs):
        raise AssertionError("a stage loaded what warm() should have loaded")

    for where, name in ((model.data, "load_mnist"), (miner, "eval_set"), (model.labelcheck, "reference"),
                        (model.robustness, "build")):
        monkeypatch.setattr(where, name, loaded_again)
    with disable_run_logger():
        staged = mine_round.fn(s, 0, str(reader), plan_round.fn(s, 0), str(reader))
        evaluated = evaluate_round.fn(s, 0, str(reader))
    assert staged.generated > 0 and 0 <= evaluated.metrics["val_acc"] <= 1


# ---------------------------------------------------------------- the flow

def test_tiny_flow_writes_its_run_dir_and_artifacts(tmp_path, harness):
    run_dir = tmp_path / "run"
    path = mine_and_retrain(rounds=1, run_dir=str(run_dir), mix_fraction=0.3, balance=True, round_lr=2e-4,
                            round_weight=0.5, **TINY)
    metrics = pd.read_csv(path)
    assert metrics["round"].tolist() == [0, 1]
    for column in ("val_acc", "mnist_test_acc", "synth_acc", "acc_j0", "acc_j3", "mined", "bank_size",
                   "scored", "miss_rate", "candidates_per_mined", "candidates_per_s",
                   "promoted", "seconds_train", "seconds_mine", "seconds_evaluate", "rob_val_mean",
                   "rob_val_lowres8", "rob_val_c9", "ambiguous", "promote_reason"):
        assert column in metrics, column
    assert metrics["promote_reason"].iloc[0] == "promoted: no current model"
    assert 0 < metrics["rob_val_mean"].iloc[0] < metrics["val_acc"].iloc[0]  # the suite is harder than MNIST
    assert metrics["promoted"].iloc[0]  # round 0 is always the first current model
    assert metrics["bank_size"].iloc[-1] == metrics["mined"].sum() > 0
    assert (metrics["mined"] <= TINY["mine_cap"]).all()
    rd = RunDir(run_dir)
    assert all(rd.model(k).exists() for k in (0, 1)) and rd.current.exists()
    assert not list(rd.model(1).parent.glob("*.tmp*"))  # the interpolated round-1 model replaced its fine-tune
    trained = json.loads(history_path(rd.model(1)).read_text())["config"]
    assert (trained["balance"], trained["mix_fraction"], trained["lr"]) == (True, 0.3, 2e-4)  # knobs reach training
    assert all(rd.budget(k).exists() for k in (0, 1, 2))  # round 2's split is recorded ahead
    assert sorted(p.name for p in rd.plots.glob("round-1-*.png")) == [
        "round-1-confusion.png", "round-1-curves.png", "round-1-jitter.png", "round-1-robustness.png"]
    assert (run_dir / "reader.keras").exists()  # the label guard's reader, trained once, beside the bank
    split = pd.read_csv(rd.budget(1))
    assert split["budget"].sum() == TINY["synthetic_per_round"]
    assert split["budget"].min() >= int(0.2 * 200 / 20)
    markdown = _latest_artifact("mine-and-retrain-round-1")
    assert markdown["type"] == "markdown" and "# mine-and-retrain, round 1" in markdown["data"]
    assert "| **all** |" in markdown["data"]  # a 2,000-image model errs: a crosstab, not "nothing"
    table = _latest_artifact("mine-and-retrain-metrics")
    assert table["type"] == "table" and '"round": 1' in table["data"]
    progress = _latest_artifact("mine-and-retrain-progress")
    assert progress["type"] == "progress" and float(progress["data"]) == 100.0

    bank = _bank_rows(run_dir / "bank.h5")
    assert bank.groupby("round").size().reindex(range(2), fill_value=0).tolist() == metrics["mined"].tolist()
    quarantined = bank[bank["status"] == "ambiguous"].groupby("round").size()
    assert quarantined.reindex(range(2), fill_value=0).tolist() == metrics["ambiguous"].tolist()
    assert "## Real-digit robustness (validation split)" in markdown["data"]
    assert "**Promotion guard:**" in markdown["data"]

    mine_and_retrain(rounds=1, run_dir=str(run_dir), **TINY)  # already complete: nothing to do
    assert pd.read_csv(path)["round"].tolist() == [0, 1]
    assert len(_bank_rows(run_dir / "bank.h5")) == len(bank)

    # bring your own model: round 0 of a new run mines with a copy of it instead of training
    byo = tmp_path / "byo"
    byo_metrics = pd.read_csv(mine_and_retrain(rounds=0, run_dir=str(byo), init_model=str(rd.model(1)), **TINY))
    assert RunDir(byo).model(0).read_bytes() == rd.model(1).read_bytes()
    assert byo_metrics["round"].tolist() == [0] and byo_metrics["mnist_test_acc"].iloc[0] == \
        pytest.approx(metrics["mnist_test_acc"].iloc[1])  # same model, same test set


def test_epoch_lines_reach_the_train_task_runs_logs(tmp_path, harness, caplog):
    """hardmine.model's line per epoch is in the train task run's logs as the API
    serves them (Prefect's PREFECT_LOGGING_EXTRA_LOGGERS, set by importing flows),
    and reaches the root logger, whose handler prints it on the terminal."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId
    from prefect.logging.handlers import APILogHandler
    s = make_settings({"run_dir": str(tmp_path / "run"), **TINY})

    @flow
    def train_only():
        return train_round(s, 0, return_state=True).state_details.task_run_id

    with caplog.at_level(logging.INFO, logger="hardmine"):
        task_run_id = train_only()
    APILogHandler().flush()  # the handler sends in batches
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(task_run_id=LogFilterTaskRunId(any_=[task_run_id])))
    epochs = [log.message for log in logs if log.name == "hardmine.model" and log.message.startswith("epoch ")]
    assert len(epochs) == 1 and epochs[0].startswith("epoch 1/1: loss "), [(l.name, l.message) for l in logs]
    assert [r.getMessage() for r in caplog.records if r.name == "hardmine.model"
            and r.getMessage().startswith("epoch ")] == epochs


def test_invalid_bank_stops_before_training(tmp_path, harness):
    not_a_bank = tmp_path / "bank.h5"
    not_a_bank.write_bytes(b"hello")
    from miner.config import HardmineError
    with pytest.raises(HardmineError, match="bank"):
        mine_and_retrain(rounds=0, run_dir=str(tmp_path / "run"), bank_path=str(not_a_bank), **TINY)
    assert not (tmp_path / "run" / "models" / "round-0.keras").exists()


# ---------------------------------------------------------------- kill -9 and resume

def _cli_args(run_dir: Path, rounds: int) -> list[str]:
    args = ["--rounds", str(rounds), "--run-dir", str(run_dir)]
    for name, value in TINY.items():
        value = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else str(value)
        args += ["--" + name.replace("_", "-"), value]
    return args


def test_killed_mid_round_then_rerun_has_every_round_once(tmp_path, harness):
    from prefect.settings import PREFECT_API_URL
    run_dir = tmp_path / "run"
    bank_path = run_dir / "bank.h5"
    # the subprocess uses the harness's server instead of starting its own
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    log = tmp_path / "flow.log"
    proc = subprocess.Popen([sys.executable, "-m", "flows.mine_and_retrain", *_cli_args(run_dir, 1)],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # kill -9 right after round 1's cases are committed to the bank, before its metrics row
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if bank_path.exists() and (_bank_rows(bank_path)["round"] == 1).any():
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    assert RunDir(run_dir).completed_rounds() == [0]  # round 1 was cut short
    stored_before = _bank_rows(bank_path)

    mine_and_retrain(rounds=1, run_dir=str(run_dir), **TINY)  # the rerun, in this process
    metrics = pd.read_csv(run_dir / "metrics.csv")
    bank = _bank_rows(bank_path)
    assert metrics["round"].tolist() == [0, 1]
    assert bank["id"].is_unique and len(bank) == metrics["mined"].sum()
    per_round = bank.groupby("round").size().reindex(range(2), fill_value=0)
    assert per_round.tolist() == metrics["mined"].tolist()
    # round 1's cases are the ones committed before the kill, not a second copy
    assert (bank[bank["round"] == 1]["id"].to_numpy() ==
            stored_before[stored_before["round"] == 1]["id"].to_numpy()).all()
