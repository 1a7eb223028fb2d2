"""stream_batches: one shuffled pass over the bank as it is now, filters, balance."""

import numpy as np
import pytest

from bankdata import append
from miner.config import HardmineError
from store import Bank, stream_batches

SMALL = dict(block_rows=16, buffer_rows=64)  # many blocks and refills on a tiny bank


@pytest.fixture
def bank(tmp_path):
    path = str(tmp_path / "bank.h5")
    with Bank.open(path, "a") as b:
        for k in range(1, 5):
            append(b, 50, seed=k, round=k)
    return path


def _pass(path, batch_size=32, **kw):
    xs, ys = zip(*stream_batches(path, batch_size, **kw))
    assert all(len(y) == batch_size for y in ys[:-1]) and 0 < len(ys[-1]) <= batch_size
    assert all(x.dtype == np.uint8 and x.shape[1:] == (28, 28) and y.dtype == np.uint8 for x, y in zip(xs, ys))
    return np.concatenate(xs), np.concatenate(ys)


def _as_set(x, y):
    return sorted(bytes([int(label)]) + img.tobytes() for img, label in zip(x, y))


def _expected(path, mask_fn=lambda df: slice(None)):
    with Bank.open(path) as b:
        df = b.table()
        ids = df["id"][mask_fn(df)].to_numpy()
        return b.images(ids), df.set_index("id").loc[ids, "true"].to_numpy().astype(np.uint8)


def test_one_pass_yields_every_case_once_shuffled(bank):
    x, y = _pass(bank, **SMALL)
    assert _as_set(x, y) == _as_set(*_expected(bank))
    bank_order, _ = _expected(bank)
    assert not np.array_equal(x, bank_order)


def test_order_is_a_function_of_seed_and_epoch(bank):
    a, _ = _pass(bank, seed=1, epoch=0, **SMALL)
    b, _ = _pass(bank, seed=1, epoch=0, **SMALL)
    c, _ = _pass(bank, seed=1, epoch=1, **SMALL)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kw,mask", [
    (dict(rounds=[2, 4]), lambda df: df["round"].isin([2, 4])),
    (dict(labels=[3, 7]), lambda df: df["true"].isin([3, 7])),
    (dict(jitter=(1.0, 2.5)), lambda df: (df["jitter"] >= 1.0) & (df["jitter"] <= 2.5)),
    (dict(rounds=[1], labels=[0, 1, 2], jitter=(0.0, 3.0)),
     lambda df: (df["round"] == 1) & df["true"].isin([0, 1, 2]) & (df["jitter"] <= 3.0)),
])
def test_filters_match_the_table(bank, kw, mask):
    x, y = _pass(bank, batch_size=7, **kw, **SMALL)
    assert _as_set(x, y) == _as_set(*_expected(bank, mask))


def test_balance_equalises_classes_and_keeps_the_pass_length(tmp_path):
    path = str(tmp_path / "bank.h5")
    with Bank.open(path, "a") as b:
        for label, n in ((0, 600), (1, 300), (2, 100)):
            imgs = np.full((n, 28, 28), label, np.uint8)
            b.append(imgs, np.full(n, label), np.full(n, (label + 1) % 10), None, round=1, model_id="m",
                     key=f"c{label}")
    _, y = _pass(path, balance=True, seed=3)
    counts = np.bincount(y, minlength=3)
    # expected 333 each; binomial noise on the fractional repeats is ~+-15 (3 sigma ~ 45)
    assert abs(len(y) - 1000) < 60 and np.all(np.abs(counts[:3] - 1000 / 3) < 60), counts
    _, y = _pass(path, balance=False)
    assert list(np.bincount(y)) == [600, 300, 100]
    _, y = _pass(path, balance=True, balance_cap=2, seed=3)
    counts = np.bincount(y, minlength=3)
    # the rare class is held to 2 draws a case (200, exactly: an integer rate), the others stay even
    assert counts[2] == 200 and np.all(np.abs(counts[:2] - 1000 / 3) < 60), counts


def test_each_call_sees_cases_appended_since_the_last(bank):
    assert len(_pass(bank)[1]) == 200
    with Bank.open(bank, "a") as b:
        append(b, 30, seed=9, round=5)
    assert len(_pass(bank, epoch=1)[1]) == 230


def test_empty_bank_and_empty_selection_yield_nothing(tmp_path, bank):
    path = str(tmp_path / "empty.h5")
    Bank.open(path, "a").close()
    assert list(stream_batches(path, 8)) == []
    assert list(stream_batches(bank, 8, rounds=[99])) == []


@pytest.mark.parametrize("kw,match", [
    (dict(batch_size=0), "batch_size must be >= 1"),
    (dict(batch_size=8, jitter=(3, 1)), "jitter must be"),
    (dict(batch_size=8, buffer_rows=0), "buffer_rows"),
    (dict(batch_size=8, shuffle=True), "unknown setting 'shuffle'"),
])
def test_bad_arguments_are_refused(bank, kw, match):
    with pytest.raises(HardmineError, match=match):
        next(stream_batches(bank, **kw))


def test_missing_bank_is_refused(tmp_path):
    with pytest.raises(HardmineError, match="does not exist"):
        next(stream_batches(str(tmp_path / "none.h5"), 8))
