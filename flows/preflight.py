"""Everything a run needs, checked before Prefect starts a server or a round trains.

    python -c "from flows.preflight import preflight; from flows.settings import make_settings; preflight(make_settings({'run_dir': 'runs/try'}))"

``hardmine run`` calls :func:`preflight` before the flow starts (a bad input is
one ``error:`` line within seconds, not Prefect's tracebacks after a server
start), and the flow calls it again first thing (a deployment's parameters
arrive without the CLI). Every check comes before anything is created, so a
refused run leaves nothing behind; the cheap ones first: the run directory's
and the bank's folders tried with a probe file, an existing bank opened, the
Dask scheduler (``dask_address``) reached, the init model loaded, then MNIST
read and validated as round 0 will read it.
Only then are the run directory and the bank's folder created.

:func:`retry_unless_user_error` is the other half of failing fast: a task's
``retry_condition_fn`` that retries what may pass by itself but not a
:class:`~miner.config.HardmineError` (a path that is not a bank, a folder that
is not writable: retrying cannot fix those), except a
:class:`~miner.config.TransientError` (the bank's lock held by another writer).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flows.rundir import expand_run_dir
from flows.settings import WHERE, FlowSettings, check_inputs
from miner.config import HardmineError, TransientError, check_writable_dir, require


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _creatable_dir(path: Path, what: str) -> None:
    """``path`` is a folder, or can be made one by this process."""
    require(path.is_dir() or not path.exists(), f"{WHERE}: {what} {path} is a file, not a folder; "
            "give a directory")
    ancestor = _nearest_existing(path)
    require(ancestor.is_dir(), f"{WHERE}: {what} {path}: {ancestor} is a file, not a folder; give a directory")
    check_writable_dir(ancestor, f"{WHERE}: cannot write {what} {path}")


def _bank(bank: Path) -> None:
    """An existing bank must be a bank; a new one must be creatable; its writer
    puts a lock, a temporary main file and shards next to it."""
    require(not bank.is_dir(), f"{WHERE}: bank {bank} is a directory; give a file name like {bank}/bank.h5")
    if bank.exists():
        from store import check_bank
        check_bank(str(bank))
        check_writable_dir(bank.parent, f"{WHERE}: cannot write bank {bank}")
        shards = Path(f"{bank}.shards")
        if shards.is_dir():
            check_writable_dir(shards, f"{WHERE}: cannot write bank {bank}")
    else:
        _creatable_dir(bank.parent, f"bank {bank}: folder")


def preflight(settings: FlowSettings, when: datetime | None = None) -> FlowSettings:
    """Check every input and output of a run; create the run directory and the
    bank's folder. ``when`` fills ``{date}`` in run_dir (default: now, UTC).
    Returns the settings the checks saw (run_dir with its date filled in)."""
    s = settings.model_copy(update={  # derived from checked values: nothing to check again
        "run_dir": expand_run_dir(settings.run_dir, when or datetime.now(timezone.utc)),
        "bank_path": str(settings.bank)})
    _creatable_dir(Path(s.run_dir), "run_dir")
    _bank(s.bank)
    from flows.cluster import check_address
    check_address(s.dask_address)  # the dask extra installed, a remote scheduler reachable
    if s.init_model is not None:
        from model.cnn import load_model
        load_model(s.init_model, f"{WHERE}: init_model")
    if s.label_guard:
        if s.reader.exists():
            from model.cnn import load_model
            from model.labelcheck import READER_REMEDY, embedding_layer
            reader = load_model(str(s.reader), f"{WHERE}: reader_model")
            embedding_layer(reader, f"{WHERE}: reader_model {s.reader}", READER_REMEDY + ", or --no-label-guard")
        else:  # trained there at the start of the run
            _creatable_dir(s.reader.parent, f"reader_model {s.reader}: folder")
    from model.data import resolve
    resolve(s.mnist_path)  # reads and validates (the slowest check: last); names the file and the problem
    check_inputs(s)  # the settings' own checks; creates run_dir
    try:
        s.bank.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HardmineError(f"{WHERE}: cannot create the bank's folder {s.bank.parent} ({exc.strerror}); "
                            "choose a writable place with --bank") from None
    return s


def retry_unless_user_error(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry unless the task failed with a user's error."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as raised:  # the failure's exception, however Prefect stored it
            exc = raised
    return not isinstance(exc, HardmineError) or isinstance(exc, TransientError)


__all__ = ["preflight", "retry_unless_user_error"]
