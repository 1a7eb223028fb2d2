"""No idle second after the last epoch (issue 13): a fit's wall time is its epochs' time
plus a small constant, and the training stream's iterator is torn down at once.

    python -m pytest tests/test_model_fit_idle.py -q

The stall these guard against: tf.data's autotuner thread could miss its cancellation
when the iterator was destroyed and sleep out its optimisation period (up to 60 s) while
``fit`` waited for it (model.pipeline.no_autotune). It is a race, so on the old pipeline
these tests failed some of the time, not every time: the teardown test is the sharper one
(many teardowns), the option test the deterministic one. Not a speed test: the bounds are
constants far above a healthy teardown (~0.03 s) and far below a stall's seconds.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from model.data import Mnist  # noqa: E402
from model.pipeline import Augment, PenScan, train_dataset  # noqa: E402
from model.settings import Threads, TrainConfig  # noqa: E402
from model.train import train  # noqa: E402
from store import Bank  # noqa: E402

IDLE_LIMIT_S = 3.0  # fit wall time - sum of epoch times; a stall is seconds to a minute
TEARDOWN_LIMIT_S = 0.5  # one iterator teardown; healthy ones take ~0.03 s on 2 loaded cores


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (1400, 28, 28), np.uint8)
    y = (np.arange(1400) % 10).astype(np.uint8)
    bank = tmp_path_factory.mktemp("bank") / "bank.h5"
    with Bank.open(bank, "a", fsync=False) as b:  # the bank side goes through from_generator
        b.append(x[1200:], y[1200:], (y[1200:] + 1) % 10, np.full((200, 10), 0.1, np.float32), round=1,
                 model_id="t", source="imported", key="t")
    data = Mnist(x[:1000], y[:1000], x[1000:1200], y[1000:1200], x[:0], y[:0], "tiny")
    return data, bank


def test_fit_takes_its_epochs_plus_a_constant(tiny, tmp_path):
    data, bank = tiny
    lines: list[str] = []
    # 4 epochs of 8 steps with augmentation, pen/scan and bank mixing: the flow's path, ~10 s
    result = train(TrainConfig(epochs=4, mix_fraction=0.25), data, tmp_path / "m.keras", bank_path=bank,
                   log=lines.append)
    epochs = [float(s) for line in lines for s in re.findall(r"^epoch \d+/4: .*\(([\d.]+) s\)$", line)]
    assert len(epochs) == 4 and result["bank_mix"] == 0.25
    # the history keeps each epoch's seconds (bench/loop.py reads them); the log line rounds them
    assert len(result["epoch_seconds"]) == 4
    assert all(abs(a - b) <= 0.051 for a, b in zip(epochs, result["epoch_seconds"]))
    idle = result["seconds"] - sum(result["epoch_seconds"])
    assert idle <= IDLE_LIMIT_S, f"fit took {result['seconds']:.1f} s for {sum(epochs):.1f} s of epochs"


def test_training_stream_is_torn_down_at_once(tiny):
    data, bank = tiny
    ds = train_dataset(data.x_train, data.y_train, bank, batch_size=64, mix=0.25, augment=Augment(),
                       pen_scan=PenScan(), seed=1)
    seconds = []
    for _ in range(10):  # the old stall hit 1 in 4 to 1 in 20 teardowns: ten make it likely to show
        it = iter(ds)
        start = time.perf_counter()
        while time.perf_counter() - start < 2.0:  # the autotuner's period grows with the iterator's age
            next(it)
        start = time.perf_counter()
        del it
        seconds.append(time.perf_counter() - start)
    assert max(seconds) <= TEARDOWN_LIMIT_S, [round(s, 2) for s in seconds]


def test_training_stream_runs_without_the_autotuner(tiny):
    data, bank = tiny
    for ds in (train_dataset(data.x_train, data.y_train, bank, batch_size=64, mix=0.25),
               train_dataset(data.x_train, data.y_train, None, batch_size=64, augment=None)):
        assert ds.options().autotune.enabled is False
        assert ds.options().threading.private_threadpool_size == Threads.from_env().data
