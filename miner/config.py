"""Shared plumbing for every component: the project's user-facing error,
checked overrides of the per-component ``@dataclass`` defaults, and the check
every command makes of its output path before doing any work.

Every component keeps its defaults in one typed dataclass (``GeneratorConfig``,
``TrainConfig``, ...). Users override fields by name (CLI options, flow
parameters, ``key=value`` strings); a misspelt name or a value of the wrong type
is refused here with one line that says what, where and what to do, instead of
surfacing later as a traceback from deep inside.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import typing
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")


class HardmineError(ValueError):
    """A problem the user can fix (bad input, bad file, bad setting).

    The message is one line: what is wrong, where, and what to do. The CLI
    prints it as ``error: <message>`` and exits with status 2.
    """


class TransientError(HardmineError):
    """A problem that may go away by itself (another process holds the bank's
    writer lock): still one line for the user, but worth retrying in a flow."""


def _coerce(value: Any, hint: Any, where: str, name: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, name)
            except HardmineError as exc:
                errors.append(str(exc))
        raise HardmineError(errors[0] if errors else f"{where}: {name}={value!r} is not allowed")
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise HardmineError(f"{where}: {name} must be a list, got {value!r}")
        item = args[0] if args else Any
        out = [_coerce(v, item, where, name) for v in value]
        return tuple(out) if origin is tuple else out
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise HardmineError(f"{where}: {name} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise HardmineError(f"{where}: {name} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise HardmineError(f"{where}: {name} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise HardmineError(f"{where}: {name} must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise HardmineError(f"{where}: {name} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise HardmineError(f"{where}: {name} must be a string, got {value!r}")
    return value


def checked_replace(obj: T, overrides: Mapping[str, Any], where: str | None = None) -> T:
    """Return a copy of dataclass ``obj`` with ``overrides`` applied.

    Unknown names and values of the wrong type raise :class:`HardmineError`
    naming the component and listing the valid fields. Values given as strings
    (from a CLI or a ``key=value`` file) are converted to the field's type.
    The dataclass's own ``__post_init__`` then checks ranges.
    """
    cls = type(obj)
    where = where or cls.__name__
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise HardmineError(
                f"{where}: unknown setting {key!r}; valid settings are {', '.join(names)}"
            )
        changes[key] = _coerce(value, hints[key], where, key)
    return dataclasses.replace(obj, **changes)


def parse_overrides(items: list[str] | tuple[str, ...], where: str) -> dict[str, str]:
    """Turn ``["epochs=3", "lr=0.01"]`` into a dict; refuse anything without ``=``."""
    out = {}
    for item in items:
        if "=" not in item:
            raise HardmineError(f"{where}: override {item!r} must look like name=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


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
