"""Corruption fuzz: random byte flips in a bank's main file and shards.

    pytest -q -s tests/test_store_fuzz.py          # 200 flips of a 3-append bank; -s prints the outcomes

For every flip: ``verify`` never crashes (it returns findings, says intact, or
refuses a main file that no longer reads as a bank with one line),
and every reader that hands out pixels or labels (``Bank.images``, the
training stream) either refuses with one :class:`HardmineError` or returns
exactly the pixels and labels that were stored: damaged data never passes
silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from miner.config import HardmineError
from store import Bank, stream_batches
from store.verify import verify_bank

FLIPS = 200


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    path = root / "bank.h5"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (90, 28, 28), np.uint8)
    true = (np.arange(90) % 10).astype(np.uint8)
    probs = np.full((90, 10), 0.1, np.float32)
    with Bank.open(str(path), "a", fsync=False) as bank:
        for a in range(3):  # three appends, three shards
            s = slice(30 * a, 30 * (a + 1))
            bank.append(images[s], true[s], (true[s] + 1) % 10, probs[s], round=a, model_id="m",
                        source="imported", key=f"k{a}")
    return root, {i: (images[i], int(true[i])) for i in range(90)}


def _files(root: Path) -> list[Path]:
    return [root / "bank.h5", *sorted((root / "bank.h5.shards").iterdir())]


def _read_everything(path: str, stored: dict) -> None:
    """Read pixels and labels back; anything returned must be what was stored."""
    with Bank.open(path) as bank:
        ids = bank.table()["id"].to_numpy()
        images = bank.images(ids)
    for i, image in zip(ids, images):
        assert int(i) in stored and np.array_equal(image, stored[int(i)][0]), f"damaged pixels of case {i}"
    by_image = {img.tobytes(): label for img, label in stored.values()}
    for x, y in stream_batches(path, 16, seed=1):
        for image, label in zip(x, y):
            assert by_image.get(image.tobytes()) == int(label), "the stream returned a damaged case"


def test_random_byte_flips_never_crash_verify_nor_pass_damage_silently(pristine, tmp_path):
    root, stored = pristine
    rng = np.random.default_rng(2026)
    outcomes = {"refused": 0, "read intact": 0, "verify found": 0}
    for flip in range(FLIPS):
        work = tmp_path / f"f{flip}"
        shutil.copytree(root, work)
        target = _files(work)[rng.integers(0, len(_files(work)))]
        data = bytearray(target.read_bytes())
        pos = int(rng.integers(0, len(data)))
        data[pos] ^= 1 << int(rng.integers(0, 8))
        target.write_bytes(bytes(data))
        try:  # verify returns findings, or refuses a file that no longer reads as a bank: one line
            findings, _ = verify_bank(str(work / "bank.h5"))
        except HardmineError as exc:
            assert "\n" not in str(exc)
            findings = [str(exc)]
        outcomes["verify found"] += bool(findings)
        try:
            _read_everything(str(work / "bank.h5"), stored)
            outcomes["read intact"] += 1
        except HardmineError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
        shutil.rmtree(work)
    print(f"{FLIPS} flips: {outcomes}")
    # the flips landed: some were refused, and none of the accepted reads returned damage
    assert outcomes["refused"] > 0 and outcomes["verify found"] > 0, outcomes
