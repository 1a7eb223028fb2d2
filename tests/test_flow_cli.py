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
