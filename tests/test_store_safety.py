"""A bank's files stay its own: crafted shard names, exports onto the bank,
a lost main file (``hardmine bank recover``), damaged rows seen by readers."""

import os

import numpy as np
import pytest
from click.testing import CliRunner

from bankdata import append
from flows.cli import cli
from miner.config import HardmineError
from store import Bank, stream_batches
from store.layout import read_manifest, write_manifest


def run(*args):
    return CliRunner().invoke(cli, ["bank", *map(str, args)])


def _files(folder):
    return sorted((os.path.relpath(os.path.join(r, p), folder), os.path.getsize(os.path.join(r, p)))
                  for r, _, fs in os.walk(folder) for p in fs)


@pytest.fixture
def bank(tmp_path):
    path = str(tmp_path / "bank.h5")
    with Bank.open(path, "a") as b:
        append(b, 12, seed=1, round=1)
        append(b, 8, seed=2, round=2)
    return path


def test_shard_names_from_the_main_file_stay_in_the_shards_folder(bank, tmp_path):
    victim = tmp_path / "victim.h5"
    victim.write_bytes(b"precious")
    m = read_manifest(bank)
    m.shards["name"][0] = "../victim.h5"
    write_manifest(m)
    before = _files(tmp_path)
    message = (f"error: bank {bank}: the main file lists shard '../victim.h5', which is not a shard file name")
    for args in (["summary", bank], ["list", bank], ["show", bank, 0], ["verify", bank], ["prune", bank, "--keep", 1],
                 ["export", bank, "--out", tmp_path / "e.npz"], ["review", bank, "--reject", "--id", 0]):
        r = run(*args)
        assert r.exit_code == 2 and r.output.count("\n") == 1, (args, r.output)
        assert r.output.startswith(message), (args, r.output)
    for call in (lambda: Bank.open(bank, "a"), lambda: next(stream_batches(bank, 4))):
        with pytest.raises(HardmineError, match="is not a shard file name"):
            call()
    assert victim.read_bytes() == b"precious" and _files(tmp_path) == before


def test_export_onto_the_banks_own_files_is_refused_and_writes_nothing(tmp_path):
    path = str(tmp_path / "bank.npz")  # a bank may carry any name, even an export format's
    with Bank.open(path, "a") as b:
        append(b, 5, seed=1)
    name = read_manifest(path).shards["name"][0]
    os.symlink(path, tmp_path / "link.npz")
    os.symlink(path + ".lock", tmp_path / "lock.csv")
    before = {p: open(os.path.join(tmp_path, p), "rb").read() for p, _ in _files(tmp_path)}
    for out, part in [(path, "main file"), (tmp_path / "link.npz", "main file"), (tmp_path / "lock.csv", "lock file"),
                      (f"{path}.shards/{name[:-3]}.csv", "shards folder"), (f"{path}.shards/new.npz", "shards folder")]:
        r = run("export", path, "--out", out)
        assert r.exit_code == 2 and r.output == (
            f"error: export: --out {out} would overwrite the {part} of bank {path}; "
            "choose a path outside the bank's files\n"), r.output
    part = tmp_path / "c.npz.part"  # the temp file of an export to c.npz would overwrite bank c.npz.part
    with Bank.open(str(part), "a") as b:
        append(b, 2, seed=4)
    r = run("export", part, "--out", tmp_path / "c.npz")
    assert r.exit_code == 2 and "would overwrite the main file of bank" in r.output
    assert not os.path.exists(tmp_path / "c.npz")
    assert {p: open(os.path.join(tmp_path, p), "rb").read() for p in before} == before


def test_a_lost_main_file_is_refused_by_writers_and_recovered_from_the_shards(tmp_path):
    import shutil

    path = str(tmp_path / "bank.h5")
    with Bank.open(path, "a", compact_at=2, compact_below=64) as b:
        append(b, 12, seed=1, round=1, status=["ambiguous"] + ["ok"] * 11)
        old = tmp_path / "000000.h5"
        shutil.copy(path + ".shards/000000.h5", old)  # as a compaction killed before its clean-up leaves it
        append(b, 8, seed=2, round=2)  # compacts 000000 + 000001 into 000002
        append(b, 5, seed=3, round=3)  # compacts again: 000004 holds all 25 cases
        before = b.table()
        images = b.images(before["id"])
    os.unlink(path)
    shutil.copy(old, path + ".shards/000000.h5")
    shards = _files(path + ".shards")
    good = tmp_path / "good.npz"
    np.savez(good, images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 2]))
    r = run("import", path, "--from", good)
    assert r.exit_code == 2 and r.output == (
        f"error: bank {path} does not exist but {path}.shards holds 2 shard files (was the main file deleted?); "
        f"rebuild it with `hardmine bank recover {path}`, or move {path}.shards away for a new bank\n")
    assert run("summary", path).output == (f"error: bank {path} does not exist but {path}.shards holds shards (was "
                                           f"the main file deleted?); rebuild it with `hardmine bank recover {path}`\n")
    assert not os.path.exists(path) and _files(path + ".shards") == shards

    r = run("recover", path, "--status", "ambiguous")
    assert r.exit_code == 0 and r.output == (
        f"recovered 25 cases from 1 shard into {path} (1 superseded shard left out)\n"
        "lost with the main file: append keys (now recovered-N), rounds (now -1), model ids (now unknown), "
        "review decisions (every case is now ambiguous)\n")
    assert run("verify", path).output == "ok: 25 cases, structure and checksums intact\n"
    with Bank.open(path) as b:
        after = b.table()
        np.testing.assert_array_equal(b.images(after["id"]), images)
        assert b.status_counts()["ambiguous"] == 25
    same = ["id", "true", "pred", "p_true", "jitter", "seed", "index", "source"]
    assert after[same].equals(before[same])
    assert list(after["key"].unique()) == ["recovered-0", "recovered-1", "recovered-2"]
    assert set(after["round"]) == {-1} and set(after["model_id"]) == {"unknown"}
    with Bank.open(path, "a") as b:  # a writer works on the recovered bank and drops the superseded shard
        append(b, 3, seed=4, key="after")
        assert len(b) == 28 and b.manifest.next_id == 28
    assert "000000.h5" not in os.listdir(path + ".shards")

    for args, message in [(["recover", path], "exists; recover only rebuilds a missing main file"),
                          (["recover", tmp_path / "none.h5"], "holds no shard files; nothing to recover")]:
        r = run(*args)
        assert r.exit_code == 2 and r.output.count("\n") == 1 and message in r.output, r.output


def test_readers_refuse_damaged_cases_until_they_are_rejected(bank, tmp_path):
    import h5py

    name = read_manifest(bank).shards["name"][0]
    with h5py.File(os.path.join(bank + ".shards", name), "r+") as f:
        f["image"][3, 10, 10] ^= 0xFF  # one flipped pixel of case 3
    message = (f"error: bank {bank}: case 3 fails its checksum (damaged on disk); keep it out of training and exports "
               f"with `hardmine bank review {bank} --reject --id 3`, see `hardmine bank verify {bank}`\n")
    for args in (["show", bank, 3], ["montage", bank, "--out", tmp_path / "m.png"],
                 ["export", bank, "--out", tmp_path / "e.npz"], ["export", bank, "--out", tmp_path / "e.csv"]):
        r = run(*args)
        assert r.exit_code == 2 and r.output == message, (args, r.output)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(("m.", "e."))]  # nothing written
    for kw in (dict(), dict(balance=True), dict(labels=[int(_true(bank, 3))])):
        with pytest.raises(HardmineError, match="case 3 fails its checksum"):
            list(stream_batches(bank, 4, **kw))
    assert run("show", bank, 2).exit_code == 0  # its neighbours read fine
    other = (int(_true(bank, 3)) + 1) % 10  # a stream that never reaches case 3 is not stopped by it
    with Bank.open(bank) as b:
        want = int((b.table()["label"] == other).sum())
    assert sum(len(y) for _, y in stream_batches(bank, 4, labels=[other])) == want
    assert run("review", bank, "--reject", "--id", 3).exit_code == 0
    assert sum(len(y) for _, y in stream_batches(bank, 4)) == 19  # trains without it
    assert run("export", bank, "--out", tmp_path / "e.npz").output == f"exported 19 cases to {tmp_path / 'e.npz'}\n"
    assert run("export", bank, "--status", "all", "--out", tmp_path / "x.npz").output == message
    assert run("verify", bank).exit_code == 1


def _true(path, case):
    with Bank.open(path) as b:
        return b.table().set_index("id").loc[case, "true"]
