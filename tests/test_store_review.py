"""Review status of hard cases: Bank.append(status=), Bank.review, what training
streams, old banks, verify and prune of decisions, and ``hardmine bank review``."""

import getpass
import json
import os
import re

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from bankdata import append, cases
from flows.cli import cli
from miner.config import HardmineError
from store import Bank, stream_batches, verify_bank
from store.layout import read_manifest, write_manifest
from store.review import NAMES, STATUSES, TRAINABLE


def _statuses(path):
    with Bank.open(path) as b:
        df = b.table().set_index("id")
    return df["status"].to_dict(), df["label"].to_dict()


def _main_file_id(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns  # a commit replaces the main file: a new inode


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "bank.h5")


def test_status_data_is_consistent():
    assert NAMES == ("ok", "ambiguous", "accepted", "rejected", "relabelled")
    assert [STATUSES[n].code for n in NAMES] == list(range(5))
    assert TRAINABLE == ("ok", "accepted", "relabelled")


def test_append_with_status_and_review_are_idempotent_and_survive_reopen(path):
    c = cases(10, seed=1)
    status = ["ok"] * 10
    status[2], status[5] = "ambiguous", "rejected"
    with Bank.open(path, "a") as b:
        ids = b.append(c["images"], c["true"], c["pred"], c["probs"], c["params"], round=1, model_id="m",
                       key="r1", status=status)
        assert b.status_counts() == {"ok": 8, "ambiguous": 1, "accepted": 0, "rejected": 1, "relabelled": 0}
        # a replayed append changes no status
        again = b.append(c["images"], c["true"], c["pred"], c["probs"], c["params"], round=1, model_id="m",
                         key="r1", status=["rejected"] * 10)
        assert list(again) == list(ids) and b.status_counts()["rejected"] == 1
        assert b.review([2, 3], "accepted") == 2
        before = _main_file_id(path)
        assert b.review([3, 2, 2], "accepted") == 0  # same review again: nothing changes, nothing written
        assert _main_file_id(path) == before
        new = (int(c["true"][4]) + 1) % 10
        assert b.review([4], "relabelled", new, by="ann", key="fix-4") == 1
        assert b.review([4], "rejected", key="fix-4") == 0  # a committed key is a no-op
        other = next(d for d in range(10) if d not in (new, c["true"][4]))
        assert b.review([4], "relabelled", other) == 1  # a different label is a change
        assert b.review([4], "relabelled", new) == 1
    status, label = _statuses(path)  # reopened
    assert [status[i] for i in range(6)] == ["ok", "ok", "accepted", "accepted", "relabelled", "rejected"]
    assert label[4] == new and label[2] == c["true"][2] and label[5] == c["true"][5]
    m = read_manifest(path)
    assert m.schema == 2 and list(m.reviews["by"][:3]) == ["append:r1", "append:r1", "user"]
    assert "fix-4" in set(m.reviews["key"]) and verify_bank(path) == ([], 10)


def test_bad_reviews_and_statuses_are_refused_and_write_nothing(path):
    with Bank.open(path, "a") as b:
        ids = append(b, 6, seed=2)
        true = b.table()["true"].to_numpy()
        before = _main_file_id(path)
        bad = [
            (lambda: b.review([0], "maybe"), "unknown status 'maybe'"),
            (lambda: b.review([0], "relabelled"), "needs a label 0..9"),
            (lambda: b.review([0], "relabelled", 10), "needs a label 0..9"),
            (lambda: b.review([0], "accepted", 3), "only status relabelled takes a label"),
            (lambda: b.review([0, 99], "accepted"), "no case with id 99"),
            (lambda: b.review([1, 0], "relabelled", int(true[0])), f"case 0 already has true label {true[0]}"),
            (lambda: append(b, 3, seed=3, key="x", status=["ok", "ok"]), "one entry per case (3)"),
            (lambda: append(b, 3, seed=3, key="x", status=["ok", "fine", "ok"]), "unknown status 'fine'"),
            (lambda: append(b, 3, seed=3, key="x", status=[0, 1, 7]), "status codes must be 0..4"),
            (lambda: append(b, 3, seed=3, key="x", status=["relabelled"] * 3), "relabelled needs a label"),
        ]
        for call, message in bad:
            with pytest.raises(HardmineError, match=re.escape(message)):
                call()
        assert _main_file_id(path) == before and len(b) == len(ids) == 6
    assert set(_statuses(path)[0].values()) == {"ok"}


def test_stream_never_yields_quarantined_or_rejected_cases_and_uses_relabels(path):
    n = 120
    rng = np.random.default_rng(0)
    true = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(n) % 200 + 1  # pixel (0,0) + (0,1) tell the case
    images[:, 0, 1] = np.arange(n) // 200
    kind = np.array(["ok", "ambiguous", "rejected", "accepted", "relabelled", "ok"] * (n // 6))
    images[np.isin(kind, ["ambiguous", "rejected"]), 5:20, 5:20] = 255  # the untrainable look distinctive
    with Bank.open(path, "a", compact_at=2, compact_below=64) as b:  # several appends, compacted
        for a in range(0, n, 40):
            s = slice(a, a + 40)
            b.append(images[s], true[s], None, None, round=a, model_id="m", source="imported", key=f"k{a}",
                     status=np.where(np.isin(kind[s], ["ambiguous", "rejected"]), kind[s], "ok"))
        b.review(np.flatnonzero(kind == "accepted"), "accepted")
        relabel = np.flatnonzero(kind == "relabelled")
        for i in relabel:
            b.review([i], "relabelled", int((true[i] + 3) % 10))
    want_label = np.where(kind == "relabelled", (true + 3) % 10, true)
    trainable = np.flatnonzero(np.isin(kind, TRAINABLE))
    for kw in (dict(), dict(balance=True), dict(labels=[int((true[relabel[0]] + 3) % 10)]),
               dict(block_rows=7, buffer_rows=20)):
        xs, ys = zip(*stream_batches(path, 16, seed=1, **kw))
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert not np.any(x[:, 5:20, 5:20] == 255), kw  # no quarantined or rejected case in any batch
        case = x[:, 0, 0].astype(int) - 1 + 200 * x[:, 0, 1]
        assert np.all(y == want_label[case]), kw  # relabelled cases under their new label
        if not kw or "block_rows" in kw:
            assert sorted(case) == sorted(trainable), kw  # every trainable case once
        if "labels" in kw:
            assert set(case) == set(trainable[want_label[trainable] == kw["labels"][0]])


def test_prune_drops_decisions_of_pruned_cases(path):
    with Bank.open(path, "a") as b:
        append(b, 10, seed=1, status=["ambiguous"] * 10)
        b.review([0, 9], "accepted")
        assert b.prune(5, "newest") == 5
        m = b.manifest
        assert sorted(m.review_cases["id"]) == [5, 6, 7, 8, 9, 9]  # 9: ambiguous by the append, then accepted
        assert b.status_counts() == {"ok": 0, "ambiguous": 4, "accepted": 1, "rejected": 0, "relabelled": 0}
    assert verify_bank(path) == ([], 5)


def test_verify_finds_bad_decisions(path):
    with Bank.open(path, "a") as b:
        append(b, 4, seed=1)
        b.review([1], "relabelled", (int(b.table()["true"][1]) + 1) % 10)
    m = read_manifest(path)
    m.review_cases["id"][0] = 77
    m.reviews["status"][0] = 9
    m.reviews["label"][0] = -1
    write_manifest(m)
    findings, _ = verify_bank(path)
    assert findings == ["review 0 has unknown status code 9 (1 such reviews)",
                        "reviews name case 77, which is not in the bank (1 such entries)"]
    m.reviews["status"][0] = STATUSES["relabelled"].code
    m.review_cases["id"][0] = 1
    write_manifest(m)
    assert verify_bank(path)[0] == ["review 0 has label -1: relabels need 0..9, other statuses none"]


def _make_old(path):
    """The main file as hardmine wrote it before review decisions: no review groups, schema 1."""
    with h5py.File(path, "r+") as f:
        for group in ("reviews", "review_cases"):
            if group in f:
                del f[group]
        f.attrs["schema_version"] = 1


def test_old_banks_read_as_all_ok_and_take_reviews(path):
    with Bank.open(path, "a") as b:
        append(b, 8, seed=1)
    assert read_manifest(path).schema == 1  # no decisions: still readable by schema-1 hardmine
    _make_old(path)
    with Bank.open(path) as b:
        assert set(b.table()["status"]) == {"ok"} and b.status_counts()["ok"] == 8
    assert sum(len(y) for _, y in stream_batches(path, 3)) == 8 and verify_bank(path) == ([], 8)
    with Bank.open(path, "a") as b:
        assert b.review([0, 1], "ambiguous") == 2
    assert read_manifest(path).schema == 2  # a decision makes it a schema-2 bank
    assert sum(len(y) for _, y in stream_batches(path, 3)) == 6


# ------------------------------------------------------------------ the CLI

def run(*args):
    return CliRunner().invoke(cli, ["bank", *map(str, args)])


@pytest.fixture
def bank(tmp_path):
    """6 cases: round 1 true 3,5,8 (case 1 ambiguous), round 2 true 3,4,4."""
    path = str(tmp_path / "bank.h5")
    images = np.zeros((6, 28, 28), np.uint8)
    images[:, 10, 10] = np.arange(6) * 40 + 1
    true = np.array([3, 5, 8, 3, 4, 4])
    probs = np.full((6, 10), 0.1, np.float32)
    with Bank.open(path, "a") as b:
        b.append(images[:3], true[:3], (true[:3] + 1) % 10, probs[:3], round=1, model_id="m1", key="r1",
                 status=["ok", "ambiguous", "ok"])
        b.append(images[3:], true[3:], (true[3:] + 1) % 10, probs[3:], round=2, model_id="m2", key="r2")
    return path


def test_cli_review_output_and_idempotence(bank):
    r = run("review", bank, "--accept", "--round", "2")
    assert r.exit_code == 0 and r.output == "reviewed 3 cases: 3 accepted\n"
    r = run("review", bank, "--accept", "--round", "2", "--label", "4")
    assert r.output == "reviewed 2 cases: 2 accepted (2 already were)\n"
    r = run("review", bank, "--relabel", "7", "--id", 1, "--id", 2, "--key", "fix", "--by", "ann")
    assert r.exit_code == 0 and r.output == "reviewed 2 cases: 2 relabelled as 7\n"
    r = run("review", bank, "--quarantine", "--id", 1, "--key", "fix")
    assert r.output == f"review key fix was already applied to {bank}; nothing changed\n"
    r = run("review", bank, "--reject", "--status", "relabelled", "--label", "7", "--json")
    assert r.exit_code == 0 and json.loads(r.output) == dict(
        bank=bank, cases=2, status="rejected", label=None, changed=2, already=0, key=None, replayed=False)
    r = run("review", bank, "--quarantine", "--status", "all")
    assert r.output == "reviewed 6 cases: 6 ambiguous\n"
    r = run("review", bank, "--accept", "--status", "ambiguous", "--limit", "1")
    assert r.output == "reviewed 1 case: 1 accepted\n"
    status, label = _statuses(bank)
    assert list(status.values()) == ["accepted"] + ["ambiguous"] * 5 and list(label.values()) == [3, 5, 8, 3, 4, 4]
    assert run("verify", bank).output == "ok: 6 cases, structure and checksums intact\n"
    by = list(read_manifest(bank).reviews["by"])
    assert by == ["append:r1", getpass.getuser(), "ann"] + [getpass.getuser()] * 3


def test_cli_status_in_summary_list_show_and_export(bank, tmp_path):
    assert run("review", bank, "--relabel", "9", "--id", 4).exit_code == 0
    assert run("review", bank, "--reject", "--id", 5).exit_code == 0
    r = run("summary", bank)
    assert "by status:     ok:3 ambiguous:1 accepted:0 rejected:1 relabelled:1 (trainable: 4)\n" in r.output
    assert json.loads(run("summary", bank, "--json").output)["by_status"]["relabelled"] == 1
    r = run("summary", bank, "--status", "trainable")  # what the next round trains on
    assert r.exit_code == 0 and r.output.splitlines()[1].startswith("cases: 4 of 6, passing the filters (")
    assert "by status:     ok:3 ambiguous:0 accepted:0 rejected:0 relabelled:1 (trainable: 4)\n" in r.output
    s = json.loads(run("summary", bank, "--status", "ambiguous,rejected", "--json").output)
    assert (s["cases"], s["total"], s["filtered"], s["trainable"]) == (2, 6, True, 0)
    assert json.loads(run("summary", bank, "--label", "9", "--json").output)["cases"] == 1  # the effective label
    assert json.loads(run("summary", bank, "--status", "all", "--json").output)["filtered"] is False
    r = run("list", bank, "--status", "ambiguous,relabelled")
    assert r.exit_code == 0 and [line.split()[0] for line in r.output.splitlines()[1:]] == ["1", "4"]
    assert r.output.splitlines()[2].endswith("relabelled 9")
    assert [line.split()[0] for line in run("list", bank, "--label", "9").output.splitlines()[1:]] == ["4"]
    assert [line.split()[0] for line in run("list", bank, "--status", "trainable").output.splitlines()[1:]] == [
        "0", "2", "3", "4"]
    assert run("show", bank, 4).output.splitlines()[2] == "review: relabelled, trained on as 9"
    assert run("show", bank, 1).output.splitlines()[2] == "review: ambiguous, not trained on"
    npz, csv = tmp_path / "e.npz", tmp_path / "e.csv"
    assert run("export", bank, "--out", npz).output == f"exported 4 cases to {npz}\n"  # trainable only
    with np.load(npz) as z:
        assert list(z["ids"]) == [0, 2, 3, 4] and list(z["labels"]) == [3, 8, 3, 9] and list(z["true"]) == [3, 8, 3, 4]
        assert list(z["status"]) == ["ok", "ok", "ok", "relabelled"]
    assert run("export", bank, "--out", csv, "--status", "all").output == f"exported 6 cases to {csv}\n"
    assert [line.split(",")[0] for line in csv.read_text().splitlines()[1:]] == ["3", "5", "8", "3", "9", "4"]
    assert run("montage", bank, "--status", "rejected", "--out", tmp_path / "m.png").output.startswith("wrote 1 cases")


def test_cli_review_errors_are_one_line_and_write_nothing(bank, tmp_path):
    before = _main_file_id(bank)
    for args, message in [
        (["review", bank, "--id", 1], "give exactly one of --accept, --reject, --relabel D, --quarantine"),
        (["review", bank, "--accept", "--reject", "--id", 1], "give exactly one of"),
        (["review", bank, "--accept"], "choose cases with --id or a filter"),
        (["review", bank, "--accept", "--id", 1, "--round", "1"], "by --id or by filters, not both"),
        (["review", bank, "--accept", "--id", 99], "no case with id 99"),
        (["review", bank, "--relabel", "3", "--round", "1"], "case 0 already has true label 3"),
        (["review", bank, "--relabel", "10", "--id", 1], "Invalid value for '--relabel'"),
        (["review", bank, "--accept", "--status", "fine"], "unknown status 'fine'"),
        (["review", tmp_path / "none.h5", "--accept", "--id", 1], "does not exist"),
        (["list", bank, "--status", "ok,maybe"], "unknown status 'maybe'"),
    ]:
        r = run(*args)
        assert r.exit_code == 2 and r.output.count("\n") == 1 and r.output.startswith("error: ") and \
            message in r.output, (args, r.output)
    assert _main_file_id(bank) == before and not os.path.exists(tmp_path / "none.h5")


# ------------------------------------------------------------------ kill -9

REVIEWER = r"""
import sys
sys.path.insert(0, sys.argv[1])
import pandas, store.table, store.cli  # imports first: the kill then lands in the review itself
from flows.cli import main
print("ready", flush=True)
main(sys.argv[2:])
"""
KILLS = 16
GROUP = 60  # cases per round; round r has true label r


def test_sigkill_of_bank_review_never_leaves_half_a_review(tmp_path):
    """``hardmine bank review`` killed at random instants: each call's cases all
    changed or none did, other cases never, and the bank verifies after every kill."""
    import random
    import signal
    import subprocess
    import sys
    import time

    path = str(tmp_path / "bank.h5")
    with Bank.open(path, "a") as b:
        for r in range(1, 5):
            images = np.full((GROUP, 28, 28), r, np.uint8)
            b.append(images, np.full(GROUP, r), None, None, round=r, model_id="m", source="imported", key=f"r{r}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    decisions = [("--quarantine", "ambiguous", None), ("--accept", "accepted", None), ("--reject", "rejected", None),
                 ("--relabel", "relabelled", 0)]

    def state():
        status, label = _statuses(path)
        return {i: (status[i], label[i]) for i in status}

    def spawn(args):
        child = subprocess.Popen([sys.executable, "-c", REVIEWER, root, "bank", "review", path, *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdout.readline() == "ready\n"
        return child

    # how long a review takes once imports are done; kills fall in 0..2x an estimate that
    # follows the machine's load: longer after a kill that came too early, shorter after one too late
    child = spawn(["--accept", "--round", "4"])
    start = time.perf_counter()
    assert child.stdout.readline() == "reviewed 60 cases: 60 accepted\n"  # printed after the commit
    took = time.perf_counter() - start  # open, choose, commit: the command without start-up and exit
    assert child.wait() == 0, child.stderr.read()
    rng = random.Random(11)
    outcomes = {"applied": 0, "not applied": 0}
    for k in range(KILLS):
        r = 1 + k % 4
        flag, status, label = decisions[k % len(decisions)]
        before = state()
        group = [i for i in before if (i // GROUP) + 1 == r]
        child = spawn([flag, *([str(label)] if label is not None else []), "--round", str(r)])
        time.sleep(rng.uniform(0, 2 * took))
        child.send_signal(signal.SIGKILL)
        child.wait()
        after = state()
        target = (status, label if label is not None else r)
        assert {i: v for i, v in after.items() if i not in group} == {
            i: v for i, v in before.items() if i not in group}, k
        now = {after[i] for i in group}
        if now == {before[group[0]]} and before[group[0]] != target:
            outcomes["not applied"] += 1
            took *= 1.5
        else:
            assert now == {target}, (k, now)  # all of the call's cases, never some
            outcomes["applied"] += 1
            took /= 1.5
        assert verify_bank(path) == ([], 4 * GROUP), k
    assert min(outcomes.values()) >= 1, outcomes  # kills landed both before and after the commit
    with Bank.open(path, "a"):  # the next writer removes what killed ones left behind
        pass
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
