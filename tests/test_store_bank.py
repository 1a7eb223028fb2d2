"""The bank's API: round trip, idempotent keys, one writer, snapshots, retention, schema checks."""

import os

import h5py
import numpy as np
import pytest

from bankdata import append, cases
from miner.config import HardmineError
from store import Bank, check_bank, verify_bank
from store.layout import read_manifest, write_manifest
from store.retention import keep_ids


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "bank.h5")


def test_every_field_round_trips(path):
    c = cases(7, seed=3)
    with Bank.open(path, "a") as b:
        ids = b.append(c["images"], c["true"], c["pred"], c["probs"], c["params"], round=4, model_id="round-4",
                       source="synthetic", key="round-4")
    with Bank.open(path) as b:
        df = b.table()
        assert len(b) == 7 and list(ids) == list(range(7)) and list(df["id"]) == list(ids)
        np.testing.assert_array_equal(b.images(ids), c["images"])
        np.testing.assert_array_equal(b.images(ids[::-1]), c["images"][::-1])
    np.testing.assert_array_equal(df["true"], c["true"])
    np.testing.assert_array_equal(df["pred"], c["pred"])
    np.testing.assert_array_equal(df[[f"p{k}" for k in range(10)]].to_numpy(), c["probs"])
    np.testing.assert_array_equal(df["p_true"], c["probs"][np.arange(7), c["true"]])
    for name in ("jitter", "brush", "variant", "seed", "index", "version"):
        np.testing.assert_array_equal(df[name], c["params"][name])
    assert set(df["round"]) == {4} and set(df["model_id"]) == {"round-4"} and set(df["key"]) == {"round-4"}
    assert set(df["source"]) == {"synthetic"} and df["time"].dt.tz is not None
    assert "image" not in df.columns


def test_missing_params_and_predictions_are_marked(path):
    c = cases(3, seed=1)
    with Bank.open(path, "a") as b:
        b.append(c["images"], c["true"], None, None, round=-1, model_id="x", source="imported", key="imp")
        df = b.table()
    assert list(df["pred"]) == [-1] * 3 and df["p_true"].isna().all() and df["jitter"].isna().all()
    assert list(df["seed"]) == [0] * 3 and set(df["source"]) == {"imported"}


def test_committed_key_is_a_noop_returning_the_stored_ids(path):
    with Bank.open(path, "a") as b:
        first = append(b, 5, seed=1, key="round-1")
        again = append(b, 5, seed=2, key="round-1")
        assert list(again) == list(first) and len(b) == 5
        assert list(append(b, 2, seed=3, key="round-2")) == [5, 6]


@pytest.mark.parametrize("change,match", [
    (dict(images=np.zeros((2, 28, 28), np.float32)), "uint8"),
    (dict(true=np.array([0, 10])), "true labels"),
    (dict(pred=np.array([0, 1, 2])), "pred must have shape"),
    (dict(probs=np.zeros((2, 9))), "probs must have shape"),
    (dict(key=""), "key must be"),
    (dict(source="scraped"), "source must be one of"),
])
def test_bad_appends_are_refused_and_write_nothing(path, change, match):
    c = cases(2, seed=0)
    args = dict(images=c["images"], true=c["true"], pred=c["pred"], probs=c["probs"], key="k", source="synthetic")
    args.update(change)
    with Bank.open(path, "a") as b:
        with pytest.raises(HardmineError, match=match):
            b.append(args.pop("images"), args.pop("true"), args.pop("pred"), args.pop("probs"), round=1,
                     model_id="m", **args)
        assert len(b) == 0
    assert os.listdir(path + ".shards") == [] if os.path.exists(path + ".shards") else True


def test_params_must_describe_these_images(path):
    c = cases(3, seed=0)
    c["params"]["label"] = (c["true"] + 1) % 10
    with Bank.open(path, "a") as b, pytest.raises(HardmineError, match="params"):
        b.append(c["images"], c["true"], c["pred"], c["probs"], c["params"], round=1, model_id="m", key="k")


def test_second_writer_is_refused_at_once_and_readers_are_not(path):
    with Bank.open(path, "a") as b:
        append(b, 3, seed=1)
        with pytest.raises(HardmineError, match=r"being written by another process \(lock .*bank.h5.lock"):
            Bank.open(path, "a")
        with Bank.open(path) as r:
            assert len(r) == 3
    with Bank.open(path, "a") as b:  # the lock went with the first writer
        assert len(b) == 3


def test_reader_keeps_its_snapshot_while_the_writer_compacts_and_prunes(path):
    with Bank.open(path, "a", compact_at=3, compact_below=100) as b:
        append(b, 4, seed=1)
        append(b, 4, seed=2)
        with Bank.open(path) as r:
            before = r.images(np.arange(8))
            append(b, 4, seed=3)  # third small shard: compaction deletes the first two files
            b.prune(5, "newest")
            assert len(os.listdir(path + ".shards")) == 1
            assert len(r) == 8 and len(r.table()) == 8
            np.testing.assert_array_equal(r.images(np.arange(8)), before)
        with Bank.open(path) as r2:
            assert list(r2.table()["id"]) == [7, 8, 9, 10, 11]
            np.testing.assert_array_equal(r2.images([7]), before[7:8])
    assert verify_bank(path) == ([], 5)


WRITER = """
import sys
sys.path.insert(0, sys.argv[2])
from bankdata import append
from store import Bank
with Bank.open(sys.argv[1], "a", compact_at=4, compact_below=120) as b:
    for k in range(1, 30):
        append(b, 50, seed=k, round=k)
"""


def _stale_first_read(monkeypatch):
    """The first manifest read lists a shard a writer has just removed, and opening a vanished
    file fails the way h5py does mid-race (a bare OSError, not FileNotFoundError)."""
    import dataclasses
    import store.shards as shards

    real_read, real_file, calls = shards.read_manifest, shards.h5py.File, []

    def read(p):
        m = real_read(p)
        calls.append(p)
        if len(calls) > 1:
            return m
        gone = m.shards["name"].copy()
        gone[0] = "999999.h5"  # a shard compacted away since
        return dataclasses.replace(m, shards={**m.shards, "name": gone})

    def open_file(name, *args, **kwargs):
        if not os.path.exists(name):
            raise OSError("Unable to synchronously open file (can't retrieve stat info for file)")
        return real_file(name, *args, **kwargs)

    monkeypatch.setattr(shards, "read_manifest", read)
    monkeypatch.setattr(shards.h5py, "File", open_file)
    return calls


def test_a_shard_vanishing_while_a_reader_opens_the_bank_is_retried(path, monkeypatch):
    with Bank.open(path, "a") as b:
        append(b, 50, seed=0)
    calls = _stale_first_read(monkeypatch)
    with Bank.open(path) as r:
        assert len(r.table()) == 50
    assert len(calls) == 2  # read the main file again, once


def test_a_listed_shard_that_exists_but_cannot_be_opened_is_an_error(path, monkeypatch):
    import store.shards as shards

    with Bank.open(path, "a") as b:
        append(b, 50, seed=0)
    real_file = shards.h5py.File

    def broken(name, *args, **kwargs):
        if ".shards" in str(name):
            raise OSError("Unable to synchronously open file (bad object header version number)")
        return real_file(name, *args, **kwargs)

    monkeypatch.setattr(shards.h5py, "File", broken)
    with pytest.raises(HardmineError, match="is damaged .*bad object header"):
        Bank.open(path)


def test_readers_in_this_process_see_whole_appends_of_a_writing_process(path):
    import subprocess
    import sys

    with Bank.open(path, "a") as b:
        append(b, 50, seed=0)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, os.path.dirname(__file__)])
    seen, finished = [], False
    while not finished:
        finished = writer.poll() is not None  # so the last read starts after the last commit
        with Bank.open(path) as r:
            df = r.table()
            seen.append(len(df))
            assert len(df) % 50 == 0 and df["id"].is_unique  # whole appends only
            assert list(df.groupby("key").size().unique()) == [50]
            np.testing.assert_array_equal(r.images(df["id"][-50:]), cases(50, seed=int(df["key"].iloc[-1][1:]))["images"])
    assert writer.wait() == 0 and seen[-1] == 1500 and len(set(seen)) > 2, seen


@pytest.mark.parametrize("policy", ["newest", "hardest", "balanced"])
def test_prune_keeps_what_the_policy_ranks_first(path, policy):
    with Bank.open(path, "a", compact_at=50) as b:
        for k in range(4):
            append(b, 30, seed=k, round=k)
        df = b.table()
        removed = b.prune(50, policy)
        after = b.table()
    assert removed == 70 and len(after) == 50
    expected = {  # obviously-correct references
        "newest": sorted(df["id"])[-50:],
        "hardest": sorted(df.sort_values(["p_true", "id"], ascending=[True, False])["id"][:50]),
    }
    if policy in expected:
        assert sorted(after["id"]) == expected[policy]
    else:
        counts = after["true"].value_counts().reindex(range(10), fill_value=0)
        full = df["true"].value_counts().reindex(range(10), fill_value=0)
        # every class gets min(its count, an equal share), shares differ by at most one
        share = counts[full > counts]
        assert share.max() - share.min() <= 1 and (counts[full == counts] <= share.min()).all()
    assert verify_bank(path) == ([], 50)


def test_prune_rewrites_only_shards_that_lose_rows(path):
    with Bank.open(path, "a") as b:
        append(b, 10, seed=1)
        append(b, 10, seed=2)
        kept_file = os.stat(os.path.join(path + ".shards", b.manifest.shards["name"][1]))
        b.prune(15, "newest")
        names = list(b.manifest.shards["name"])
    assert os.stat(os.path.join(path + ".shards", names[1])).st_ino == kept_file.st_ino
    assert names[0] not in ("000000.h5",)


def test_imported_cases_rank_hardest_and_balanced_shares():
    ids, true = np.arange(6), np.array([0, 0, 0, 0, 1, 2])
    p = np.array([0.5, np.nan, 0.1, 0.9, 0.2, 0.3])
    assert list(keep_ids(ids, true, p, 2, "hardest")) == [1, 2]
    assert list(keep_ids(ids, true, p, 4, "balanced")) == [2, 3, 4, 5]
    with pytest.raises(HardmineError, match="unknown policy 'oldest'"):
        keep_ids(ids, true, p, 2, "oldest")


def test_size_cap_applies_after_each_append(path):
    with Bank.open(path, "a", max_cases=12, policy="newest") as b:
        for k in range(3):
            append(b, 5, seed=k)
        assert len(b) == 12 and list(b.table()["id"]) == list(range(3, 15))


def test_missing_file_not_a_bank_and_newer_schema_are_refused(path, tmp_path):
    with pytest.raises(HardmineError, match="does not exist"):
        Bank.open(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    for bad in (other, tmp_path / "text.h5"):
        (tmp_path / "text.h5").write_text("hello")
        with pytest.raises(HardmineError, match="is not a hardmine bank"):
            check_bank(str(bad))
        with pytest.raises(HardmineError, match="is not a hardmine bank"):
            Bank.open(str(bad), "a")
    with Bank.open(path, "a") as b:
        append(b, 2, seed=0)
    m = read_manifest(path)
    m.schema = 99
    write_manifest(m)
    with pytest.raises(HardmineError, match="schema version 99 but this hardmine reads up to 2; upgrade"):
        Bank.open(path)
    assert not os.path.exists(str(other) + ".lock")


def test_bad_open_arguments(path, tmp_path):
    with pytest.raises(HardmineError, match="mode must be"):
        Bank.open(path, "w")
    with pytest.raises(HardmineError, match="directory .* does not exist"):
        Bank.open(str(tmp_path / "no" / "bank.h5"), "a")
    with pytest.raises(HardmineError, match="unknown setting 'chunk'"):
        Bank.open(path, "a", chunk=5)
    with pytest.raises(HardmineError, match="BankConfig: unknown compression 'zip'; use one of none, lzf, gzip"):
        Bank.open(path, "a", compression="zip")
    with Bank.open(path, "a") as b:
        append(b, 1, seed=0)
    with Bank.open(path) as r, pytest.raises(HardmineError, match="read-only"):
        append(r, 1, seed=1)
    with Bank.open(path) as r, pytest.raises(HardmineError, match="no case with id 5"):
        r.images([0, 5])


def test_verify_finds_a_flipped_pixel(path):
    with Bank.open(path, "a") as b:
        append(b, 4, seed=0)
        name = b.manifest.shards["name"][0]
    with h5py.File(os.path.join(path + ".shards", name), "r+") as f:
        f["image"][2, 10, 10] ^= 1
    findings, _ = verify_bank(path)
    assert findings == [f"shard {name}: case 2 fails its checksum (1 in rows 0..)"]


def test_records_of_the_real_generator_dtype_are_accepted(path):
    from miner import RECORD_DTYPE

    c = cases(4, seed=5)
    records = np.zeros(4, RECORD_DTYPE)
    for name in records.dtype.names:
        if name in c["params"].dtype.names:
            records[name] = c["params"][name]
    with Bank.open(path, "a") as b:
        b.append(c["images"], c["true"], c["pred"], c["probs"], records, round=1, model_id="m", key="k")
        df = b.table()
    np.testing.assert_array_equal(df["index"], c["params"]["index"])
    np.testing.assert_array_equal(df["jitter"], c["params"]["jitter"])


def test_importing_store_and_its_cli_pulls_in_no_tensorflow_or_numba():
    import subprocess
    import sys

    code = ("import sys, store, store.cli; "
            "print(sorted(m for m in ('tensorflow', 'numba', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _enospc(*args, **kwargs):
    import errno
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_before_the_commit_adds_nothing_and_is_one_line(path, monkeypatch):
    import store.bank as bank_module
    with Bank.open(path, "a") as b:
        append(b, 5, seed=0)
    monkeypatch.setattr(bank_module, "write_shard", _enospc)
    with Bank.open(path, "a") as b, pytest.raises(HardmineError, match="No space left on device.*nothing was added"):
        append(b, 5, seed=1, round=1)
    monkeypatch.undo()
    with Bank.open(path) as b:
        assert len(b) == 5
    with Bank.open(path, "a") as b:  # the next writer cleans up and appends
        append(b, 5, seed=1, round=1)
        assert len(b) == 10


def test_a_full_disk_in_compaction_after_the_commit_still_reports_the_append(path, monkeypatch):
    with Bank.open(path, "a", compact_at=2, compact_below=100) as b:
        append(b, 5, seed=0)
        monkeypatch.setattr(b, "_compact", _enospc)  # housekeeping after the commit fails
        ids = append(b, 5, seed=1, round=1)
        assert len(ids) == 5 and len(b) == 10
    with Bank.open(path) as b:
        assert len(b) == 10 and sorted(b.table()["id"]) == list(range(10))


def test_a_changed_main_file_table_fails_its_checksum(path):
    import h5py
    from store.verify import verify_bank
    with Bank.open(path, "a") as b:
        append(b, 5, seed=0, round=3)
    assert verify_bank(path)[0] == []
    with h5py.File(path, "r+") as f:  # the round of the append, changed behind the bank's back
        f["appends"]["round"][0] = 4
    findings, _ = verify_bank(path)
    assert len(findings) == 1 and "appends table fails its checksum" in findings[0]
    with pytest.raises(HardmineError, match="appends table fails its checksum"):
        Bank.open(path).table()
