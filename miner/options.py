"""Command-line options from a :class:`~miner.settings.Settings` model: the same
flag, default, choices and help for the same setting in every command.

    hardmine run --help      # every option but --json comes from flows.settings.FlowSettings

:func:`options` decorates a click command with one option per field: the flag
is the field's name with dashes (``mix_fraction`` -> ``--mix-fraction``) unless
``flags`` renames it; a bool field is ``--x/--no-x``; a ``Literal`` field is a
``click.Choice`` (listed in ``--help``, completed by the shell); a tuple field
is comma-separated. The default is the model's and the help is the field's
description and range. Click only parses; the model checks the values, so a
bad value is the model's one line whichever command took it.
"""

from __future__ import annotations

import typing
from typing import Any, Callable, Iterable, Mapping

import click
from click.core import ParameterSource

from miner.settings import Settings, bounds, choices, number

CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def flag(name: str, flags: Mapping[str, str] | None = None) -> str:
    """The option that sets field ``name``: ``--mix-fraction`` for ``mix_fraction``."""
    return (flags or {}).get(name) or "--" + name.replace("_", "-")


def _base(hint: Any) -> Any:
    """``int | None`` -> int; other hints unchanged."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, type(int | None)) and len(args) == 1 else hint


def cli_value(value: Any) -> Any:
    """A setting's value as its option takes it (tuples comma-separated)."""
    return ",".join(map(number, value)) if isinstance(value, (tuple, list)) else value


def _option(cls: type[Settings], name: str, flags: Mapping[str, str] | None) -> Callable:
    field = cls.model_fields[name]
    hint, opt = _base(field.annotation), flag(name, flags)
    interval = bounds(cls, name)
    text = field.description + (f"; range {interval}" if interval else "")
    kwargs: dict[str, Any] = {"default": cli_value(field.default), "help": text,
                              "show_default": field.default is not None}
    if hint is bool:
        return click.option(f"{opt}/--no-{opt[2:]}", name, **kwargs)
    if choices(cls, name):
        kwargs["type"] = click.Choice([str(c) for c in choices(cls, name)])
    else:
        kwargs["type"] = CLICK_TYPES.get(hint, click.STRING)  # tuples: a comma-separated string
    return click.option(opt, name, **kwargs)


def options(cls: type[Settings], flags: Mapping[str, str] | None = None,
            only: Iterable[str] | None = None) -> Callable:
    """Decorate a click command with an option per field of ``cls`` (or of ``only``, in the model's order)."""
    wanted = set(cls.model_fields if only is None else only)
    names = [name for name in cls.model_fields if name in wanted]

    def decorate(command: Callable) -> Callable:
        for name in reversed(names):
            command = _option(cls, name, flags)(command)
        return command
    return decorate


def given(ctx: click.Context, values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``values`` the user gave (on the command line or from the environment), not click's defaults."""
    return {name: value for name, value in values.items()
            if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}


def argv(cls: type[Settings], values: Mapping[str, Any], flags: Mapping[str, str] | None = None) -> list[str]:
    """The command-line options that set ``values`` (field name -> value, typed or as text like
    ``"true"``): ``--no-balance``, ``--jitter 0,3``, ``--rounds 2``; what a script passes to the
    command these options decorate. Checked by the model first (one error line)."""
    typed = cls(**values)
    out: list[str] = []
    for name in values:
        value, opt = getattr(typed, name), flag(name, flags)
        if isinstance(value, bool):
            out.append(opt if value else f"--no-{opt[2:]}")
        elif value is not None:
            out += [opt, str(cli_value(value))]
    return out
