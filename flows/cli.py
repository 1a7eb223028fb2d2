"""The ``hardmine`` command: one entry point, subcommands from each package.

    hardmine --help

Subcommands are imported lazily, so ``hardmine bank summary`` never pays for
importing TensorFlow. A :class:`~miner.config.HardmineError` anywhere below,
and any usage error click finds (a bad number, a missing option, an unknown
command), becomes ``error: <one line>`` on stderr and exit status 2, never a
traceback. TensorFlow's start-up notices stay out of the terminal unless
``hardmine --verbose ...``.
"""

from __future__ import annotations

import importlib
import os

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


# Environment that silences TensorFlow's C++ start-up notices (absl's "All log
# messages before absl::InitializeLog()", cpu_feature_guard, oneDNN): read once,
# when TensorFlow is imported, so it is set before any subcommand runs.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2"}
VERBOSE_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "0"}
ARGV = "hardmine.argv"  # ctx.meta key: the command line after the root's name


class UserError(click.ClickException):
    """A :class:`HardmineError` on its way out: ``error: <line>``, exit 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def one_line(exc: click.UsageError, where: str = "hardmine") -> UserError:
    """click's four-line usage message as one line naming the command (``where`` when
    click does not say: an option missing its value) and its --help."""
    where = exc.ctx.command_path if exc.ctx is not None else where
    return UserError(f"{where}: {exc.format_message().rstrip('.')}; see `{where} --help`")


def _tensorflow_noise(ctx: click.Context, param: click.Parameter, verbose: bool) -> bool:
    if verbose:
        os.environ.update(VERBOSE_TENSORFLOW)
    else:
        for name, value in QUIET_TENSORFLOW.items():
            os.environ.setdefault(name, value)  # a user's own setting wins
    return verbose


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

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise one_line(exc) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV] = list(args)
        return super().parse_args(ctx, args)

    def command_path(self, ctx: click.Context) -> str:
        """``hardmine bank list``: the deepest subcommand the command line names."""
        names, command = [ctx.command_path], self
        for arg in ctx.meta.get(ARGV, []):
            if arg.startswith("-"):
                continue  # the root's own options
            sub = command.get_command(ctx, arg) if isinstance(command, click.Group) else None
            if sub is None:
                break
            names.append(arg)
            command = sub
        return " ".join(names)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HardmineError as exc:
            raise UserError(str(exc)) from None
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:  # a subcommand's arguments, or an unknown subcommand
            raise one_line(exc, self.command_path(ctx)) from None


@click.group(name="hardmine", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hardmine")
@click.option("--verbose", is_flag=True, default=False, is_eager=True, expose_value=False,
              callback=_tensorflow_noise, help="Show TensorFlow's start-up notices (absl, oneDNN, CPU features).")
def cli() -> None:
    """hardmine: mine the digits your CNN gets wrong and retrain on them.

    Generate synthetic pen-stroke digits, keep the misclassified ones in an
    HDF5 hard-case bank, and retrain on MNIST mixed with the bank, round after
    round, as a Prefect flow.
    """
    from model.settings import Threads
    Threads.from_env()  # a bad HARDMINE_<FIELD> is the command's one error line, before any work


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="hardmine")


if __name__ == "__main__":
    main()
