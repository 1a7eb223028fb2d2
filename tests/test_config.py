"""Typed settings: what a user's typo turns into, and one default per concept.

    pytest -q tests/test_config.py
"""

from typing import Literal

import pytest
from pydantic import Field

from miner.config import HardmineError
from miner.settings import Floats, Settings, checked_replace


class Demo(Settings):
    epochs: int = Field(3, ge=1, le=10, description="passes over the data")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate")
    augment: bool = Field(True, description="random rotation/zoom/shift")
    jitter: Floats = Field((0.0, 1.0), description="pixels on the 28x28 grid")
    name: str | None = Field(None, description="optional label")
    kind: Literal["a", "b"] = Field("a", description="a choice")


def test_strings_are_converted_to_field_types():
    d = Demo(epochs="5", lr="0.01", augment="false", jitter="0, 2.5")
    assert d == Demo(epochs=5, lr=0.01, augment=False, jitter=(0.0, 2.5))
    assert checked_replace(d, {"augment": "yes"}) == Demo(epochs=5, lr=0.01, augment=True, jitter=(0.0, 2.5))


@pytest.mark.parametrize("values, message", [
    ({"epoch": 5}, "Demo: unknown setting 'epoch'; valid settings are epochs, lr, augment, jitter, name, kind"),
    ({"epochs": "three"}, "Demo: epochs='three' is not an integer; use a value in [1, 10]"),
    ({"epochs": 2.5}, "Demo: epochs=2.5 is not an integer; use a value in [1, 10]"),
    ({"epochs": 0}, "Demo: epochs=0 is out of range; use a value in [1, 10]"),
    ({"lr": "fast"}, "Demo: lr='fast' is not a number; use a value in (0, 1]"),
    ({"lr": float("nan")}, "Demo: lr=nan is not a finite number; use a value in (0, 1]"),
    ({"lr": 0}, "Demo: lr=0 is out of range; use a value in (0, 1]"),
    ({"augment": "maybe"}, "Demo: augment='maybe' is not true or false; use true or false"),
    ({"jitter": "1,x"}, "Demo: jitter[1]='x' is not a number; give comma-separated numbers"),
    ({"kind": "c"}, "Demo: unknown kind 'c'; use one of a, b"),
])
def test_a_bad_value_is_one_line_naming_the_field_and_what_to_use(values, message):
    with pytest.raises(HardmineError) as err:
        Demo(**values)
    assert str(err.value) == message


def test_settings_are_frozen_and_optional_fields_take_none():
    d = Demo(name="x")
    assert Demo(name=None).name is None and d.name == "x"
    with pytest.raises(Exception):
        d.epochs = 4


def test_the_flow_settings_preset_names_are_the_models_presets():
    from model.cnn import PRESETS
    from model.settings import PRESET_NAMES
    assert PRESET_NAMES == tuple(PRESETS)


def test_the_flow_and_train_share_their_common_defaults():
    from flows.settings import FlowSettings
    from model.settings import TrainConfig
    flow, train = FlowSettings(), TrainConfig()
    for name in ("mix_fraction", "balance", "balance_cap", "pen_scan", "precision", "preset", "seed"):
        assert getattr(flow, name) == getattr(train, name), name
    assert FlowSettings.model_fields["mix_fraction"].metadata == TrainConfig.model_fields["mix_fraction"].metadata


def test_the_parameter_table_of_docs_flows_md_shows_the_settings_defaults():
    """docs/flows.md's table is read by users choosing options: its defaults are FlowSettings'."""
    import re
    from pathlib import Path

    from flows.run_cli import FLAGS
    from flows.settings import FlowSettings
    from miner.options import cli_value
    from miner.settings import number

    def shown(v):  # as the option takes it; bools as the table's on/off
        if isinstance(v, bool):
            return "on" if v else "off"
        return number(v) if isinstance(v, float) else str(cli_value(v))

    text = (Path(__file__).parents[1] / "docs" / "flows.md").read_text()
    rows = dict(re.findall(r"^\| `(--[a-z-]+)[^`]*` \| ([^|]+) \|", text, re.M))
    checked = 0
    for name, field in FlowSettings.model_fields.items():
        flag = FLAGS.get(name, "--" + name.replace("_", "-"))
        if field.default is None or flag not in rows:
            continue
        assert rows[flag].strip() == shown(field.default), flag
        checked += 1
    assert checked >= 20  # the table is there and parsed
