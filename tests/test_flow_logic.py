"""The flow's pure logic, without TensorFlow or a Prefect run: budget split,
selection strategies, parameter validation, resume bookkeeping, metrics.csv,
report text, and `hardmine run`'s refusals.

    pytest -q tests/test_flow_logic.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from miner import budget
from flows.cli import cli
from flows.report import mined_frame, mined_markdown, progress_percent, round_markdown, table_rows
from flows.rundir import RunDir
from miner.select import STRATEGIES, select
from flows.settings import DEFAULTS, FlowSettings, make_settings
from miner.config import HardmineError


# ---------------------------------------------------------------- budget split

def test_split_is_proportional_above_the_floor_and_sums_exactly():
    rate = np.array([[0.0, 0.1], [0.3, 0.0]])
    counts = budget.split_budget(rate, total=1000, floor=0.2)
    assert counts.sum() == 1000
    # floor: 200 spread over 4 cells = 50 each; the other 800 by error rate 0.1 : 0.3
    assert counts.tolist() == [[50, 250], [650, 50]]


def test_split_floor_keeps_every_cell_alive_and_zero_floor_starves():
    rate = np.zeros((10, 7))
    rate[3, 6] = 0.9
    counts = budget.split_budget(rate, total=7000, floor=0.35)
    assert counts.min() == 35  # 0.35 * 7000 / 70
    assert counts[3, 6] == 7000 - 69 * 35
    assert (budget.split_budget(rate, 7000, floor=0.0) == 0).sum() == 69


def test_split_rounding_by_largest_remainder_is_exact_and_deterministic():
    rng = np.random.default_rng(0)
    for total in (1, 7, 69, 70, 71, 12345):
        rate = rng.random((10, 7))
        counts = budget.split_budget(rate, total, floor=0.2)
        assert counts.sum() == total and counts.min() >= 0
        exact = (0.2 / 70 + 0.8 * rate / rate.sum()) * total
        assert np.abs(counts - exact).max() < 1.0
        assert (budget.split_budget(rate, total, 0.2) == counts).all()


def test_plan_layout_keeps_the_split_in_every_prefix_and_repeats():
    counts = budget.split_budget(np.random.default_rng(2).random((10, 3)), 997, floor=0.2)
    plan = budget.Plan(counts, (0.0, 1.0, 2.5))
    labels, radii, j = plan.layout
    assert (budget.cell_counts(labels, j, 3) == counts).all()  # the whole layout is the split
    for n in (50, 300, 600):  # every prefix is within one digit per cell of the split's share
        prefix = budget.cell_counts(labels[:n], j[:n], 3)
        assert np.abs(prefix - counts * n / 997).max() <= 1.0
    again = plan.cells(np.arange(997, 997 + 10))  # candidates past the plan's total start it over
    assert (again[0] == labels[:10]).all() and (again[1] == radii[:10]).all()
    nxt = plan.next(np.ones((10, 3)), np.full((10, 3), 4), floor=0.2)
    assert nxt.total == 997 and nxt.fits((0.0, 1.0, 2.5), 997) and not nxt.fits((0.0, 1.0), 997)


def test_uniform_and_no_errors_give_even_split():
    assert budget.uniform_budget(2, 40).tolist() == [[2, 2]] * 10
    assert (budget.split_budget(np.zeros((10, 2)), 40, 0.1) == 2).all()


def test_cell_errors_expand_and_recorded_table_roundtrip(tmp_path):
    counts = np.zeros((10, 3), dtype=np.int64)
    counts[1, 0], counts[7, 2] = 2, 3
    labels, radii, j = budget.expand(counts, (0.0, 1.0, 2.5))
    assert labels.tolist() == [1, 1, 7, 7, 7] and radii.tolist() == [0, 0, 2.5, 2.5, 2.5]
    wrong = np.array([True, False, True, True, False])
    errors, generated = budget.cell_errors(labels, j, wrong, 3)
    assert errors[1, 0] == 1 and errors[7, 2] == 2 and errors.sum() == 3
    assert (generated == counts).all()
    assert budget.error_rate(errors, generated)[7, 2] == pytest.approx(2 / 3)
    table = budget.budget_table(counts, (0.0, 1.0, 2.5), errors, generated)
    path = budget.write_budget(tmp_path / "budget" / "round-1.csv", table)
    recorded = budget.Plan.read(path)
    assert (recorded.counts == counts).all() and recorded.jitter == (0.0, 1.0, 2.5)
    assert list(table.columns) == ["digit", "jitter", "budget", "errors", "generated", "error_rate"]


# ---------------------------------------------------------------- selection

PROBS = np.array([
    [0.90, 0.10, 0, 0, 0, 0, 0, 0, 0, 0],  # label 0, right, confident
    [0.60, 0.40, 0, 0, 0, 0, 0, 0, 0, 0],  # label 1, wrong, p_true .4
    [0.05, 0.95, 0, 0, 0, 0, 0, 0, 0, 0],  # label 0, wrong, p_true .05
    [0.45, 0.55, 0, 0, 0, 0, 0, 0, 0, 0],  # label 1, right, p_true .55
    [0.10, 0.10, 0.8, 0, 0, 0, 0, 0, 0, 0],  # label 1, wrong, p_true .1 (invalid below)
])
LABELS = np.array([0, 1, 0, 1, 1])
VALID = np.array([True, True, True, True, False])


def test_strategies_table_names():
    assert list(STRATEGIES) == ["misclassified", "margin", "entropy", "random"]


@pytest.mark.parametrize("strategy, cap, expected", [
    ("misclassified", 10, [1, 2]),
    ("misclassified", 1, [2]),         # most confidently wrong first
    ("margin", 10, [1, 2]),            # p_true < .5
    ("entropy", 2, [1, 3]),            # the two ~50/50 rows
    ("entropy", 10, [0, 1, 2, 3]),
])
def test_select_by_strategy_drops_invalid_and_caps(strategy, cap, expected):
    assert select(strategy, PROBS, LABELS, VALID, cap, margin=0.5).tolist() == expected


def test_margin_threshold_takes_right_but_unsure_cases():
    assert select("margin", PROBS, LABELS, VALID, 10, margin=0.6).tolist() == [1, 2, 3]


def test_random_ignores_the_model_is_seeded_and_capped():
    a = select("random", PROBS, LABELS, VALID, 2, seed=3)
    b = select("random", PROBS[::-1] * 0 + 0.1, LABELS, VALID, 2, seed=3)
    assert a.tolist() == b.tolist() and len(a) == 2 and 4 not in a
    picks = {tuple(select("random", PROBS, LABELS, VALID, 2, seed=s)) for s in range(20)}
    assert len(picks) > 1


def test_selection_of_a_union_is_the_selection_of_the_parts_selections():
    """Order by (key, index): the top cap of the union of blocks = the top cap of the union of
    each block's top cap, which is what lets a round be scored in any chunking."""
    from miner.select import ranked
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=400).astype(np.float32)
    probs[100:110] = probs[0]  # ties in the key: broken by index
    labels = rng.integers(0, 10, 400)
    valid = rng.random(400) > 0.1
    index = np.arange(1000, 1400, dtype=np.uint64)
    for name in STRATEGIES:
        whole = select(name, probs, labels, valid, 30, margin=0.9, seed=7, index=index)
        parts = []
        for a in range(0, 400, 64):
            pos, key = ranked(name, probs[a:a + 64], labels[a:a + 64], index[a:a + 64], valid[a:a + 64], 0.9, 7)
            parts += [(k, int(index[a + p]), a + p) for p, k in zip(pos[:30], key[:30])]
        assert sorted(p for _, _, p in sorted(parts)[:30]) == whole.tolist(), name


def test_every_strategy_honours_the_same_cap():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=500)
    labels = rng.integers(0, 10, 500)
    valid = rng.random(500) > 0.1
    for name in STRATEGIES:
        chosen = select(name, probs, labels, valid, 37, margin=0.9)
        assert len(chosen) == 37 and valid[chosen].all() and len(set(chosen)) == 37


# ---------------------------------------------------------------- settings

def test_defaults_are_valid_and_paths_derive_from_run_dir():
    assert DEFAULTS.rounds >= 1 and DEFAULTS.strategy == "misclassified"
    assert str(make_settings({"run_dir": "r"}).bank) == "r/bank.h5"
    assert str(make_settings({"bank_path": "b.h5"}).bank) == "b.h5"


@pytest.mark.parametrize("overrides, message", [
    ({"rounds": -1}, "rounds=-1 is out of range"),
    ({"mix_fraction": 1.0}, "mix_fraction=1 is out of range; use a value in [0, 1)"),
    ({"mix_fraction": -0.1}, "mix_fraction=-0.1 is out of range; use a value in [0, 1)"),
    ({"strategy": "hardest"}, "unknown strategy 'hardest'"),
    ({"jitter": "1,1"}, "must be distinct radii"),
    ({"jitter": [9]}, "must be distinct radii"),
    ({"epochs_per_round": 0}, "epochs_per_round=0 is out of range"),
    ({"rounds": "two"}, "rounds='two' is not an integer"),
    ({"roundz": 2}, "unknown setting 'roundz'"),
    ({"balance": "maybe"}, "balance='maybe' is not true or false; use true or false"),
    ({"round_lr": 0}, "round_lr=0 is out of range; use a value in (0, 1]"),
    ({"preset": "huge"}, "unknown preset 'huge'; use one of seed, strong"),
    ({"run_dir": ""}, "run_dir is empty"),
])
def test_invalid_settings_are_one_line_errors(overrides, message):
    with pytest.raises(HardmineError, match=None) as err:
        make_settings(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_strings_from_the_command_line_are_converted():
    s = make_settings({"rounds": "2", "jitter": "0,1.5", "mnist_limit": "500", "balance": "true"})
    assert (s.rounds, s.jitter, s.mnist_limit, s.balance) == (2, (0.0, 1.5), 500, True)
    assert make_settings({"balance": "no"}).balance is False
    assert s.as_params()["jitter"] == [0.0, 1.5]


# ---------------------------------------------------------------- run dir

def _row(k, val, promoted):
    return {"round": k, "val_acc": val, "mnist_test_acc": val, "mined": 3, "bank_size": 3 * (k + 1),
            "promoted": promoted, "current_round": k, "acc_j2": 0.5}


def test_resume_counts_rows_and_promotion_state(tmp_path):
    rd = RunDir(tmp_path / "run").make()
    assert rd.next_round() == 0 and rd.current_state() == (None, None)
    rd.append_row(_row(0, 0.98, True))
    rd.append_row(_row(1, 0.95, False))
    assert rd.completed_rounds() == [0, 1] and rd.next_round() == 2
    assert rd.current_state() == (0, 0.98)
    table = pd.read_csv(rd.metrics)
    assert list(table.columns[:2]) == ["round", "val_acc"] and len(table) == 2
    header, first = (line.split(",") for line in rd.metrics.read_text().splitlines()[:2])
    assert first[header.index("mined")] == "3"  # integers stay integers (no "3.0")
    assert not list(tmp_path.glob("run/*.tmp"))


def test_restore_current_undoes_an_unfinished_promotion(tmp_path):
    rd = RunDir(tmp_path).make()
    rd.model(0).write_bytes(b"round 0")
    rd.model(1).write_bytes(b"round 1")
    rd.append_row(_row(0, 0.98, True))
    rd.current.write_bytes(b"round 1")  # round 1 promoted, then killed before its row
    assert rd.restore_current() == 0 and rd.current.read_bytes() == b"round 0"


# ---------------------------------------------------------------- report text

def test_round_markdown_has_metrics_and_mined_crosstab():
    counts = np.zeros((10, 2), dtype=int)
    counts[4, 1] = 5
    counts[9, 0] = 2
    text = round_markdown({"round": 2, "val_acc": 0.98765, "promoted": True},
                          mined_frame(counts, (0.0, 2.0)))
    assert text.startswith("# mine-and-retrain, round 2 (promoted to current)")
    assert "| val_acc | 0.9877 |" in text
    assert "| digit | j=0 | j=2 | total |" in text
    assert "| 4 | 0 | 5 | 5 |" in text and "| **all** | 2 | 5 | 7 |" in text
    assert mined_markdown(mined_frame(np.zeros((10, 2)), (0.0, 2.0))) == "Nothing was mined this round."


def test_table_rows_and_progress():
    rows = pd.DataFrame([{"round": 0, "x": np.nan, "promoted": True}])
    assert table_rows(rows) == [{"round": 0, "x": None, "promoted": True}]
    assert progress_percent(1, 4) == 25.0 and progress_percent(9, 4) == 100.0


# ---------------------------------------------------------------- hardmine run refusals

@pytest.mark.parametrize("args, line", [
    (["--rounds", "-1"], "error: mine-and-retrain: rounds=-1 is out of range; use a value in [0, 65535]\n"),
    (["--mix-fraction", "1"], "error: mine-and-retrain: mix_fraction=1 is out of range; use a value in [0, 1)\n"),
    (["--jitter", "1,1"], "error: mine-and-retrain: jitter=[1.0, 1.0] must be distinct radii in [0, 8], "
                          "e.g. 0,0.5,1,2,3,4,5\n"),
    (["--strategy", "hardest"], "error: hardmine run: Invalid value for '--strategy': 'hardest' is not one of "
                                "'misclassified', 'margin', 'entropy', 'random'; see `hardmine run --help`\n"),
])
def test_run_refuses_bad_parameters_before_anything_runs(args, line, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--run-dir", str(tmp_path / "r"), *args])
    assert result.exit_code == 2 and result.output.endswith(line)
    assert not (tmp_path / "r").exists()


def test_rounds_png_draws_every_round(tmp_path):
    from flows.report import rounds_png
    rows = pd.DataFrame([_row(0, 0.98, True), _row(1, 0.95, False)])
    path = rounds_png(rows, tmp_path / "rounds.png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(path).stat().st_size > 5000


def test_run_dir_date_placeholder_and_run_id(tmp_path):
    from datetime import datetime, timezone
    from flows.rundir import expand_run_dir
    when = datetime(2026, 3, 7, 2, 0, tzinfo=timezone.utc)
    assert expand_run_dir("runs/nightly/{date}", when) == "runs/nightly/2026-03-07"
    assert expand_run_dir("runs/x", when) == "runs/x"
    rd = RunDir(tmp_path)
    key = rd.bank_key(3)
    assert key == rd.bank_key(3) and key.endswith("/round-3") and len(key.split("/")[0]) == 12
    assert RunDir(tmp_path / "other").bank_key(3) != key


def test_training_seeds_stay_in_keras_range_and_differ_by_round_and_seed():
    from flows.settings import MAX_SEED
    from miner.seeds import mining_seed, training_seed
    seeds = {training_seed(s, k) for s in (0, 1, MAX_SEED - 1) for k in (0, 1, 2)}
    assert len(seeds) == 9 and all(0 <= x < 2**32 for x in seeds)
    assert training_seed(5, 2) == training_seed(5, 2)
    assert training_seed(5, 2) == int(np.random.SeedSequence([5, 2]).generate_state(1)[0])  # as before
    mining = {mining_seed(s, k) for s in (0, 1, MAX_SEED - 1) for k in (0, 1, 2, 2**16 - 1)}
    assert len(mining) == 12 and all(0 <= x < 2**62 for x in mining)  # below miner's reserved range
    assert not mining & seeds


def test_mining_progress_logs_at_most_every_few_seconds_with_its_counts():
    from flows.tasks import PROGRESS_SECONDS, _progress
    from miner.mining import Progress

    lines = []

    class Log:
        def info(self, fmt, *args):
            lines.append(fmt % args)

    report = _progress(Log(), 2, 4000)
    step = PROGRESS_SECONDS * 0.6
    for i in range(1, 6):  # a block every 0.6 PROGRESS_SECONDS: lines after blocks 2 and 4
        report(Progress(512 * i, 500 * i, 50 * i, 40 * i, step * i))
    assert lines == [
        f"round 2: mining, {512 * i} candidates drawn, {500 * i} scored, {40 * i} hard cases found (cap 4000), "
        f"miss rate 10.0%, {512 / step:.0f} candidates/s" for i in (2, 4)]


# ---------------------------------------------------------------- a round's training settings

def test_a_retraining_round_trains_with_the_flows_shared_settings(tmp_path, monkeypatch):
    """What a user sets on the flow (mix, balance and its cap, pen/scan, precision) is what
    the round's training uses; round 0 trains on MNIST alone."""
    import model.train
    from flows import tasks
    from flows.settings import FlowSettings

    seen = []
    monkeypatch.setattr(model.train, "train", lambda cfg, *a, **kw: seen.append((cfg, kw)) or
                        {"train_acc": 0.5, "bank_mix": cfg.mix_fraction})
    monkeypatch.setattr(tasks, "_mnist", lambda s: None)
    s = FlowSettings(run_dir=str(tmp_path / "run"), mix_fraction=0.2, balance=True, balance_cap=1.5,
                     pen_scan=False, precision="bfloat16", seed=7)
    RunDir(s.run_dir).make()
    for k in (0, 1):
        tasks.train_round.fn(s, k)
    (first, first_kw), (later, later_kw) = seen
    assert first.mix_fraction == 0.0 and first_kw["bank_path"] is None
    assert (later.mix_fraction, later.balance, later.balance_cap, later.pen_scan, later.precision) == \
        (0.2, True, 1.5, False, "bfloat16")
    assert later_kw["bank_path"] == str(s.bank) and later.seed != first.seed
