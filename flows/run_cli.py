"""``hardmine run`` (the flow, in Prefect's embedded mode: no server needed) and
``hardmine serve`` (the deployment ``mine-and-retrain/nightly`` on a cron).

    hardmine run --rounds 2 --run-dir runs/demo
    hardmine serve --cron "0 2 * * *" --run-dir "runs/nightly/{date}"

Every field of :class:`~flows.settings.FlowSettings` is an option of ``hardmine
run`` and ``hardmine serve`` (``--epochs-per-round`` for ``epochs_per_round``;
``--bank`` and ``--mnist`` for the two paths; ``--balance/--no-balance`` for a
bool), built from the model by :func:`miner.options.options`, so the options,
the flow's parameters and the deployment cannot drift apart. ``serve`` serves
:data:`flows.deployment.DEPLOYMENT` (prefect.yaml's deployment too) with the
options given as its default parameters. Everything is
checked before the flow starts (:func:`flows.preflight.preflight`: MNIST read,
init model loaded, bank opened, output folders tried), so a bad value is one
``error:`` line, exit 2, before Prefect starts a server.

Interrupts: Prefect's embedded API server is started here, in its own session
(Ctrl-C in the terminal reaches this process only, which marks its flow run
Crashed through the still-running server) and with ``PR_SET_PDEATHSIG`` (the
kernel kills it when this process dies, even by SIGKILL). Ctrl-C or SIGTERM
end the command within seconds with one ``error:`` line and exit 128 + the
signal number (130 for Ctrl-C); a rerun with the same --run-dir resumes.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import signal
import sys
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from flows.cli import UserError
from flows.deployment import DEPLOYMENT
from flows.preflight import preflight
from flows.rundir import RunDir
from flows.settings import FlowSettings
from miner.config import HardmineError
from miner.options import given, options

# Signals that end a run the way Ctrl-C does (SIGKILL cannot be caught: PR_SET_PDEATHSIG covers it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
RESTOP_SECONDS = 3.0  # a stop signal's exception lost by Python is raised again this often


class Interrupted(BaseException):
    """A stop signal, raised in the main thread (KeyboardInterrupt's sibling for SIGTERM/SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _die_with_parent(parent: int) -> None:
    """Run in the server's process between fork and exec: the kernel sends it
    SIGTERM when the thread that started it (our main thread) exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def start_embedded_server() -> None:
    """Start Prefect's embedded API server for this process, tied to it (see the
    module docstring); nothing to do when PREFECT_API_URL names a server. Prefect
    stops it at exit (atexit), after its log and event workers have drained into it."""
    from prefect.settings import PREFECT_API_URL
    if PREFECT_API_URL.value():
        return
    from prefect.server.api.server import SubprocessASGIServer
    server = SubprocessASGIServer()  # the instance Prefect's clients use too
    if server.running:
        return
    launch = server._run_uvicorn_command

    def tied_launch():
        popen = subprocess.Popen  # prefect's server module calls subprocess.Popen: swapped for this one call
        subprocess.Popen = functools.partial(popen, start_new_session=True,
                                             preexec_fn=functools.partial(_die_with_parent, os.getpid()))
        try:
            return launch()
        finally:
            subprocess.Popen = popen

    server._run_uvicorn_command = tied_launch
    server.start()  # here, in the main thread: PR_SET_PDEATHSIG follows the thread that forks


@contextmanager
def warming(settings: FlowSettings) -> Iterator[None]:
    """Fill the flow's caches (``flows.tasks.warm``) in a thread while the body runs: the
    embedded server's boot is ~5 s of waiting on a child process. Worth ~3 s of wall
    (``hardmine run --rounds 0``, median of three, load ~2). Joined when the body ends; if the body raises
    (Ctrl-C, a server that does not start) the thread is left to die with the process."""
    import threading
    from flows import tasks

    def work() -> None:
        try:
            tasks.warm(settings)
        except Exception:  # the stage that needs it loads it again and reports the error itself
            pass

    thread = threading.Thread(target=work, name="hardmine-warm", daemon=True)
    thread.start()
    yield
    thread.join()


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed task or flow with its traceback; for a user's error
    (HardmineError: a full disk, a bad file met mid-run) the message already says
    what, where and what to do, and the command ends with it as its error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], HardmineError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_user_tracebacks() -> None:
    """Add the filter to Prefect's console handler (on the root logger; the API
    handler, which feeds the UI, keeps the tracebacks)."""
    from prefect.logging.handlers import PrefectConsoleHandler
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
                isinstance(f, _NoTracebackForUserErrors) for f in handler.filters):
            handler.addFilter(_NoTracebackForUserErrors())


@contextmanager
def stop_on_signals(what: str, then: str) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP end ``what`` with one line (``then``: what the
    user can do next) and exit 128 + signal.

    Python drops an exception that a signal handler raises while a weakref callback
    or ``__del__`` runs ("Exception ignored in ..."), and the run then carries on: seen
    for both Ctrl-C and Prefect's SIGTERM bridge on prefect 3.9.1. So every stop signal
    is noted first, and until the command ends a watchdog re-raises the stop in the
    main thread every ``RESTOP_SECONDS``; a run that still finishes exits 128 + signal."""
    import _thread
    import threading

    import prefect.utilities.engine as engine
    from prefect.exceptions import TerminationSignal

    received: list[int] = []
    done = threading.Event()
    prefect_bridge = engine._prefect_sigterm_handler

    def restop() -> None:
        while not done.wait(RESTOP_SECONDS):
            _thread.interrupt_main()  # KeyboardInterrupt in the main thread, at its next safe point

    def note(signum: int) -> None:
        if not received:
            threading.Thread(target=restop, name="hardmine-restop", daemon=True).start()
        received.append(signum)

    def noted_bridge(signum: int, *args):  # Prefect's SIGTERM handler inside a flow run
        note(signum)
        return prefect_bridge(signum, *args)

    def noted(signum: int, frame) -> None:  # ours, outside Prefect's
        note(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signum)

    def quiet_unraisable(hook_args) -> None:
        # the lost stop is re-raised by restop(); its "Exception ignored in ..." traceback
        # would only print noise above our one error line
        if not issubclass(hook_args.exc_type, (KeyboardInterrupt, Interrupted, TerminationSignal)):
            saved_hook(hook_args)

    saved_hook = sys.unraisablehook
    sys.unraisablehook = quiet_unraisable
    engine._prefect_sigterm_handler = noted_bridge  # capture_sigterm() looks it up at call time
    saved = {sig: signal.signal(sig, noted) for sig in STOP_SIGNALS}

    def stopped(signum: int) -> UserError:
        error = UserError(f"{what} stopped by {signal.Signals(signum).name}; {then}")
        error.exit_code = 128 + signum
        return error

    try:
        yield
    except (KeyboardInterrupt, Interrupted, TerminationSignal) as exc:
        signum = received[0] if received else getattr(exc, "signum", getattr(exc, "signal", signal.SIGINT))
        raise stopped(signum) from None
    finally:
        done.set()
        sys.unraisablehook = saved_hook
        engine._prefect_sigterm_handler = prefect_bridge
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if received:
        raise stopped(received[0])


# the two paths keep the short flags every command uses for them
FLAGS = {"bank_path": "--bank", "mnist_path": "--mnist"}


def run_report(metrics: str, settings: FlowSettings) -> dict:
    """``hardmine run --json``: where the run wrote, and its last completed round's metrics row."""
    rows = RunDir(Path(metrics).parent).rows()
    last = json.loads(rows.tail(1).to_json(orient="records"))[0] if len(rows) else None  # NaN -> null
    return {"metrics": metrics, "run_dir": str(Path(metrics).parent), "bank": str(settings.bank),
            "rounds": len(rows), "last_round": last}


@click.command()
@options(FlowSettings, FLAGS)
@click.option("--json", "as_json", is_flag=True, default=False,
              help="print the run's paths and its last round's metrics row as one JSON object")
def run(as_json: bool, **values) -> None:
    """Run the mine-and-retrain flow here and now (Prefect embedded mode).

    Rerun with the same --run-dir to resume after the last completed round.
    Prints the path of metrics.csv when done.
    """
    settings = FlowSettings(**values)
    with stop_on_signals(f"run {settings.run_dir}",
                         "rerun the same command to resume after the last completed round"):
        preflight(settings)
        from flows.mine_and_retrain import mine_and_retrain
        quiet_user_tracebacks()
        with warming(settings):
            start_embedded_server()
        metrics = mine_and_retrain(**settings.as_params())
    click.echo(json.dumps(run_report(metrics, settings)) if as_json else metrics)


@click.command()
@click.option("--cron", default=DEPLOYMENT.cron, show_default=True,
              help="schedule of the deployment (cron syntax, UTC)")
@click.option("--name", default=DEPLOYMENT.name, show_default=True, help="deployment name")
@options(FlowSettings, FLAGS)
@click.pass_context
def serve(ctx: click.Context, cron: str, name: str, **values) -> None:
    """Serve the deployment mine-and-retrain/nightly from this process.

    The options given become the deployment's default parameters, on top of
    prefect.yaml's (run_dir runs/nightly/{date}; bank_path follows run_dir).
    Needs a Prefect API (PREFECT_API_URL, e.g. from `prefect server start`).
    Runs come from the cron schedule or from `prefect deployment run
    mine-and-retrain/nightly --param rounds=1`, one at a time (they share the
    bank). Stop with Ctrl-C.
    """
    deployment = DEPLOYMENT.with_changes(name=name, cron=cron, parameters=given(ctx, values))
    check_schedule(cron, name)
    from flows.mine_and_retrain import mine_and_retrain
    with stop_on_signals(f"serve {name}", "start it again to serve"):
        start_embedded_server()
        mine_and_retrain.serve(**deployment.serve_arguments())


def check_schedule(cron: str, name: str) -> None:
    """The schedule and the deployment name as Prefect will check them, as one line each."""
    import pydantic
    from prefect.client.schemas.schedules import CronSchedule
    try:
        CronSchedule(cron=cron, timezone="UTC")
    except pydantic.ValidationError:
        raise HardmineError(f"hardmine serve: --cron {cron!r} is not a cron schedule; give five fields "
                            "minute hour day month weekday, e.g. '0 2 * * *' (02:00 UTC)") from None
    if not name.strip() or "/" in name or "%" in name:
        raise HardmineError(f"hardmine serve: --name {name!r} is not a deployment name; give a non-empty "
                            "name without '/' or '%', e.g. nightly")
