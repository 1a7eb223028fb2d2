"""The verdict logic of bench/experiment.py on known-answer score rows (no training).

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

VARIANTS = experiment.VARIANTS


def _scores(arms: dict[str, dict], cell_hits: dict | None = None) -> pd.DataFrame:
    """3 seeds per arm, ``arms[arm]`` = mnist, synth_hard, suite (every cell the same);
    ``cell_hits[arm] = (variant, digit, accuracy)`` overrides one cell."""
    out = []
    for arm, a in arms.items():
        for seed, wiggle in zip((0, 1, 2), (-0.002, 0.0, 0.002)):
            row = {"arm": arm, "seed": seed, "model": "last round", "round": 2,
                   "mnist_test_acc": a["mnist"], "synth_hard": a["synth"] + wiggle, "suite_mean": a["suite"]}
            row.update({f"cell_{v}_{d}": a["suite"] for v in VARIANTS for d in range(10)})
            row.update({f"suite_c{d}": a["suite"] for d in range(10)})
            if cell_hits and arm in cell_hits:
                v, d, acc = cell_hits[arm]
                row[f"cell_{v}_{d}"] = acc
            out.append(row)
    return pd.DataFrame(out)


GOOD = {"mnist-only": {"mnist": 0.9900, "synth": 0.80, "suite": 0.90},
        "random": {"mnist": 0.9899, "synth": 0.85, "suite": 0.90},
        "misclassified": {"mnist": 0.9898, "synth": 0.90, "suite": 0.905}}


def test_an_arm_that_meets_the_bar_passes_every_check():
    c = experiment.checks(experiment.per_arm(_scores(GOOD)))
    assert all(ok for _, ok in c.values()), c
    synthetic = next(v for k, (v, _) in c.items() if k.startswith("synthetic"))
    assert synthetic == "+10.0 points"


def test_one_real_digit_cell_lost_by_more_than_a_point_fails_that_check_only():
    variant = VARIANTS[3]
    scores = _scores(GOOD, {"misclassified": (variant, 6, 0.888)})  # 0.905 -> 0.888 on real 6s: -1.2 points
    c = experiment.checks(experiment.per_arm(scores))
    failed = [k for k, (_, ok) in c.items() if not ok]
    assert len(failed) == 1 and failed[0].startswith("no (variant, class) cell")
    assert c[failed[0]][0].startswith(f"worst {variant}, class 6: -1.20 points; 1 of ")


@pytest.mark.parametrize("change, failing", [
    ({"synth": 0.87}, "synthetic accuracy"),                  # +7 points is not +8
    ({"suite": 0.899}, "real-digit suite mean"),              # lower on real digits
    ({"mnist": 0.9894}, "MNIST test"),                        # -0.06 points
])
def test_each_part_of_the_bar_can_fail(change, failing):
    arms = {**GOOD, "misclassified": {**GOOD["misclassified"], **change}}
    c = experiment.checks(experiment.per_arm(_scores(arms)))
    failed = [k for k, (_, ok) in c.items() if not ok]
    assert any(k.startswith(failing) for k in failed), failed


def test_headline_table_reports_mean_and_sd_per_arm():
    lines = experiment.headline_table(_scores(GOOD), "last round")
    assert lines[2].startswith("| mnist-only | 0.9900 ± 0.0000 | 0.800 ± 0.002 | 0.9000 ± 0.0000")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| mnist-only", "| random", "| misclassified"]


def test_a_cell_lost_on_every_seed_is_beyond_noise_and_one_lost_on_average_only_is_not():
    scores = _scores(GOOD)
    steady, noisy = f"cell_{VARIANTS[0]}_3", f"cell_{VARIANTS[1]}_5"
    mis = scores["arm"] == "misclassified"
    scores.loc[mis, steady] = [0.880, 0.879, 0.881]   # mnist-only 0.90: -2 points on every seed
    scores.loc[mis, noisy] = [0.935, 0.845, 0.845]    # -2.5 points on average: +3.5, -5.5, -5.5
    lost = experiment.cell_losses(scores, "last round")
    assert list(lost.index) == [noisy, steady]  # worst first
    assert lost.loc[steady, "high"] < 0 < lost.loc[noisy, "high"]
    assert lost.loc[steady, "mean"] == pytest.approx(-2.0, abs=1e-6)
    lines = experiment.cell_loss_lines(scores, "last round")
    assert lines[0].startswith("2 cells are lower than mnist-only by more than a point (mean over 3 seeds); in 1 of them")
    assert lines[5] == f"| {VARIANTS[0]}, 3 | -2.00 | -2.25 .. -1.75 **beyond noise** |"


def test_a_run_is_named_by_the_settings_it_resolves_to_defaults_included(tmp_path):
    s = experiment.parse_args(["--seeds", "0", "--work", str(tmp_path)])
    default = experiment.FlowSettings().balance
    implicit = experiment.run_tag(s, 0, {"rounds": 2})
    # spelling a default out is the same run, so a run made under an old default (whose
    # parameters did not name it) is not reused once the default changes
    assert experiment.run_tag(s, 0, {"rounds": 2, "balance": default}) == implicit
    assert experiment.run_tag(s, 0, {"rounds": 2, "balance": not default}) != implicit
    assert experiment.run_tag(s, 0, {"rounds": 2, "run_dir": "elsewhere", "dask_address": "local:2"}) == implicit
    assert experiment.run_tag(s, 1, {"rounds": 2}) != implicit  # another seed's round-0 model


def test_a_finished_run_of_the_same_settings_is_reused_under_another_arms_name(tmp_path):
    s = experiment.parse_args(["--seeds", "0", "--work", str(tmp_path), "--arms", "mnist-only,misclassified"])
    default = next(r for r in experiment.planned(s) if r.arm.name == "misclassified")
    assert default.run_dir.name.startswith("misclassified-seed0-")
    # the same settings under the name of the arm that set them before they became the default
    h = default.run_dir.name.rsplit("-", 1)[1]
    unfinished = tmp_path / f"aaa-seed0-{h}"
    unfinished.mkdir()
    assert next(r for r in experiment.planned(s) if r.arm.name == "misclassified").run_dir == default.run_dir
    finished = tmp_path / f"mix-seed0-{h}"
    finished.mkdir()
    (finished / "metrics.csv").write_text("round\n0\n1\n2\n")
    assert next(r for r in experiment.planned(s) if r.arm.name == "misclassified").run_dir == finished
    baseline = next(r for r in experiment.planned(s) if r.arm.name == "mnist-only")
    assert baseline.run_dir.parent == tmp_path and not baseline.run_dir.name.endswith(h)  # other settings


def test_the_reseeded_baseline_is_mnist_only_with_other_seeds_from_the_same_round_0_model(tmp_path):
    s = experiment.parse_args(["--seeds", "0,1", "--work", str(tmp_path),
                               "--arms", "mnist-only,misclassified,mnist-only-reseeded"])
    runs = {(r.arm.name, r.seed): r for r in experiment.planned(s)}
    base, again = runs["mnist-only", 1], runs["mnist-only-reseeded", 1]
    assert again.params == {**base.params, "seed": 1 + again.arm.seed_shift} and again.arm.seed_shift > 0
    assert again.run_dir != base.run_dir  # its own runs, not the baseline's reused
    assert experiment.base_path(s, again.seed) == experiment.base_path(s, base.seed)  # the same start


def test_cell_counts_per_arm_against_the_baseline():
    scores = _scores(GOOD, {"random": (VARIANTS[2], 7, 0.85)})  # -5 points on every seed
    scores = pd.concat([scores, scores.assign(model="shipped")], ignore_index=True)
    lines = experiment.cell_count_table(scores)
    assert lines[2:] == ["| random | 1 (1) | 1 (1) |", "| misclassified | 0 (0) | 0 (0) |"]
