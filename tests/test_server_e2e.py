"""End to end, the way a user runs the service: a real Prefect server on
loopback, ``hardmine serve`` serving ``mine-and-retrain/nightly`` on a cron
schedule (every minute here, so the scheduler fires it during the test), and
``prefect deployment run ... --watch`` with tiny parameters.

    pytest -q tests/test_server_e2e.py        # ~1 min on 2 idle cores (58 s measured)

Waits are bounded at 10 minutes: at load 11 on 2 cores one tiny run took more
than 4.

Everything lives in a temporary ``PREFECT_HOME``; the server and the serve
process are started in their own process groups and always stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from flows.run_cli import FLAGS
from flows.settings import FlowSettings
from miner.options import argv

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
TINY = {"rounds": 1, "epochs_per_round": 1, "synthetic_per_round": 300, "jitter": [0, 3],
        "mnist_limit": 2000, "eval_per_cell": 5, "mine_cap": 100, "robust_per_variant": 200}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(what: str, check, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what}: process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"{what}: not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def _json(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _completed_scheduled_runs(api: str, deployment_id: str) -> list[dict]:
    """Completed flow runs that the server's scheduler made from the deployment's cron (it
    makes an hour's worth ahead, so filter on the server)."""
    runs = _json(f"{api}/flow_runs/filter", {
        "deployments": {"id": {"any_": [deployment_id]}},
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 50, "offset": 0})
    return [r for r in runs if r["auto_scheduled"]]


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_served_deployment_fires_on_schedule_and_runs_on_demand(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           # the scheduler looks for due cron times every 60 s by default
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}
    run_dir, bank = tmp_path / "run", tmp_path / "bank.h5"
    cron_dir, cron_bank = tmp_path / "cron-run", tmp_path / "cron-bank.h5"
    procs = []
    try:
        server_log = tmp_path / "server.log"
        procs.append(_start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env, server_log))
        _wait_for("prefect server", lambda: _get(f"{api}/health") == 200, 120, procs[0], server_log)

        serve_log = tmp_path / "serve.log"
        # the deployment's defaults are the tiny parameters, so a scheduled run is tiny too
        defaults = argv(FlowSettings, {**TINY, "run_dir": str(cron_dir), "bank_path": str(cron_bank)}, FLAGS)
        procs.append(_start([str(BIN / "hardmine"), "serve", "--cron", "* * * * *", *defaults], env, serve_log))
        deployment = f"{api}/deployments/name/mine-and-retrain/nightly"
        _wait_for("hardmine serve", lambda: _get(deployment) == 200, 120, procs[1], serve_log)
        deployment_id = _json(deployment)["id"]

        # the cron fires by itself: the scheduler makes a run a minute and the served process runs it
        _wait_for("a run fired by the cron schedule",
                  lambda: len(_completed_scheduled_runs(api, deployment_id)) > 0, 600, procs[1], serve_log)
        assert pd.read_csv(cron_dir / "metrics.csv")["round"].tolist() == [0, 1]

        params = [arg for name, value in {**TINY, "run_dir": str(run_dir), "bank_path": str(bank)}.items()
                  for arg in ("--param", f"{name}={json.dumps(value)}")]
        result = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "mine-and-retrain/nightly", *params,
             "--watch", "--watch-timeout", "600"],
            env=env, capture_output=True, text=True, timeout=660)
        detail = result.stdout[-3000:] + result.stderr[-2000:] + serve_log.read_text()[-4000:]
        assert result.returncode == 0, detail
        assert "Flow run finished successfully in 'Completed'" in result.stdout, detail

        # a served run is a subprocess of `hardmine serve`, whose logging setting it inherits
        # (flows/__init__.py): the line per epoch reaches the task run's logs. Later cron runs
        # resume the completed cron run directory and train nothing, so count over all of them.
        cron_runs = [run["id"] for run in _completed_scheduled_runs(api, deployment_id)]
        logs = _json(f"{api}/logs/filter", {"logs": {"flow_run_id": {"any_": cron_runs}},
                                            "limit": 200, "offset": 0})
        epochs = [log for log in logs if log["name"] == "hardmine.model" and log["message"].startswith("epoch ")]
        assert len(epochs) == 2 and all(log["task_run_id"] for log in epochs), \
            [(log["name"], log["message"][:50]) for log in logs]  # rounds 0 and 1, one epoch each

        # the CLI's list commands send null paging fields that fastapi >= 0.151 rejects with
        # 422 (prefect's metadata keeps fastapi below it): keep them working
        for args in (["deployment", "ls"], ["work-pool", "ls"]):
            listed = subprocess.run([str(BIN / "prefect"), *args], env=env, capture_output=True,
                                    text=True, timeout=120)
            assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
        assert "mine-and-retrain/nightly" in subprocess.run(
            [str(BIN / "prefect"), "deployment", "ls"], env=env, capture_output=True, text=True,
            timeout=120).stdout.replace("\n", "")
    finally:
        for proc in reversed(procs):
            _stop(proc)

    from store import Bank
    with Bank.open(bank) as opened:
        size, rounds = len(opened), sorted(set(opened.table()["round"]))
    assert size > 0 and rounds == [0, 1]  # a 2,000-image, 1-epoch model errs in every round
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["round"].tolist() == [0, 1]
    assert metrics["bank_size"].iloc[-1] == size
    assert (run_dir / "models" / "round-1.keras").exists() and (run_dir / "models" / "current.keras").exists()
