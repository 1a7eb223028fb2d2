"""Shared plumbing for every component: the project's user-facing error and
the check every command makes of its output path before doing any work.

    python -c "from miner.config import check_output; check_output('x.npz', 'demo', ('.npz',))"

Every component keeps its defaults in one typed settings model (``GeneratorConfig``,
``TrainConfig``, ``FlowSettings``, ...: :mod:`miner.settings`), whose bad values
become the one-line :class:`HardmineError` defined here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable


class HardmineError(ValueError):
    """A problem the user can fix (bad input, bad file, bad setting).

    The message is one line: what is wrong, where, and what to do. The CLI
    prints it as ``error: <message>`` and exits with status 2.
    """


class TransientError(HardmineError):
    """A problem that may go away by itself (another process holds the bank's
    writer lock): still one line for the user, but worth retrying in a flow."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`HardmineError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise HardmineError(message)


def check_output(path: str | os.PathLike, where: str, suffixes: tuple[str, ...] | None = None,
                 make_parents: bool = False) -> Path:
    """Refuse an output path before any work is done: a wrong extension, a
    directory in the way, a missing folder (unless ``make_parents``: the writer
    creates it, so its nearest existing ancestor must be writable) or a folder
    this process cannot create files in (tried with a probe file, since root
    ignores permission bits). Returns the path."""
    out = Path(path)
    require(str(path) != "", f"{where}: the output path is empty; give a file name")
    if suffixes is not None:
        require(out.suffix.lower() in suffixes,
                f"{where}: cannot write {path}: it must end in {' or '.join(suffixes)}")
    require(not out.is_dir(), f"{where}: cannot write {path}: it is a directory; give a file name")
    folder = out.parent
    if make_parents:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    require(folder.is_dir(), f"{where}: cannot write {path}: {folder} is a file, not a folder" if folder.exists()
            else f"{where}: cannot write {path}: folder {folder} does not exist; create it first")
    check_writable_dir(folder, f"{where}: cannot write {path}")
    return out


def check_writable_dir(folder: str | os.PathLike, what: str) -> None:
    """HardmineError naming ``what`` unless a file can be created in ``folder``."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hardmine-probe-"):
            pass
    except OSError as exc:
        raise HardmineError(f"{what}: folder {folder} is not writable ({exc.strerror or exc}); "
                            "choose another place") from None


def write_atomically(path: str | os.PathLike, write: Callable[[Path], Any], where: str) -> None:
    """``write(tmp)`` to a temporary name next to ``path`` (same extension, for
    writers that pick the format from it), then rename it over ``path``: a failed
    or interrupted write never leaves half a file, and a full disk or a vanished
    folder is one HardmineError line."""
    out = Path(path)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise HardmineError(f"{where}: cannot write {path} ({exc.strerror or exc}); "
                            "free some space or choose another place") from None
    finally:
        tmp.unlink(missing_ok=True)
