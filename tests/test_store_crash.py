"""SIGKILL a writing process at random moments; every committed case must survive.

The writer appends (with compaction every few appends) and now and then prunes,
printing each commit after it returns; the test kills it 18 times at random
instants (each after its first one or two commits, so the test proves something
however loaded the machine is), then checks the bank with ``verify`` and case by case.
"""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from bankdata import cases
from store import Bank, verify_bank

KILLS = 18  # ~0.8 s each: interpreter start-up, 1-2 commits, then 0-0.1 s of writing
WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from bankdata import append
from store import Bank
path, k = sys.argv[1], int(sys.argv[3])
with Bank.open(path, "a", compact_at=3, compact_below=64) as b:
    print("ready", flush=True)
    while True:
        k += 1
        if k % 7 == 0 and len(b) > 40:
            ids = sorted(b.snapshot.column("id"))
            print("prune", ids[-30], flush=True)  # announced before: it may commit or not
            b.prune(30, "newest")
            continue
        n = 5 + k % 23
        ids = append(b, n, seed=k, round=k, key=f"k{k}")
        print("commit", k, ids[0], n, flush=True)
"""


def test_sigkill_at_random_moments_loses_only_the_append_in_flight(tmp_path):
    path = str(tmp_path / "bank.h5")
    here = os.path.dirname(__file__)
    rng = random.Random(7)
    committed, threshold, k = {}, -1, 0
    for _ in range(KILLS):
        child = subprocess.Popen([sys.executable, "-c", WRITER, path, here, str(k)], stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout.readline() == "ready\n"
        # let it commit 1-2 appends first (whatever the machine's load), then kill it at a
        # random instant of what follows: mid-append, mid-compaction or mid-prune
        lines, want = [], rng.randint(1, 2)
        while sum(line.startswith("commit") for line in lines) < want:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rng.uniform(0.0, 0.1))
        child.send_signal(signal.SIGKILL)
        child.wait()
        for line in lines + child.stdout.read().splitlines():
            kind, *rest = line.split()
            if kind == "commit":
                committed[int(rest[0])] = (int(rest[1]), int(rest[2]))
                k = max(k, int(rest[0]))
            else:
                threshold = max(threshold, int(rest[0]))
        k += 30  # keys of the next writer never collide with an append in flight
    assert len(committed) >= KILLS, "the writer hardly ran; the test proves nothing"

    findings, n = verify_bank(path)
    assert findings == []
    with Bank.open(path) as b:
        df = b.table().set_index("id")
        for key, group in df.groupby("key"):  # atomicity: an append is whole unless pruned
            k = int(key[1:])
            size = 5 + k % 23
            if k in committed:
                first, size = committed[k]
                missing = set(range(first, first + size)) - set(group.index)
                assert all(i < threshold for i in missing), (key, missing)
            else:  # committed, but the writer was killed before it printed the commit
                ids = np.sort(group.index.to_numpy())
                assert ids[-1] - ids[0] == len(ids) - 1 <= size - 1, (key, ids)  # one contiguous run
                if ids[0] > threshold:  # no prune reached it: whole
                    assert len(ids) == size, (key, ids)
        for k, (first, size) in committed.items():  # durability: every committed case intact
            want = cases(size, seed=k)
            ids = np.arange(first, first + size)
            alive = ids >= threshold
            assert set(ids[alive]) <= set(df.index), k
            np.testing.assert_array_equal(b.images(ids[alive]), want["images"][alive])
            np.testing.assert_array_equal(df.loc[ids[alive], "pred"], want["pred"][alive])
    with Bank.open(path, "a"):  # the next writer removes what killed writers left behind
        pass
    with Bank.open(path) as b:
        assert sorted(os.listdir(path + ".shards")) == sorted(b.manifest.shards["name"])
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
