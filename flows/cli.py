"""The ``hardmine`` command: one entry point, subcommands from each package.

    hardmine --help

Subcommands are imported lazily, so ``hardmine bank summary`` never pays for
importing TensorFlow. A :class:`~miner.config.HardmineError` anywhere below
becomes ``error: <one line>`` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import click

from miner.config import HardmineError

# name -> "module:attribute" of a click command or group. Adding a subcommand
# means adding an entry here, nothing else.
SUBCOMMANDS: dict[str, str] = {
    "generate": "miner.cli:generate",
    "bank": "store.cli:bank",
    "train": "model.cli:train",
    "evaluate": "model.cli:evaluate",
    "predict": "model.cli:predict",
    "run": "flows.run_cli:run",
    "serve": "flows.run_cli:serve",
}


class UserError(click.ClickException):
    """A :class:`HardmineError` on its way out: ``error: <line>``, exit 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, and which
    turns a :class:`HardmineError` raised by any of them into :class:`UserError`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HardmineError as exc:
            raise UserError(str(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hardmine")
def cli() -> None:
    """hardmine: mine the digits your CNN gets wrong and retrain on them.

    Generate synthetic pen-stroke digits, keep the misclassified ones in an
    HDF5 hard-case bank, and retrain on MNIST mixed with the bank, round after
    round, as a Prefect flow.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="hardmine")


if __name__ == "__main__":
    main()
