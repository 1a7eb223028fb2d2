"""Every bad input a user can give ``hardmine``: one ``error:`` line, exit 2, no
traceback, nothing written, nothing changed.

    pytest -q tests/test_bad_inputs.py          # ~1 min: in-process, tiny files

:data:`CASES` is the table: a command line (``{d}`` is the case's own temporary
folder), the files to put there first (names of :data:`FILES`), the exit
status expected and extra environment variables. Every case runs the real root
command in-process (click's ``CliRunner``) and asserts

- the exit status (2 for every user error here),
- exactly one line on stderr, starting with ``error: ``,
- no traceback (no exception escaped the command; no ``Traceback`` printed),
- the folder afterwards holds exactly the files and directories it held
  before, byte for byte: a refused command neither damages nor leaves anything
  (no half-written output, no empty bank from a refused import).

``ro/`` is a read-only directory: ``chmod 555``, and as root (who ignores
permissions) also ``chattr +i``; the cases that need it are skipped where
neither makes it read-only.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from flows.cli import cli
from store import Bank
from bankdata import append

BIG = str(10**12)
HUGE = str(10**30)


# ------------------------------------------------------------------ the files

def _tiny_mnist(path: Path) -> None:
    """Keras' mnist.npz layout, 200 + 50 noise images (valid, fast to read)."""
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (200, 28, 28), np.uint8), y_train=np.arange(200) % 10,
             x_test=rng.integers(0, 256, (50, 28, 28), np.uint8), y_test=np.arange(50) % 10)


def _cases_npz(**change):
    """An import file in our export layout (images, labels, pred, probs), with ``change`` applied."""
    def make(path: Path) -> None:
        n = 4
        probs = np.full((n, 10), 0.1, np.float32)
        arrays = dict(images=np.zeros((n, 28, 28), np.uint8), labels=np.arange(n) % 10,
                      pred=(np.arange(n) + 1) % 10, probs=probs)
        for key, value in change.items():
            arrays[key] = value(arrays[key].copy()) if callable(value) else value
        np.savez(path, **arrays)
    return make


def _set(index, value):
    def apply(a):
        a = a.astype(np.float64)
        a[index] = value
        return a
    return apply


def _csv(header: list[str], rows: list[list]) -> callable:
    def make(path: Path) -> None:
        lines = [",".join(header)] + [",".join(map(str, r)) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    return make


PIXELS = [f"pixel{i}" for i in range(784)]


def _truncated(source: str):
    def make(path: Path, d: Path) -> None:
        data = (d / source).read_bytes()
        path.write_bytes(data[:len(data) // 2])
    return make


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    """Files that are costly to make, made once: a small bank and an untrained model."""
    root = tmp_path_factory.mktemp("templates")
    with Bank.open(str(root / "bank.h5"), "a") as bank:
        append(bank, 5, seed=1, round=1)
    from model.cnn import build_model
    build_model("seed").save(root / "model.keras")
    return root


def _copy_bank(name: str):
    def make(path: Path, d: Path, templates: Path) -> None:
        shutil.copyfile(templates / "bank.h5", path)
        shutil.copytree(templates / "bank.h5.shards", str(path) + ".shards")
    return make


def _copy(name: str):
    def make(path: Path, d: Path, templates: Path) -> None:
        shutil.copyfile(templates / name, path)
    return make


def _zip_without_config(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "a zip file, not a Keras model")


# name -> maker(path[, d[, templates]]); a name ending in "/" is a directory
FILES = {
    "tiny.npz": _tiny_mnist,
    "trunc.npz": _truncated("tiny.npz"),
    "text.npz": lambda p: p.write_text("not an npz file\n"),
    "text.keras": lambda p: p.write_text("not a model\n"),
    "text.h5": lambda p: p.write_text("not a bank\n"),
    "text.csv": lambda p: p.write_text("hello\n"),
    "x.txt": lambda p: p.write_text("some text\n"),
    "empty.csv": lambda p: p.write_bytes(b""),
    "empty.h5": lambda p: p.write_bytes(b""),
    "zip.keras": _zip_without_config,
    "model.keras": _copy("model.keras"),
    "trunc.keras": _truncated("model.keras"),
    "bank.h5": _copy_bank("bank.h5"),
    "trunc.h5": _truncated("bank.h5"),
    "adir/": None, "adir.npz/": None, "adir.keras/": None, "adir.png/": None, "adir.h5/": None,
    "test.csv": _csv(PIXELS, [[0] * 784, [255] * 784]),
    "test783.csv": _csv(PIXELS[:783], [[0] * 783]),
    "testpx.csv": _csv(PIXELS, [[300] * 784]),
    "badheader.csv": _csv(["digit"] + PIXELS, [[1] + [0] * 784]),
    "short.csv": _csv(["label"] + PIXELS[:783], [[1] + [0] * 783]),
    "pixel256.csv": _csv(["label"] + PIXELS, [[1] + [256] * 784]),
    "textvalues.csv": _csv(["label"] + PIXELS, [[1] + ["ink"] * 784]),
    "nanprobs.npz": _cases_npz(probs=_set((0, 3), np.nan)),
    "infprobs.npz": _cases_npz(probs=_set((1, 2), np.inf)),
    "negprobs.npz": _cases_npz(probs=_set((2, 5), -0.5)),
    "bigprobs.npz": _cases_npz(probs=_set((0, 0), 3.0)),
    "floatpred.npz": _cases_npz(pred=_set(1, 2.7)),
    "bigpred.npz": _cases_npz(pred=_set(0, 10)),
    "negpred.npz": _cases_npz(pred=_set(0, -2)),
    "probshape.npz": _cases_npz(probs=np.full((4, 9), 0.1, np.float32)),
    "predlen.npz": _cases_npz(pred=np.arange(3)),
    "labels10.npz": _cases_npz(labels=_set(0, 10)),
    "labelsfloat.npz": _cases_npz(labels=_set(0, 2.5)),
    "shape.npz": _cases_npz(images=np.zeros((4, 27, 27), np.uint8)),
    "mismatch.npz": _cases_npz(labels=np.arange(3)),
    "ro/": None,  # filled with a bank and a model, then made read-only (see _read_only)
}


@dataclass
class Case:
    argv: str  # shlex-split; {d} = the case's folder
    files: tuple[str, ...] = ()
    status: int = 2
    env: dict = field(default_factory=dict)


C = Case
MN = "--mnist {d}/tiny.npz"
TRAIN = f"train {MN} --out {{d}}/m.keras "
EVAL = f"evaluate {{d}}/model.keras {MN} --eval-per-cell 1 "
RUN = f"run --run-dir {{d}}/r {MN} "
BANKCMD = "bank {cmd} {{d}}/bank.h5 "
NO_MNIST = {"HARDMINE_MNIST": "{d}/missing.npz"}


def bank(cmd: str, rest: str = "", files: tuple[str, ...] = ()) -> Case:
    return C(BANKCMD.format(cmd=cmd) + rest, ("bank.h5", *files))


CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- generate
    "generate-count-0": C("generate --count 0 --out {d}/x.npz"),
    "generate-count-negative": C("generate --count -3 --out {d}/x.npz"),
    "generate-count-huge": C(f"generate --count {BIG} --out {{d}}/x.npz"),
    "generate-count-text": C("generate --count abc --out {d}/x.npz"),
    "generate-count-float": C("generate --count 1.5 --out {d}/x.npz"),
    "generate-jitter-nan": C("generate --count 2 --jitter nan --out {d}/x.npz"),
    "generate-jitter-negative": C("generate --count 2 --jitter -1 --out {d}/x.npz"),
    "generate-jitter-inf": C("generate --count 2 --jitter inf --out {d}/x.npz"),
    "generate-jitter-huge": C("generate --count 2 --jitter 1e300 --out {d}/x.npz"),
    "generate-seed-negative": C("generate --count 2 --seed -1 --out {d}/x.npz"),
    "generate-seed-reserved": C(f"generate --count 2 --seed {2**62} --out {{d}}/x.npz"),
    "generate-seed-huge": C(f"generate --count 2 --seed {HUGE} --out {{d}}/x.npz"),
    "generate-digits-reversed": C("generate --count 2 --digits 9-0 --out {d}/x.npz"),
    "generate-digits-text": C("generate --count 2 --digits x --out {d}/x.npz"),
    "generate-digits-empty": C("generate --count 2 --digits '' --out {d}/x.npz"),
    "generate-digits-double-comma": C("generate --count 2 --digits 1,,2 --out {d}/x.npz"),
    "generate-out-txt": C("generate --count 2 --out {d}/x.txt"),
    "generate-out-missing-dir": C("generate --count 2 --out {d}/missing/x.npz"),
    "generate-out-read-only-dir": C("generate --count 2 --out {d}/ro/x.npz", ("ro/",)),
    "generate-out-is-dir": C("generate --count 2 --out {d}/adir.npz", ("adir.npz/",)),
    "generate-out-empty": C("generate --count 2 --out ''"),
    "generate-png-too-many": C("generate --count 401 --out {d}/x.png"),
    "generate-no-out": C("generate --count 2"),
    "generate-unknown-option": C("generate --count 2 --colour red --out {d}/x.npz"),
    # ------------------------------------------------------------------- train
    "train-epochs-0": C(TRAIN + "--epochs 0", ("tiny.npz",)),
    "train-epochs-negative": C(TRAIN + "--epochs -1", ("tiny.npz",)),
    "train-epochs-huge": C(TRAIN + f"--epochs {BIG}", ("tiny.npz",)),
    "train-epochs-text": C(TRAIN + "--epochs abc", ("tiny.npz",)),
    "train-batch-0": C(TRAIN + "--batch-size 0", ("tiny.npz",)),
    "train-batch-1": C(TRAIN + "--batch-size 1", ("tiny.npz",)),
    "train-batch-huge": C(TRAIN + f"--batch-size {BIG}", ("tiny.npz",)),
    "train-mix-1": C(TRAIN + "--mix-fraction 1", ("tiny.npz",)),
    "train-mix-negative": C(TRAIN + "--mix-fraction -0.1", ("tiny.npz",)),
    "train-mix-nan": C(TRAIN + "--mix-fraction nan", ("tiny.npz",)),
    "train-lr-0": C(TRAIN + "--lr 0", ("tiny.npz",)),
    "train-lr-nan": C(TRAIN + "--lr nan", ("tiny.npz",)),
    "train-lr-2": C(TRAIN + "--lr 2", ("tiny.npz",)),
    "train-seed-negative": C(TRAIN + "--seed -1", ("tiny.npz",)),
    "train-seed-huge": C(TRAIN + f"--seed {HUGE}", ("tiny.npz",)),
    "train-preset-unknown": C(TRAIN + "--preset huge", ("tiny.npz",)),
    "train-mnist-missing": C("train --mnist {d}/missing.npz --out {d}/m.keras"),
    "train-mnist-empty-dir": C("train --mnist {d}/adir --out {d}/m.keras", ("adir/",)),
    "train-mnist-text": C("train --mnist {d}/text.npz --out {d}/m.keras", ("text.npz",)),
    "train-mnist-truncated": C("train --mnist {d}/trunc.npz --out {d}/m.keras", ("tiny.npz", "trunc.npz")),
    "train-mnist-bad-csv": C("train --mnist {d}/badheader.csv --out {d}/m.keras", ("badheader.csv",)),
    "train-no-mnist-reachable": C("train --out {d}/m.keras", env=NO_MNIST),
    "train-out-txt": C(f"train {MN} --out {{d}}/m.txt", ("tiny.npz",)),
    "train-out-read-only-dir": C(f"train {MN} --out {{d}}/ro/m.keras", ("tiny.npz", "ro/")),
    "train-out-is-dir": C(f"train {MN} --out {{d}}/adir.keras", ("tiny.npz", "adir.keras/")),
    "train-init-text": C(TRAIN + "--init-model {d}/text.keras", ("tiny.npz", "text.keras")),
    "train-init-missing": C(TRAIN + "--init-model {d}/missing.keras", ("tiny.npz",)),
    "train-init-npz": C(TRAIN + "--init-model {d}/tiny.npz", ("tiny.npz",)),
    "train-init-dir": C(TRAIN + "--init-model {d}/adir", ("tiny.npz", "adir/")),
    "train-init-zip": C(TRAIN + "--init-model {d}/zip.keras", ("tiny.npz", "zip.keras")),
    "train-bank-text": C(TRAIN + "--bank {d}/text.h5", ("tiny.npz", "text.h5")),
    "train-bank-missing": C(TRAIN + "--bank {d}/missing.h5", ("tiny.npz",)),
    # ---------------------------------------------------------------- evaluate
    "evaluate-model-missing": C(f"evaluate {{d}}/missing.keras {MN}", ("tiny.npz",)),
    "evaluate-model-dir": C(f"evaluate {{d}}/adir.keras {MN}", ("tiny.npz", "adir.keras/")),
    "evaluate-model-text": C(f"evaluate {{d}}/text.keras {MN}", ("tiny.npz", "text.keras")),
    "evaluate-robust-per-variant-0": C(EVAL + "--robust-per-variant 0", ("tiny.npz", "model.keras")),
    "evaluate-robust-per-variant-text": C(EVAL + "--robust-per-variant many", ("tiny.npz", "model.keras")),
    "evaluate-model-npz": C(f"evaluate {{d}}/tiny.npz {MN}", ("tiny.npz",)),
    "evaluate-model-truncated": C(f"evaluate {{d}}/trunc.keras {MN}", ("tiny.npz", "model.keras", "trunc.keras")),
    "evaluate-model-zip": C(f"evaluate {{d}}/zip.keras {MN}", ("tiny.npz", "zip.keras")),
    "evaluate-per-cell-0": C(f"evaluate {{d}}/model.keras {MN} --eval-per-cell 0", ("tiny.npz", "model.keras")),
    "evaluate-per-cell-negative": C(f"evaluate {{d}}/model.keras {MN} --eval-per-cell -1", ("tiny.npz", "model.keras")),
    "evaluate-per-cell-huge": C(f"evaluate {{d}}/model.keras {MN} --eval-per-cell {BIG}", ("tiny.npz", "model.keras")),
    "evaluate-mnist-missing": C("evaluate {d}/model.keras --mnist {d}/missing.npz", ("model.keras",)),
    "evaluate-mnist-truncated": C("evaluate {d}/model.keras --mnist {d}/trunc.npz",
                                  ("tiny.npz", "trunc.npz", "model.keras")),
    "evaluate-no-mnist-reachable": C("evaluate {d}/model.keras", ("model.keras",), env=NO_MNIST),
    "evaluate-plots-is-file": C(EVAL + "--plots {d}/x.txt", ("tiny.npz", "model.keras", "x.txt")),
    "evaluate-plots-read-only": C(EVAL + "--plots {d}/ro", ("tiny.npz", "model.keras", "ro/")),
    "evaluate-plots-next-to-read-only-model": C(f"evaluate {{d}}/ro/model.keras {MN} --eval-per-cell 1",
                                                ("tiny.npz", "ro/")),
    # ----------------------------------------------------------------- predict
    "predict-model-missing": C("predict {d}/missing.keras --kaggle {d}/test.csv --out {d}/s.csv", ("test.csv",)),
    "predict-model-text": C("predict {d}/text.keras --kaggle {d}/test.csv --out {d}/s.csv",
                            ("test.csv", "text.keras")),
    "predict-model-npz": C("predict {d}/tiny.npz --kaggle {d}/test.csv --out {d}/s.csv", ("test.csv", "tiny.npz")),
    "predict-model-zip": C("predict {d}/zip.keras --kaggle {d}/test.csv --out {d}/s.csv", ("test.csv", "zip.keras")),
    "predict-kaggle-missing": C("predict {d}/model.keras --kaggle {d}/missing.csv --out {d}/s.csv",
                                ("model.keras",)),
    "predict-kaggle-text": C("predict {d}/model.keras --kaggle {d}/text.csv --out {d}/s.csv",
                             ("model.keras", "text.csv")),
    "predict-kaggle-783-columns": C("predict {d}/model.keras --kaggle {d}/test783.csv --out {d}/s.csv",
                                    ("model.keras", "test783.csv")),
    "predict-kaggle-pixel-300": C("predict {d}/model.keras --kaggle {d}/testpx.csv --out {d}/s.csv",
                                  ("model.keras", "testpx.csv")),
    "predict-kaggle-empty": C("predict {d}/model.keras --kaggle {d}/empty.csv --out {d}/s.csv",
                              ("model.keras", "empty.csv")),
    "predict-kaggle-dir": C("predict {d}/model.keras --kaggle {d}/adir --out {d}/s.csv", ("model.keras", "adir/")),
    "predict-out-missing-dir": C("predict {d}/model.keras --kaggle {d}/test.csv --out {d}/missing/s.csv",
                                 ("model.keras", "test.csv")),
    "predict-out-read-only-dir": C("predict {d}/model.keras --kaggle {d}/test.csv --out {d}/ro/s.csv",
                                   ("model.keras", "test.csv", "ro/")),
    "predict-out-is-dir": C("predict {d}/model.keras --kaggle {d}/test.csv --out {d}/adir",
                            ("model.keras", "test.csv", "adir/")),
    "predict-out-txt": C("predict {d}/model.keras --kaggle {d}/test.csv --out {d}/s.txt",
                         ("model.keras", "test.csv")),
    "predict-out-is-input": C("predict {d}/model.keras --kaggle {d}/test.csv --out {d}/test.csv",
                              ("model.keras", "test.csv")),
    # --------------------------------------------------------------------- run
    "run-rounds-negative": C(RUN + "--rounds -1", ("tiny.npz",)),
    "run-rounds-huge": C(RUN + f"--rounds {BIG}", ("tiny.npz",)),
    "run-rounds-text": C(RUN + "--rounds abc", ("tiny.npz",)),
    "run-epochs-0": C(RUN + "--epochs-per-round 0", ("tiny.npz",)),
    "run-synthetic-0": C(RUN + "--synthetic-per-round 0", ("tiny.npz",)),
    "run-reader-threshold-0": C(RUN + "--reader-threshold 0", ("tiny.npz",)),
    "run-reader-threshold-2": C(RUN + "--reader-threshold 2", ("tiny.npz",)),
    "run-reader-model-text": C(RUN + "--reader-model {d}/text.keras", ("tiny.npz", "text.keras")),
    "run-reader-model-dir": C(RUN + "--reader-model {d}/adir.keras", ("tiny.npz", "adir.keras/")),
    "run-reader-model-not-keras": C(RUN + "--reader-model {d}/reader.h5", ("tiny.npz",)),
    "run-label-guard-text": C(RUN + "--label-guard=maybe", ("tiny.npz",)),
    "run-robust-per-variant-0": C(RUN + "--robust-per-variant 0", ("tiny.npz",)),
    "run-promote-class-tolerance-2": C(RUN + "--promote-class-tolerance 2", ("tiny.npz",)),
    "run-promote-suite-tolerance-negative": C(RUN + "--promote-suite-tolerance -0.1", ("tiny.npz",)),
    "run-synthetic-huge": C(RUN + f"--synthetic-per-round {BIG}", ("tiny.npz",)),
    "run-jitter-nan": C(RUN + "--jitter nan", ("tiny.npz",)),
    "run-jitter-negative": C(RUN + "--jitter=-1", ("tiny.npz",)),
    "run-jitter-text": C(RUN + "--jitter a,b", ("tiny.npz",)),
    "run-jitter-empty": C(RUN + "--jitter ''", ("tiny.npz",)),
    "run-mix-1": C(RUN + "--mix-fraction 1", ("tiny.npz",)),
    "run-mix-nan": C(RUN + "--mix-fraction nan", ("tiny.npz",)),
    "run-margin-0": C(RUN + "--margin 0", ("tiny.npz",)),
    "run-seed-negative": C(RUN + "--seed -1", ("tiny.npz",)),
    "run-preset-unknown": C(RUN + "--preset huge", ("tiny.npz",)),
    "run-strategy-unknown": C(RUN + "--strategy hardest", ("tiny.npz",)),
    "run-mine-cap-0": C(RUN + "--mine-cap 0", ("tiny.npz",)),
    "run-max-candidates-0": C(RUN + "--max-candidates 0", ("tiny.npz",)),
    "run-pen-scan-text": C(RUN + "--pen-scan=maybe", ("tiny.npz",)),
    "run-dask-address-malformed": C(RUN + "--dask-address ftp://host", ("tiny.npz",)),
    "run-dask-address-unreachable": C(RUN + "--dask-address tcp://127.0.0.1:1", ("tiny.npz",)),
    "run-eval-per-cell-0": C(RUN + "--eval-per-cell 0", ("tiny.npz",)),
    "run-round-lr-0": C(RUN + "--round-lr 0", ("tiny.npz",)),
    "run-round-lr-nan": C(RUN + "--round-lr nan", ("tiny.npz",)),
    "run-round-weight-0": C(RUN + "--round-weight 0", ("tiny.npz",)),
    "run-round-weight-above-1": C(RUN + "--round-weight 1.5", ("tiny.npz",)),
    "run-mnist-limit-0": C(RUN + "--mnist-limit 0", ("tiny.npz",)),
    "run-budget-floor-2": C(RUN + "--budget-floor 2", ("tiny.npz",)),
    "run-promote-tolerance-negative": C(RUN + "--promote-tolerance -1", ("tiny.npz",)),
    "run-balance-maybe": C(RUN + "--balance=maybe", ("tiny.npz",)),
    "run-mnist-missing": C("run --run-dir {d}/r --mnist {d}/missing.npz"),
    "run-no-mnist-reachable": C("run --run-dir {d}/r", env=NO_MNIST),
    "run-thread-count-not-a-number": C("run --run-dir {d}/r", env={"HARDMINE_TF_INTER_OP": "two"}),
    "bank-summary-thread-count-zero": C("bank summary {d}/bank.h5", ("bank.h5",), env={"HARDMINE_NUMBA": "0"}),
    "run-mnist-truncated": C("run --run-dir {d}/r --mnist {d}/trunc.npz", ("tiny.npz", "trunc.npz")),
    "run-mnist-text": C("run --run-dir {d}/r --mnist {d}/text.npz", ("text.npz",)),
    "run-init-text": C(RUN + "--init-model {d}/text.keras", ("tiny.npz", "text.keras")),
    "run-init-npz": C(RUN + "--init-model {d}/tiny.npz", ("tiny.npz",)),
    "run-init-missing": C(RUN + "--init-model {d}/missing.keras", ("tiny.npz",)),
    "run-init-zip": C(RUN + "--init-model {d}/zip.keras", ("tiny.npz", "zip.keras")),
    "run-bank-text": C(RUN + "--bank {d}/text.h5", ("tiny.npz", "text.h5")),
    "run-bank-read-only-dir": C(RUN + "--bank {d}/ro/new.h5", ("tiny.npz", "ro/")),
    "run-bank-is-dir": C(RUN + "--bank {d}/adir", ("tiny.npz", "adir/")),
    "run-run-dir-is-file": C(f"run --run-dir {{d}}/x.txt {MN}", ("tiny.npz", "x.txt")),
    "run-run-dir-read-only": C(f"run --run-dir {{d}}/ro/r {MN}", ("tiny.npz", "ro/")),
    # ------------------------------------------------------------------- serve
    "serve-cron-not-a-cron": C("serve --cron 'not a cron'"),
    "serve-cron-empty": C("serve --cron ''"),
    "serve-cron-minute-61": C("serve --cron '61 * * * *'"),
    "serve-rounds-out-of-range": C("serve --rounds -1"),
    "serve-unknown-option": C("serve --bogus 1"),
    "serve-rounds-no-value": C("serve --rounds"),
    "serve-empty-run-dir": C("serve --run-dir ''"),
    "serve-name-empty": C("serve --name ''"),
    # ------------------------------------------------------------ bank summary
    "bank-summary-missing": C("bank summary {d}/missing.h5"),
    "bank-summary-dir": C("bank summary {d}/adir.h5", ("adir.h5/",)),
    "bank-summary-text": C("bank summary {d}/text.h5", ("text.h5",)),
    "bank-summary-npz": C("bank summary {d}/tiny.npz", ("tiny.npz",)),
    "bank-summary-truncated": C("bank summary {d}/trunc.h5", ("bank.h5", "trunc.h5")),
    "bank-summary-empty-file": C("bank summary {d}/empty.h5", ("empty.h5",)),
    # ------------------------------------------------------------ bank list
    "bank-list-label-10": bank("list", "--label 10"),
    "bank-list-label-negative": bank("list", "--label -1"),
    "bank-list-pred-10": bank("list", "--pred 10"),
    "bank-list-limit-0": bank("list", "--limit 0"),
    "bank-list-sort-unknown": bank("list", "--sort bogus"),
    "bank-list-format-unknown": bank("list", "--format xml"),
    "bank-list-min-jitter-nan": bank("list", "--min-jitter nan"),
    "bank-list-round-text": bank("list", "--round abc"),
    "bank-list-missing": C("bank list {d}/missing.h5"),
    # ------------------------------------------------------------ bank show
    "bank-show-no-such-id": bank("show", "99"),
    "bank-show-negative-id": bank("show", "-1"),
    "bank-show-text-id": bank("show", "abc"),
    "bank-show-huge-id": bank("show", HUGE),
    "bank-show-png-missing-dir": bank("show", "0 --png {d}/missing/x.png"),
    "bank-show-png-read-only-dir": bank("show", "0 --png {d}/ro/x.png", ("ro/",)),
    "bank-show-png-txt": bank("show", "0 --png {d}/x.txt"),
    "bank-show-missing": C("bank show {d}/missing.h5 0"),
    # ------------------------------------------------------------ bank montage
    "bank-montage-txt": bank("montage", "--out {d}/x.txt"),
    "bank-montage-missing-dir": bank("montage", "--out {d}/missing/x.png"),
    "bank-montage-read-only-dir": bank("montage", "--out {d}/ro/x.png", ("ro/",)),
    "bank-montage-out-is-dir": bank("montage", "--out {d}/adir.png", ("adir.png/",)),
    "bank-montage-cols-0": bank("montage", "--out {d}/x.png --cols 0"),
    "bank-montage-cols-33": bank("montage", "--out {d}/x.png --cols 33"),
    "bank-montage-no-match": bank("montage", "--out {d}/x.png --round 99"),
    "bank-montage-limit-0": bank("montage", "--out {d}/x.png --limit 0"),
    "bank-montage-no-out": bank("montage"),
    # ------------------------------------------------------------ bank export
    "bank-export-txt": bank("export", "--out {d}/x.txt"),
    "bank-export-missing-dir": bank("export", "--out {d}/missing/x.npz"),
    "bank-export-read-only-dir": bank("export", "--out {d}/ro/x.npz", ("ro/",)),
    "bank-export-out-is-dir": bank("export", "--out {d}/adir.npz", ("adir.npz/",)),
    "bank-export-onto-bank": bank("export", "--out {d}/bank.h5"),
    "bank-export-missing-bank": C("bank export {d}/missing.h5 --out {d}/x.npz"),
    "bank-export-text-bank": C("bank export {d}/text.h5 --out {d}/x.npz", ("text.h5",)),
    # ------------------------------------------------------------ bank import
    "bank-import-from-missing": bank("import", "--from {d}/missing.npz"),
    "bank-import-from-dir": bank("import", "--from {d}/adir.npz", ("adir.npz/",)),
    "bank-import-from-txt": bank("import", "--from {d}/x.txt", ("x.txt",)),
    "bank-import-from-text-npz": bank("import", "--from {d}/text.npz", ("text.npz",)),
    "bank-import-from-truncated": bank("import", "--from {d}/trunc.npz", ("tiny.npz", "trunc.npz")),
    "bank-import-from-bank": bank("import", "--from {d}/bank.h5"),
    "bank-import-nan-probs": bank("import", "--from {d}/nanprobs.npz", ("nanprobs.npz",)),
    "bank-import-inf-probs": bank("import", "--from {d}/infprobs.npz", ("infprobs.npz",)),
    "bank-import-negative-probs": bank("import", "--from {d}/negprobs.npz", ("negprobs.npz",)),
    "bank-import-probs-above-1": bank("import", "--from {d}/bigprobs.npz", ("bigprobs.npz",)),
    "bank-import-float-pred": bank("import", "--from {d}/floatpred.npz", ("floatpred.npz",)),
    "bank-import-pred-10": bank("import", "--from {d}/bigpred.npz", ("bigpred.npz",)),
    "bank-import-pred-negative": bank("import", "--from {d}/negpred.npz", ("negpred.npz",)),
    "bank-import-probs-9-columns": bank("import", "--from {d}/probshape.npz", ("probshape.npz",)),
    "bank-import-pred-length": bank("import", "--from {d}/predlen.npz", ("predlen.npz",)),
    "bank-import-labels-10": bank("import", "--from {d}/labels10.npz", ("labels10.npz",)),
    "bank-import-labels-float": bank("import", "--from {d}/labelsfloat.npz", ("labelsfloat.npz",)),
    "bank-import-images-27": bank("import", "--from {d}/shape.npz", ("shape.npz",)),
    "bank-import-count-mismatch": bank("import", "--from {d}/mismatch.npz", ("mismatch.npz",)),
    "bank-import-csv-bad-header": bank("import", "--from {d}/badheader.csv", ("badheader.csv",)),
    "bank-import-csv-783-pixels": bank("import", "--from {d}/short.csv", ("short.csv",)),
    "bank-import-csv-pixel-256": bank("import", "--from {d}/pixel256.csv", ("pixel256.csv",)),
    "bank-import-csv-text-values": bank("import", "--from {d}/textvalues.csv", ("textvalues.csv",)),
    "bank-import-csv-empty-file": bank("import", "--from {d}/empty.csv", ("empty.csv",)),
    "bank-import-new-bank-nan-probs": C("bank import {d}/new.h5 --from {d}/nanprobs.npz", ("nanprobs.npz",)),
    "bank-import-new-bank-float-pred": C("bank import {d}/new.h5 --from {d}/floatpred.npz", ("floatpred.npz",)),
    "bank-import-new-bank-csv-text": C("bank import {d}/new.h5 --from {d}/textvalues.csv", ("textvalues.csv",)),
    "bank-import-into-dir": C("bank import {d}/adir.h5 --from {d}/tiny.npz", ("adir.h5/", "tiny.npz")),
    "bank-import-into-missing-dir": C("bank import {d}/missing/b.h5 --from {d}/tiny.npz", ("tiny.npz",)),
    "bank-import-into-read-only-dir": C("bank import {d}/ro/new.h5 --from {d}/tiny.npz", ("tiny.npz", "ro/")),
    "bank-import-into-text": C("bank import {d}/text.h5 --from {d}/tiny.npz", ("text.h5", "tiny.npz")),
    "bank-import-no-from": bank("import"),
    # ------------------------------------------------------------ bank verify
    "bank-verify-missing": C("bank verify {d}/missing.h5"),
    "bank-verify-text": C("bank verify {d}/text.h5", ("text.h5",)),
    "bank-verify-dir": C("bank verify {d}/adir.h5", ("adir.h5/",)),
    "bank-verify-empty-file": C("bank verify {d}/empty.h5", ("empty.h5",)),
    # ------------------------------------------------------------ bank prune
    "bank-prune-keep-negative": bank("prune", "--keep -1"),
    "bank-prune-keep-text": bank("prune", "--keep abc"),
    "bank-prune-policy-unknown": bank("prune", "--keep 1 --policy bogus"),
    "bank-prune-no-keep": bank("prune"),
    "bank-prune-missing": C("bank prune {d}/missing.h5 --keep 1"),
    "bank-prune-text": C("bank prune {d}/text.h5 --keep 1", ("text.h5",)),
    "bank-prune-read-only-dir": C("bank prune {d}/ro/bank.h5 --keep 1", ("ro/",)),
    # ------------------------------------------------------------ bank review
    "bank-review-no-decision": bank("review", "--id 0"),
    "bank-review-two-decisions": bank("review", "--accept --reject --id 0"),
    "bank-review-relabel-ten": bank("review", "--relabel 10 --id 0"),
    "bank-review-relabel-text": bank("review", "--relabel seven --id 0"),
    "bank-review-no-selection": bank("review", "--accept"),
    "bank-review-unknown-id": bank("review", "--accept --id 999999"),
    "bank-review-unknown-status": bank("review", "--accept --status bogus"),
    "bank-review-id-and-filter": bank("review", "--accept --id 0 --label 1"),
    "bank-review-missing": C("bank review {d}/missing.h5 --accept --id 0"),
    "bank-review-text": C("bank review {d}/text.h5 --accept --id 0", ("text.h5",)),
    "bank-review-read-only-dir": C("bank review {d}/ro/bank.h5 --accept --id 0", ("ro/",)),
    "bank-list-unknown-status": bank("list", "--status bogus"),
    "bank-export-unknown-status": bank("export", "--out {d}/x.csv --status nope"),
    # ------------------------------------------------------------ bank recover
    "bank-recover-no-shards": C("bank recover {d}/missing.h5"),
    "bank-recover-existing-bank": bank("recover"),
    "bank-recover-bad-status": bank("recover", "--status bogus"),
    # ------------------------------------------------------------ the root
    "bank-unknown-subcommand": C("bank bogus {d}/bank.h5", ("bank.h5",)),
    "unknown-command": C("bogus"),
    "unknown-root-option": C("--colour generate"),
}


# ------------------------------------------------------------------ machinery

def _read_only(folder: Path, templates: Path, request) -> None:
    """``folder`` with a bank and a model in it, made read-only; skip where that is impossible."""
    folder.mkdir()
    _copy_bank("bank.h5")(folder / "bank.h5", folder, templates)
    shutil.copyfile(templates / "model.keras", folder / "model.keras")
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    if os.geteuid() == 0:  # root writes anywhere chmod forbids; an immutable folder stops root too
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
            request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(folder)], check=True))
    try:
        (folder / "probe").write_bytes(b"")
    except OSError:
        return
    (folder / "probe").unlink()
    pytest.skip(f"cannot make {folder} read-only here")


def _make(name: str, d: Path, templates: Path, request) -> None:
    path = d / name.rstrip("/")
    if path.exists():
        return
    if name == "ro/":
        return _read_only(path, templates, request)
    maker = FILES[name]
    if maker is None:
        path.mkdir()
        return
    n = maker.__code__.co_argcount if hasattr(maker, "__code__") else 1
    maker(*(path, d, templates)[:n])


def snapshot(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file ("dir" for directories) under ``folder``."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), folder)] = "dir"
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def invoke(argv: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, argv, env=env)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, templates, request):
    case = CASES[name]
    d = tmp_path / "case"
    d.mkdir()
    for f in case.files:
        _make(f, d, templates, request)
    before = snapshot(d)
    argv = [a.format(d=d) for a in shlex.split(case.argv)]
    env = {k: v.format(d=d) for k, v in case.env.items()}
    result = invoke(argv, env)
    shown = f"\n$ hardmine {' '.join(argv)}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"exception {result.exception!r}" + shown
    assert "Traceback" not in result.output, shown
    assert result.exit_code == case.status, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert snapshot(d) == before, "files changed" + shown


def test_the_table_covers_every_subcommand():
    """At least 100 inputs, and every subcommand and bank subcommand has some."""
    from flows.cli import SUBCOMMANDS
    from store.cli import bank as bank_group
    assert len(CASES) >= 100
    firsts = {" ".join(shlex.split(c.argv)[:2]) if c.argv.startswith("bank ") else c.argv.split()[0]
              for c in CASES.values()}
    for name in SUBCOMMANDS:
        if name != "bank":
            assert name in firsts, name
    for sub in bank_group.commands:
        assert f"bank {sub}" in firsts, sub


# Cases run as real processes too: what the user's terminal shows, TensorFlow's
# start-up notices included (the in-process runs above import TensorFlow once).
REAL_PROCESS = ("train-no-mnist-reachable", "evaluate-model-text", "run-no-mnist-reachable",
                "run-thread-count-not-a-number")


@pytest.mark.parametrize("name", REAL_PROCESS)
def test_the_terminal_shows_only_the_error_line(name, tmp_path, templates, request):
    case = CASES[name]
    d = tmp_path / "case"
    d.mkdir()
    for f in case.files:
        _make(f, d, templates, request)
    argv = [a.format(d=d) for a in shlex.split(case.argv)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           **{k: v.format(d=d) for k, v in case.env.items()}}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "-c", "from flows.cli import main; main()", *argv], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == case.status, result.stderr
    assert result.stdout == "", result.stdout  # for run: no Prefect server was started, nothing logged
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_verbose_lets_tensorflow_speak(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    invoke(["bank", "summary", "/nonexistent/b.h5"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"  # read by TensorFlow when it is first imported
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    invoke(["--verbose", "bank", "summary", "/nonexistent/b.h5"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def _full_disk(path, *args, **kwargs):
    """A writer that gets half way and then meets a full disk."""
    with open(path, "wb") as fh:
        fh.write(b"half a file")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("argv, files, patch", [
    ("generate --count 3 --out {d}/x.npz", (), ("miner.cli", "WRITERS", {".npz": _full_disk})),
    ("bank montage {d}/bank.h5 --out {d}/x.png", ("bank.h5",), ("store.render", "montage", lambda df, images, path, cols: _full_disk(path))),
    ("bank export {d}/bank.h5 --out {d}/x.npz", ("bank.h5",),
     ("store.transfer", "WRITERS", {".npz": lambda fh, blocks: _full_disk(fh.name)})),
])
def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(argv, files, patch, tmp_path, templates,
                                                                 request, monkeypatch):
    import importlib
    d = tmp_path / "case"
    d.mkdir()
    for f in files:
        _make(f, d, templates, request)
    before = snapshot(d)
    module, name, value = patch
    monkeypatch.setattr(importlib.import_module(module), name, value)
    result = invoke([a.format(d=d) for a in shlex.split(argv)])
    assert result.exit_code == 2 and isinstance(result.exception, (SystemExit, type(None))), result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "No space left on device" in lines[0], result.stderr
    assert snapshot(d) == before
