"""Typed settings: the pydantic base of every component's settings, and the one
place where pydantic's ``ValidationError`` becomes our one-line :class:`HardmineError`.

    python -c "from flows.settings import FlowSettings; FlowSettings(rounds=-1)"

A component declares its settings once, as a frozen :class:`Settings` model:
each field's type (``Literal[...]`` for choices), default, range
(``Field(ge=, le=)``) and ``description`` (the ``--help`` text, Prefect's form
label). pydantic converts what users type (``"2"`` -> 2, ``"no"`` -> False,
``"0,1.5"`` -> (0.0, 1.5) for a :data:`Floats` field) and refuses the rest;
:func:`explain` turns its first complaint into ``<where>: <field>=<value> ...;
use ...``, so a typo anywhere (CLI option, ``serve`` option, flow parameter,
Python call) reads the same.
"""

from __future__ import annotations

import math
import typing
from typing import Annotated, Any, ClassVar, Mapping, TypeVar

import annotated_types as at
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from miner.config import HardmineError

S = TypeVar("S", bound="Settings")


def _comma_separated(value: Any) -> Any:
    """'0, 0.5,1' -> ['0', '0.5', '1'] (pydantic converts the items); '' -> [] (refused by the field)."""
    if isinstance(value, str):
        return [part for part in value.replace(" ", "").split(",") if part]
    return value


# A tuple of numbers that a command line or a key=value string gives comma-separated.
Floats = Annotated[tuple[float, ...], BeforeValidator(_comma_separated)]


class Settings(BaseModel):
    """Frozen, no unknown names, no NaN or infinity; a bad value raises
    :class:`HardmineError` (``WHERE``: the name its messages start with)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    WHERE: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        # pydantic calls an overridden __init__ from model_validate too: one conversion for every path
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise HardmineError(explain(exc, type(self), type(self).WHERE or type(self).__name__)) from None


def checked_replace(obj: S, overrides: Mapping[str, Any]) -> S:
    """A copy of ``obj`` with ``overrides`` applied by name, checked like a new one."""
    return type(obj)(**{**dict(obj), **overrides})


def checked_value(kind: Any, value: Any, where: str, name: str) -> Any:
    """``value`` checked against a field type such as ``model.settings.MixFraction``, refused
    in one line as that setting would be: for a library function that takes the setting itself."""
    return getattr(create_model(where, __base__=Settings, **{name: (kind, ...)})(**{name: value}), name)


def number(x: float) -> str:
    """3 -> '3', 0.5 -> '0.5', 1e-12 -> '1e-12'."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def bounds(cls: type[Settings], name: str) -> str | None:
    """The field's range in interval notation ('[0, 1)'), or None if it has none."""
    low = high = None
    closed_low = closed_high = True
    for item in cls.model_fields[name].metadata:
        if isinstance(item, (at.Ge, at.Gt)):
            low, closed_low = getattr(item, "ge", getattr(item, "gt", None)), isinstance(item, at.Ge)
        elif isinstance(item, (at.Le, at.Lt)):
            high, closed_high = getattr(item, "le", getattr(item, "lt", None)), isinstance(item, at.Le)
    if low is None and high is None:
        return None
    return (("[" if closed_low else "(") + (number(low) if low is not None else "-inf") + ", "
            + (number(high) if high is not None else "inf") + ("]" if closed_high else ")"))


def choices(cls: type[Settings], name: str) -> tuple[Any, ...]:
    """The values a ``Literal[...]`` field (or ``Literal[...] | None``) accepts; () for others."""
    hint = cls.model_fields[name].annotation
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
    return ()


# pydantic error type -> what the value is not (the field's range, if any, follows "use")
NOT_A = {
    "int_parsing": "an integer", "int_from_float": "an integer", "int_type": "an integer",
    "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "text", "tuple_type": "a comma-separated list", "list_type": "a comma-separated list",
}
OUT_OF_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _shown(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return number(value)
    return repr(value) if isinstance(value, str) else str(value)


def explain(exc: ValidationError, cls: type[Settings], where: str) -> str:
    """pydantic's first error as one line: what, where (``where`` and the field), what to do."""
    error = exc.errors(include_url=False)[0]
    kind, loc, value = error["type"], error["loc"], error.get("input")
    name = str(loc[0]) if loc else ""
    item = "".join(f"[{i}]" for i in loc[1:])  # an element of a tuple field: jitter[1]
    if kind == "extra_forbidden":
        return f"{where}: unknown setting {name!r}; valid settings are {', '.join(cls.model_fields)}"
    if kind == "value_error":  # a validator's own message: already says what and what to do
        return f"{where}: {error['ctx']['error']}"
    known = name in cls.model_fields
    if kind == "literal_error" and known:
        return f"{where}: unknown {name} {value!r}; use one of {', '.join(map(str, choices(cls, name)))}"
    interval = bounds(cls, name) if known else None
    use = ("use true or false" if kind.startswith("bool_") else f"use a value in {interval}" if interval
           else "give comma-separated numbers" if item else "see --help")
    if kind in OUT_OF_RANGE:
        return f"{where}: {name}{item}={_shown(value)} is out of range; {use}"
    if kind in NOT_A:
        return f"{where}: {name}{item}={_shown(value)} is not {NOT_A[kind]}; {use}"
    if kind in ("too_short", "string_too_short"):
        return f"{where}: {name} is empty; give a value (see --help)"
    return f"{where}: {name}{item}={_shown(value)}: {error['msg']}; {use}"
