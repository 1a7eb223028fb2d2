"""``hardmine run`` (the flow, in Prefect's embedded mode: no server needed) and
``hardmine serve`` (the deployment ``mine-and-retrain/nightly`` on a cron).

    hardmine run --rounds 2 --run-dir runs/demo
    hardmine serve --cron "0 2 * * *" --param run_dir=runs/nightly

Every field of :class:`~flows.settings.FlowSettings` is an option of ``hardmine
run`` (``--epochs-per-round`` for ``epochs_per_round``; ``--bank`` and
``--mnist`` for the two paths), built from the dataclass so the two cannot
drift apart. Only the options given override the defaults; everything is
checked before the flow starts, so a bad value is one ``error:`` line, exit 2.
"""

from __future__ import annotations

import dataclasses
import typing

import click

from flows.settings import DEFAULTS, FlowSettings, check_inputs, make_settings
from miner.config import parse_overrides

# The deployment, as prefect.yaml describes it too (tests/test_flow_cli.py keeps them equal).
DEPLOYMENT = "nightly"
DEFAULT_CRON = "0 2 * * *"  # 02:00 every night (UTC)
# One run directory a night ({date} = scheduled date), one bank growing across nights.
NIGHTLY_PARAMS = {"run_dir": "runs/nightly/{date}", "bank_path": "runs/nightly/bank.h5"}

# Python type of a field -> click type of its option (tuples are given comma-separated).
CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING, bool: click.BOOL}


def _click_type(hint) -> click.ParamType:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and typing.get_origin(hint) is not tuple:  # `int | None` -> int
        hint = args[0]
    return CLICK_TYPES.get(hint, click.STRING)


def _shown(value) -> str:
    """`` [default: ...]`` for the help text; nothing for ``None`` (the help says it)."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = ",".join(f"{v:g}" for v in value)
    return f" [default: {value}]"


def settings_options(command):
    """Decorate ``command`` with one option per FlowSettings field (no defaults
    on the click side: an absent option means 'the flow's default')."""
    hints = typing.get_type_hints(FlowSettings)
    for f in reversed(dataclasses.fields(FlowSettings)):
        flag = f.metadata.get("option", "--" + f.name.replace("_", "-"))
        default = getattr(DEFAULTS, f.name)
        command = click.option(
            flag, f.name, type=_click_type(hints[f.name]), default=None,
            help=f.metadata["help"] + _shown(default))(command)
    return command


@click.command()
@settings_options
def run(**options) -> None:
    """Run the mine-and-retrain flow here and now (Prefect embedded mode).

    Rerun with the same --run-dir to resume after the last completed round.
    Prints the path of metrics.csv when done.
    """
    settings = make_settings({k: v for k, v in options.items() if v is not None})
    check_inputs(settings)
    from flows.mine_and_retrain import mine_and_retrain
    click.echo(mine_and_retrain(**settings.as_params()))


@click.command()
@click.option("--cron", default=DEFAULT_CRON, show_default=True,
              help="schedule of the deployment (cron syntax, UTC)")
@click.option("--name", default=DEPLOYMENT, show_default=True, help="deployment name")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="default flow parameter of the deployment, e.g. rounds=2 (repeatable); "
                   f"run_dir and bank_path default to {NIGHTLY_PARAMS['run_dir']} and "
                   f"{NIGHTLY_PARAMS['bank_path']}")
def serve(cron: str, name: str, params: tuple[str, ...]) -> None:
    """Serve the deployment mine-and-retrain/nightly from this process.

    Needs a Prefect API (PREFECT_API_URL, e.g. from `prefect server start`).
    Runs come from the cron schedule or from `prefect deployment run
    mine-and-retrain/nightly --param rounds=1`, one at a time (they share the
    bank). Stop with Ctrl-C.
    """
    overrides = {**NIGHTLY_PARAMS, **parse_overrides(params, "hardmine serve")}
    settings = make_settings(overrides)
    from flows.mine_and_retrain import mine_and_retrain
    parameters = {k: v for k, v in settings.as_params().items() if k in overrides}
    mine_and_retrain.serve(name=name, cron=cron, parameters=parameters, limit=1)
