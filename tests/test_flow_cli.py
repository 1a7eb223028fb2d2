"""`hardmine run` / `hardmine serve` options (one per setting, defaults from the
settings models), the flow's Prefect parameter schema, the checks made before
training, and prefect.yaml against the served deployment.

    pytest -q tests/test_flow_cli.py
"""

import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from flows import EXTRA_LOGGERS
from flows.cli import cli
from flows.deployment import DEPLOYMENT
from flows.run_cli import FLAGS
from flows.settings import FlowSettings, check_inputs, make_settings
from miner.config import HardmineError
from miner.generator import GeneratorConfig
from miner.options import flag
from model.settings import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_run_and_serve_have_an_option_for_every_flow_parameter():
    for command in ("run", "serve"):
        help_text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        for name, field in FlowSettings.model_fields.items():
            option = flag(name, FLAGS)
            shown = f"  {option} / --no-{option[2:]}" if field.annotation is bool else f"  {option} "
            assert shown in help_text, shown
        assert "--preset [seed|strong]" in help_text and "--strategy [misclassified|margin|entropy|random]" in help_text


# command -> the settings model its options come from
COMMAND_SETTINGS = {"run": FlowSettings, "serve": FlowSettings, "train": TrainConfig, "generate": GeneratorConfig}


@pytest.mark.parametrize("command", COMMAND_SETTINGS)
def test_every_cli_default_is_its_settings_default(command):
    model = COMMAND_SETTINGS[command]
    params = {p.name: p for p in cli.get_command(None, command).params}
    shared = [name for name in model.model_fields if name in params]
    assert shared and (command == "generate" or shared == list(model.model_fields))
    defaults = model()
    for name in shared:
        assert getattr(model(**{name: params[name].default}), name) == getattr(defaults, name), name


def test_one_flag_per_concept_across_commands():
    """The same setting has the same option in every command that takes it."""
    def flags(command):
        return {p.name: p.opts for p in cli.get_command(None, command).params if isinstance(p, click.Option)}
    run, train, generate, evaluate = (flags(c) for c in ("run", "train", "generate", "evaluate"))
    for name in set(run) & set(train):
        assert run[name] == train[name], name
    assert {"mix_fraction", "balance", "pen_scan", "preset", "seed", "init_model"} <= set(run) & set(train)
    assert train["mnist"] == run["mnist_path"] == ["--mnist"] and train["bank"] == run["bank_path"] == ["--bank"]
    assert run["realistic"] == generate["realistic"]
    assert evaluate["eval_per_cell"] == run["eval_per_cell"]
    assert evaluate["robust_per_variant"] == run["robust_per_variant"]


def test_the_flow_signature_is_the_settings_model():
    """Prefect's parameter schema (its Run form) has every field, in order, with its default, a
    description, the range and the choices; Prefect's own validation follows the model."""
    from prefect.utilities.callables import parameter_schema
    from flows.mine_and_retrain import mine_and_retrain
    props = parameter_schema(mine_and_retrain).model_dump_for_openapi()["properties"]
    assert list(props) == list(FlowSettings.model_fields)
    defaults = FlowSettings().as_params()
    for name, prop in props.items():
        assert prop["default"] == defaults[name], name
        assert prop["description"] == FlowSettings.model_fields[name].description, name
    assert props["preset"]["enum"] == ["seed", "strong"]
    assert props["strategy"]["enum"] == ["misclassified", "margin", "entropy", "random"]
    assert (props["rounds"]["minimum"], props["rounds"]["maximum"]) == (0, 65535)
    assert (props["mix_fraction"]["minimum"], props["mix_fraction"]["exclusiveMaximum"]) == (0, 1)
    validated = mine_and_retrain.validate_parameters({"rounds": "2", "jitter": "0,1.5", "strategy": "margin"})
    assert (validated["rounds"], validated["jitter"], validated["strategy"]) == (2, (0.0, 1.5), "margin")
    for bad in ({"rounds": -1}, {"strategy": "hardest"}, {"jitter": "1,1"}, {"bogus": 1}):
        with pytest.raises(Exception, match="invalid parameters|expects parameters"):
            mine_and_retrain.validate_parameters(bad)


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
    result = CliRunner().invoke(cli, ["serve", "--rounds", "-1"])
    assert result.exit_code == 2
    assert result.output == "error: mine-and-retrain: rounds=-1 is out of range; use a value in [0, 65535]\n"
    result = CliRunner().invoke(cli, ["serve", "--strategy", "hardest"])
    assert result.exit_code == 2
    assert result.output == ("error: hardmine serve: Invalid value for '--strategy': 'hardest' is not one of "
                             "'misclassified', 'margin', 'entropy', 'random'; see `hardmine serve --help`\n")


def test_prefect_yaml_is_generated_from_the_deployment():
    assert (ROOT / "prefect.yaml").read_text() == DEPLOYMENT.prefect_yaml(), \
        "prefect.yaml is stale: python -m flows.deployment > prefect.yaml"
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    # a worker's flow run imports Prefect before flows: the logging setting must come from here
    env = deployment["work_pool"]["job_variables"]["env"]
    assert env["PREFECT_LOGGING_EXTRA_LOGGERS"] == ",".join(EXTRA_LOGGERS)
    make_settings(deployment["parameters"])  # valid flow parameters
    assert deployment["entrypoint"] == "flows/mine_and_retrain.py:mine_and_retrain"
    from flows.mine_and_retrain import mine_and_retrain
    assert Path(deployment["entrypoint"].split(":")[0]).resolve() == Path(mine_and_retrain.fn.__code__.co_filename)


def test_serve_serves_prefect_yamls_deployment(monkeypatch):
    """`hardmine serve` registers what `prefect deploy` would: name, description, tags, schedule,
    concurrency limit and parameters (plus the options given)."""
    import flows.run_cli
    from flows.mine_and_retrain import mine_and_retrain
    served = {}
    monkeypatch.setattr(flows.run_cli, "start_embedded_server", lambda: None)
    monkeypatch.setattr(type(mine_and_retrain), "serve", lambda self, **kwargs: served.update(kwargs))
    (yaml_deployment,) = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]

    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    (schedule,) = served["schedules"]
    assert {"name": served["name"], "description": served["description"], "tags": served["tags"],
            "concurrency_limit": served["global_limit"], "parameters": served["parameters"],
            "schedules": [{"cron": schedule.cron, "timezone": schedule.timezone, "active": schedule.active}]} == \
        {key: yaml_deployment[key] for key in ("name", "description", "tags", "concurrency_limit", "parameters",
                                               "schedules")}
    assert served["limit"] == 1  # this process runs one at a time too

    result = CliRunner().invoke(cli, ["serve", "--rounds", "1", "--jitter", "0,3", "--no-label-guard",
                                      "--cron", "0 3 * * *"])
    assert result.exit_code == 0, result.output
    assert served["parameters"] == {**yaml_deployment["parameters"], "rounds": 1, "jitter": [0.0, 3.0],
                                    "label_guard": False}
    assert served["schedules"][0].cron == "0 3 * * *"


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
    assert "bank_path" not in DEPLOYMENT.parameters
    assert make_settings(DEPLOYMENT.parameters).bank == Path("runs/nightly/bank.h5")
    assert make_settings({**DEPLOYMENT.parameters, "run_dir": "/tmp/try"}).bank == Path("/tmp/try/bank.h5")


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


@pytest.mark.parametrize("argv, line", [
    (["run", "--balance=maybe"], "error: hardmine run: Option '--balance' does not take a value; "
                                 "see `hardmine run --help`\n"),
    (["generate", "--count"], "error: hardmine generate: Option '--count' requires an argument; "
                              "see `hardmine generate --help`\n"),
    (["bank", "list", "b.h5", "--label"], "error: hardmine bank list: Option '--label' requires an argument; "
                                          "see `hardmine bank list --help`\n"),
])
def test_a_usage_error_names_the_subcommand_it_came_from(argv, line):
    """click leaves an option's missing or unwanted value without its command: the root finds it."""
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2 and result.output == line
