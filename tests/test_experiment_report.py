"""The verdict logic of bench/experiment.py on known-answer rows (no training).

    pytest -q tests/test_experiment_report.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("experiment", ROOT / "bench" / "experiment.py")
experiment = importlib.util.module_from_spec(spec)
sys.modules["experiment"] = experiment  # dataclasses look their module up here
spec.loader.exec_module(experiment)


def _rows(setting: str, accs: dict[str, tuple[float, float]], jitter_sd: float = 0.01) -> pd.DataFrame:
    """3 seeds x 2 rounds per arm; the last round has (mnist test, every jitter >= 2 accuracy) = accs[arm]."""
    out = []
    for arm, (mnist, hard) in accs.items():
        for seed, wiggle in zip((0, 1, 2), (-jitter_sd, 0.0, jitter_sd)):
            for rnd in (0, 1):
                out.append({"setting": setting, "seed": seed, "arm": arm,
                            "round": rnd, "mnist_test_acc": mnist, "acc_j0": 1.0, "acc_j2": hard + wiggle,
                            "acc_j5": hard + wiggle, "promoted": True, "current_round": rnd})
    return pd.DataFrame(out)


def test_a_setting_that_meets_the_bar_passes_every_check():
    rows = _rows("s", {"mnist-only": (0.9900, 0.80), "random": (0.9899, 0.90), "misclassified": (0.9895, 0.95)})
    c = experiment.checks(experiment.summarise(experiment.arm_rows(rows, "s")))
    assert c["vs mnist-only"][0] == pytest.approx(0.15) and c["vs random"][0] == pytest.approx(0.05)
    assert c["vs random"][1] == pytest.approx(0.01)  # the spread: sd over seeds
    assert c["MNIST cost"][0] == pytest.approx(-0.05)
    assert all(ok for _, _, ok in c.values())
    text = " ".join(experiment.verdict("s", experiment.summarise(experiment.arm_rows(rows, "s"))))
    assert "meets every part of the bar" in text


def test_mnist_cost_over_the_bar_and_a_gain_inside_the_spread_fail():
    rows = _rows("s", {"mnist-only": (0.9900, 0.80), "random": (0.9890, 0.945), "misclassified": (0.9850, 0.95)})
    summary = experiment.summarise(experiment.arm_rows(rows, "s"))
    c = experiment.checks(summary)
    assert [ok for _, _, ok in c.values()] == [True, False, False]
    text = " ".join(experiment.verdict("s", summary))
    assert "does not beat random by more than the spread (+0.005)" in text
    assert "does not keep MNIST test accuracy within 0.1 points of MNIST-only (-0.50)" in text


def test_the_closest_setting_passes_more_checks_then_costs_less():
    rows = pd.concat([
        _rows("a", {"mnist-only": (0.99, 0.80), "random": (0.989, 0.90), "misclassified": (0.985, 0.95)}),
        _rows("b", {"mnist-only": (0.99, 0.80), "random": (0.9895, 0.88), "misclassified": (0.9897, 0.93)}),
        _rows("c", {"mnist-only": (0.99, 0.80), "random": (0.9895, 0.88), "misclassified": (0.9880, 0.93)}),
    ])
    scores = {n: experiment.closeness(experiment.checks(experiment.summarise(experiment.arm_rows(rows, n))))
              for n in "abc"}
    assert max(scores, key=scores.get) == "b"
    assert scores["c"] > scores["a"]  # same checks passed (2), smaller MNIST cost


def test_run_dirs_are_keyed_by_every_effective_parameter(tmp_path):
    s = experiment.Settings(work=tmp_path)
    base = tmp_path / "base.keras"
    mixed = experiment.ARMS["misclassified"]
    p1 = experiment.flow_params(s, experiment.SWEEP[0], mixed, 0, base)
    p2 = experiment.flow_params(s, experiment.SWEEP[1], mixed, 0, base)
    assert experiment.tag(p1) != experiment.tag(p2) and experiment.tag(p1) == experiment.tag(dict(p1))
    only = experiment.ARMS["mnist-only"]  # never reads the bank: one run serves every setting
    assert experiment.flow_params(s, experiment.SWEEP[0], only, 0, base) == \
        experiment.flow_params(s, experiment.SWEEP[1], only, 0, base)
    slow = experiment.Mining("low lr", 0.1, round_lr=1e-4)  # another training recipe: its own mnist-only
    assert experiment.flow_params(s, slow, only, 0, base)["round_lr"] == 1e-4
    assert "round_lr" not in p1  # a setting without it keeps the hashes of runs made before it existed


def test_bad_arguments_exit_with_a_usage_line():
    with pytest.raises(SystemExit) as err:
        experiment.parse_args(["--settings", "99"])
    assert err.value.code == 2
