"""`hardmine run` / `hardmine serve` options, the checks made before training,
and prefect.yaml against the served deployment.

    pytest -q tests/test_flow_cli.py
"""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from flows import EXTRA_LOGGERS
from flows.cli import cli
from flows.run_cli import DEFAULT_CRON, DEPLOYMENT, NIGHTLY_PARAMS
from flows.settings import FlowSettings, check_inputs, make_settings
from miner.config import HardmineError

ROOT = Path(__file__).resolve().parents[1]


def test_run_has_an_option_for_every_flow_parameter():
    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    for f in dataclasses.fields(FlowSettings):
        flag = f.metadata.get("option", "--" + f.name.replace("_", "-"))
        assert flag in help_text, flag
    for flag in ("--rounds", "--epochs-per-round", "--synthetic-per-round", "--jitter", "--mix-fraction",
                 "--preset", "--seed", "--run-dir", "--bank", "--mnist", "--strategy"):
        assert f"  {flag} " in help_text, flag


def test_flow_signature_matches_settings():
    from flows.mine_and_retrain import mine_and_retrain
    params = mine_and_retrain.parameters.properties
    assert list(params) == [f.name for f in dataclasses.fields(FlowSettings)]
    assert params["rounds"]["default"] == FlowSettings().rounds


def test_module_entry_point_is_hardmine_run():
    result = subprocess.run([sys.executable, "-m", "flows.mine_and_retrain", "--rounds", "-2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "error: mine-and-retrain: rounds=-2 is out of range; use a value in [0, 65535]")


@pytest.mark.parametrize("overrides, message", [
    ({"preset": "huge"}, "mine-and-retrain: unknown preset 'huge'; use one of "),
    ({"mnist_path": "/nonexistent/mnist.npz"}, "mine-and-retrain: cannot read MNIST path '/nonexistent/mnist.npz'"),
    ({"init_model": "/nonexistent/m.keras"}, "mine-and-retrain: cannot read init_model '/nonexistent/m.keras'"),
])
def test_checks_before_training(overrides, message, tmp_path):
    with pytest.raises(HardmineError) as err:
        check_inputs(make_settings({"run_dir": str(tmp_path / "r"), **overrides}))
    assert str(err.value).startswith(message)


def test_a_file_that_is_not_a_bank_is_refused(tmp_path):
    bad = tmp_path / "bank.h5"
    bad.write_text("not hdf5")
    result = CliRunner().invoke(cli, ["run", "--run-dir", str(tmp_path / "r"), "--bank", str(bad)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and str(bad) in result.output
    assert result.output.count("\n") == 1


def test_serve_refuses_bad_parameters_before_contacting_prefect():
    result = CliRunner().invoke(cli, ["serve", "--param", "strategy=hardest"])
    assert result.exit_code == 2
    assert result.output == ("error: mine-and-retrain: unknown strategy 'hardest'; "
                             "use one of misclassified, margin, entropy, random\n")
    result = CliRunner().invoke(cli, ["serve", "--param", "rounds"])
    assert result.output == "error: hardmine serve: override 'rounds' must look like name=value\n"


def test_prefect_yaml_describes_the_served_deployment():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    assert deployment["name"] == DEPLOYMENT
    assert deployment["entrypoint"] == "flows/mine_and_retrain.py:mine_and_retrain"
    assert deployment["schedules"][0]["cron"] == DEFAULT_CRON
    assert deployment["parameters"] == NIGHTLY_PARAMS
    assert deployment["work_pool"]["name"] == "hardmine"
    # a worker's flow run imports Prefect before flows: the logging setting must come from here
    env = deployment["work_pool"]["job_variables"]["env"]
    assert env["PREFECT_LOGGING_EXTRA_LOGGERS"] == ",".join(EXTRA_LOGGERS)
    make_settings(deployment["parameters"])  # valid flow parameters


# ---------------------------------------------------------------- bank follows run_dir; preflight; retries

@pytest.mark.parametrize("run_dir, bank", [
    ("runs/try", "runs/try/bank.h5"),
    ("runs/nightly/{date}", "runs/nightly/bank.h5"),  # the nights share one bank next to their directories
    ("/tmp/x/{date}/sub", "/tmp/x/bank.h5"),
    ("{date}", "bank.h5"),
])
def test_the_bank_follows_run_dir_unless_given(run_dir, bank):
    from flows.settings import default_bank
    assert default_bank(run_dir) == Path(bank)
    assert make_settings({"run_dir": run_dir}).bank == Path(bank)
    assert make_settings({"run_dir": run_dir, "bank_path": "/elsewhere/b.h5"}).bank == Path("/elsewhere/b.h5")


def test_the_nightly_deployment_leaves_the_bank_to_run_dir():
    """A user who triggers the deployment with their own run_dir keeps the bank there, not in runs/nightly."""
    assert "bank_path" not in NIGHTLY_PARAMS
    assert make_settings(NIGHTLY_PARAMS).bank == Path("runs/nightly/bank.h5")
    assert make_settings({**NIGHTLY_PARAMS, "run_dir": "/tmp/try"}).bank == Path("/tmp/try/bank.h5")


def _tiny_mnist(path):
    import numpy as np
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (100, 28, 28), np.uint8), y_train=np.arange(100) % 10,
             x_test=rng.integers(0, 256, (20, 28, 28), np.uint8), y_test=np.arange(20) % 10)
    return str(path)


def test_preflight_creates_the_run_dir_and_the_banks_folder(tmp_path):
    from datetime import datetime, timezone
    from flows.preflight import preflight
    s = make_settings({"run_dir": str(tmp_path / "nights" / "{date}"), "mnist_path": _tiny_mnist(tmp_path / "m.npz")})
    seen = preflight(s, when=datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert seen.run_dir == str(tmp_path / "nights" / "2026-01-02") and Path(seen.run_dir).is_dir()
    assert seen.bank == tmp_path / "nights" / "bank.h5" and not seen.bank.exists()  # its folder, not a bank


def test_a_users_error_in_a_task_is_not_retried():
    """The retry_condition_fn for tasks that retry (store_round, report_round): Prefect's engine
    calls it with Failed(data=<the exception>)."""
    from prefect.states import Failed
    from flows.preflight import retry_unless_user_error
    from miner.config import TransientError

    def retried(exc):
        return retry_unless_user_error(None, None, Failed(data=exc))
    assert not retried(HardmineError("bank runs/x/bank.h5: directory runs/x does not exist; create it first"))
    assert retried(TransientError("bank b.h5 is being written by another process; wait for it to finish"))
    assert retried(OSError(5, "Input/output error"))
    assert retried(TimeoutError("the Prefect API did not answer"))


def test_prefects_console_shows_no_traceback_for_a_users_error():
    """A HardmineError met mid-run (after preflight) is logged by Prefect as one line, not a traceback."""
    import logging
    from prefect.logging.handlers import PrefectConsoleHandler
    import flows.mine_and_retrain  # noqa: F401  (importing the flow sets up Prefect's logging, as in `hardmine run`)
    from flows.run_cli import quiet_user_tracebacks
    quiet_user_tracebacks()
    (console,) = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    for exc, kept in ((HardmineError("bank b.h5: disk full; free some space"), False), (OSError("boom"), True)):
        try:
            raise exc
        except type(exc):
            record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "failed", None,
                                       __import__("sys").exc_info())
        assert console.filter(record)
        assert (record.exc_info is not None) == kept
