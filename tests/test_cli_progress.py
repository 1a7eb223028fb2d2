"""Progress bars of the long commands (generate, evaluate, bank export): on a terminal's
stderr only, fed with counts that only grow to the total; output that is not a terminal
(scripts, --json, these tests) is exactly what it was without them.

    pytest -q tests/test_cli_progress.py          # ~30 s (evaluate imports TensorFlow)
"""

from __future__ import annotations

import io
import json
from contextlib import contextmanager

import numpy as np
import pytest
from click.testing import CliRunner

import miner
from flows.cli import cli
from miner.progress import progress_bar
from store import Bank
from bankdata import append


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Recorder:
    """Stands in for ``progress_bar`` in a CLI module: records (total, label) and every advance."""

    def __init__(self) -> None:
        self.totals: list[tuple[int, str]] = []
        self.steps: list[tuple[int, str | None]] = []

    @contextmanager
    def __call__(self, total: int, label: str, stream=None):
        self.totals.append((total, label))
        yield lambda n, doing=None: self.steps.append((n, doing))

    def done(self) -> list[int]:
        """Items done after each advance."""
        return list(np.cumsum([n for n, _ in self.steps]))


def test_progress_bar_draws_on_a_terminal_only():
    tty = Terminal()
    with progress_bar(10, "drawing digits", stream=tty) as advance:
        advance(4)
        advance(6, "last part")
    shown = tty.getvalue()
    assert "drawing digits" in shown and "10/10" in shown and "last part" in shown
    piped = io.StringIO()
    with progress_bar(10, "drawing digits", stream=piped) as advance:
        advance(10)
    assert piped.getvalue() == ""  # not even click's one-line label


def test_generate_draws_in_chunks_with_growing_counts_and_the_same_digits(tmp_path, monkeypatch):
    import miner.cli
    rec = Recorder()
    monkeypatch.setattr(miner.cli, "CHUNK", 7)
    monkeypatch.setattr(miner.cli, "progress_bar", rec)
    out = tmp_path / "d.npz"
    res = CliRunner().invoke(cli, ["generate", "--count", "25", "--jitter", "2", "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0 and res.stdout == f"wrote 25 digits (0-9, jitter 2, seed 5) to {out}\n"
    assert res.stderr == ""
    assert rec.totals == [(25, "drawing digits")] and rec.done() == [7, 14, 21, 25]
    expected, records = miner.generate(np.arange(25) % 10, 2.0, 5)  # one call, no chunks
    with np.load(out) as f:
        assert (f["images"] == expected).all() and (f["index"] == records["index"]).all()


def test_generate_json_is_unchanged_when_the_bar_is_on_a_terminal(tmp_path, monkeypatch):
    import functools
    import miner.cli
    tty = Terminal()
    monkeypatch.setattr(miner.cli, "progress_bar", functools.partial(progress_bar, stream=tty))
    out = tmp_path / "d.npz"
    res = CliRunner().invoke(cli, ["generate", "--count", "12", "--out", str(out), "--json"])
    assert res.exit_code == 0 and res.stderr == ""
    assert json.loads(res.stdout)["count"] == 12 and res.stdout.count("\n") == 1
    assert "drawing digits" in tty.getvalue() and "12/12" in tty.getvalue()


def test_bank_export_reports_every_block_it_writes(tmp_path, monkeypatch):
    import store.cli
    path = tmp_path / "b.h5"
    with Bank.open(path, "a") as bank:
        for seed in range(3):  # three appends: three shards, three blocks
            append(bank, 5, seed)
    rec = Recorder()
    monkeypatch.setattr(store.cli, "progress_bar", rec)
    out = tmp_path / "e.csv"
    res = CliRunner().invoke(cli, ["bank", "export", str(path), "--out", str(out)])
    assert res.exit_code == 0 and res.stdout == f"exported 15 cases to {out}\n" and res.stderr == ""
    assert rec.totals == [(15, "exporting cases")]
    assert len(rec.steps) > 1 and rec.done() == sorted(rec.done()) and rec.done()[-1] == 15
    assert len(out.read_text().splitlines()) == 16


@pytest.fixture(scope="module")
def model_and_mnist(tmp_path_factory):
    import keras
    from model.cnn import build_model
    folder = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    np.savez(folder / "mnist.npz", x_train=rng.integers(0, 256, (300, 28, 28), np.uint8),
             y_train=np.arange(300) % 10, x_test=rng.integers(0, 256, (100, 28, 28), np.uint8),
             y_test=np.arange(100) % 10)
    keras.utils.set_random_seed(1)
    build_model("seed").save(folder / "m.keras")
    return str(folder / "m.keras"), str(folder / "mnist.npz")


def test_evaluate_steps_through_its_stages_and_prints_the_same_json(model_and_mnist, monkeypatch):
    import model.cli
    model_path, mnist = model_and_mnist
    args = ["evaluate", model_path, "--mnist", mnist, "--json", "--no-plots", "--eval-per-cell", "2",
            "--robust-per-variant", "20"]
    plain = CliRunner().invoke(cli, args)  # stderr is not a terminal: no bar
    assert plain.exit_code == 0 and plain.stderr == ""
    rec = Recorder()
    monkeypatch.setattr(model.cli, "progress_bar", rec)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and res.stdout == plain.stdout and res.stderr == ""
    [(total, label)] = rec.totals
    assert label == "evaluating" and rec.done()[-1] == total == 5  # no plots: five steps
    assert rec.done() == sorted(rec.done())
    assert [doing for _, doing in rec.steps] == ["reading MNIST", "drawing the synthetic set",
                                                 "building the robustness suite", "loading the model",
                                                 "scoring", "done"]


def test_train_shows_each_epochs_steps_then_its_log_line(tmp_path):
    """``EpochBar`` (what ``hardmine train`` adds on a terminal): one bar per epoch over its
    steps, counts growing to the step count, closed before the epoch's log line."""
    from model.data import Mnist
    from model.settings import TrainConfig
    from model.train import EpochBar, train

    events: list = []

    @contextmanager
    def bar(total: int, label: str, stream=None):
        events.append(("open", total, label))
        yield lambda n, doing=None: events.append(("step", n))
        events.append(("close", label))

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (700, 28, 28), np.uint8)
    y = (np.arange(700) % 10).astype(np.uint8)
    data = Mnist(x[:512], y[:512], x[512:600], y[512:600], x[:0], y[:0], "tiny")
    train(TrainConfig(epochs=2, augment=False, pen_scan=False), data, tmp_path / "m.keras",
          log=lambda line: events.append(("log", line.split(":")[0])), callbacks=(EpochBar(bar),))
    steps = 4  # 512 images / 128 per batch
    opened = [e for e in events if e[0] == "open"]
    assert opened == [("open", steps, "epoch 1/2"), ("open", steps, "epoch 2/2")]
    for epoch in (1, 2):
        start = events.index(("open", steps, f"epoch {epoch}/2"))
        close = events.index(("close", f"epoch {epoch}/2"))
        assert events[start + 1:close] == [("step", 1)] * steps
        assert events[close + 1] == ("log", f"epoch {epoch}/2")  # the bar ends before the line
