"""Checked overrides of component defaults: what a user's typo turns into."""

from dataclasses import dataclass

import pytest

from miner.config import HardmineError, checked_replace, parse_overrides


@dataclass(frozen=True)
class Demo:
    epochs: int = 3  # passes over the data
    lr: float = 1e-3  # Adam learning rate
    augment: bool = True  # random rotation/zoom/shift
    jitter: tuple[float, ...] = (0.0, 1.0)  # pixels on the 28x28 grid
    name: str | None = None  # optional label


def test_overrides_convert_strings_to_field_types():
    d = checked_replace(Demo(), {"epochs": "5", "lr": "0.01", "augment": "false", "jitter": "0,2.5"})
    assert d == Demo(epochs=5, lr=0.01, augment=False, jitter=(0.0, 2.5))


def test_unknown_setting_is_refused_with_the_valid_names():
    with pytest.raises(HardmineError, match=r"Demo: unknown setting 'epoch'; valid settings are epochs, lr"):
        checked_replace(Demo(), {"epoch": 5})


@pytest.mark.parametrize("key,value", [("epochs", "three"), ("epochs", 2.5), ("lr", "fast"), ("augment", "maybe"), ("epochs", True)])
def test_mistyped_value_is_refused(key, value):
    with pytest.raises(HardmineError, match=key):
        checked_replace(Demo(), {key: value})


def test_optional_field_accepts_none_and_value():
    assert checked_replace(Demo(), {"name": None}).name is None
    assert checked_replace(Demo(), {"name": "x"}).name == "x"


def test_parse_overrides_requires_equals():
    assert parse_overrides(["a=1", "b = x=y"], "t") == {"a": "1", "b": "x=y"}
    with pytest.raises(HardmineError, match="must look like name=value"):
        parse_overrides(["oops"], "t")
