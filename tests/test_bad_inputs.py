"""Every bad input a user can give ``hardmine``: one ``error:`` line, exit 2, no
traceback, nothing written, nothing changed.

    pytest -q tests/test_bad_inputs.py          # ~1 min: in-process, tiny files

:data:`CASES` is the table, read from ``tests/bad_inputs.toml`` (data, one line a
case: add a bad input there): a command line (``{d}`` is the case's own
temporary folder), the files to put there first (names of :data:`FILES`) and
extra environment variables. Every case runs the real root
command in-process (click's ``CliRunner``) and asserts

- exit status 2,
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
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from flows.cli import cli
from store import Bank
from bankdata import append

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
    return make_templates(tmp_path_factory.mktemp("templates"))


def make_templates(root: Path) -> Path:
    """Files that are costly to make, made once into ``root``: a small bank, an untrained model
    and valid Keras models that are not digit CNNs (pytest's fixture and bench/bad_inputs.py)."""
    root.mkdir(parents=True, exist_ok=True)
    with Bank.open(str(root / "bank.h5"), "a") as bank:
        append(bank, 5, seed=1, round=1)
    from model.cnn import build_model
    build_model("seed").save(root / "model.keras")
    import keras
    for name, shape, classes, pool in (("rgb.keras", (32, 32, 3), 10, keras.layers.Flatten),
                                       ("five.keras", (28, 28, 1), 5, keras.layers.Flatten),
                                       ("noflat.keras", (28, 28, 1), 10, keras.layers.GlobalAveragePooling2D)):
        keras.Sequential([keras.Input(shape), pool(),  # a valid Keras model, not a digit CNN of model.cnn
                          keras.layers.Dense(classes, activation="softmax")]).save(root / name)
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
    "rgb.keras": _copy("rgb.keras"),    # (32, 32, 3) -> 10
    "five.keras": _copy("five.keras"),  # (28, 28, 1) -> 5
    "noflat.keras": _copy("noflat.keras"),  # (28, 28, 1) -> 10, no Flatten layer: no features to embed
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


@dataclass(frozen=True)
class Case:
    argv: str  # shlex-split; {d} = the case's folder
    files: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)


def load_cases(path: Path = Path(__file__).with_name("bad_inputs.toml")) -> dict[str, Case]:
    """The table: ``tests/bad_inputs.toml``, one line a case, in the order it is written."""
    with open(path, "rb") as fh:
        table = tomllib.load(fh)
    return {name: Case(row["argv"], tuple(row.get("files", ())), row.get("env", {}))
            for name, row in table.items()}


CASES = load_cases()


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


def prepare(case: Case, d: Path, templates: Path, request) -> tuple[list[str], dict[str, str]]:
    """Make ``d`` with the case's files in it; the case's argv and env with ``{d}`` filled in."""
    d.mkdir()
    for f in case.files:
        _make(f, d, templates, request)
    return [a.format(d=d) for a in shlex.split(case.argv)], {k: v.format(d=d) for k, v in case.env.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, templates, request):
    d = tmp_path / "case"
    argv, env = prepare(CASES[name], d, templates, request)
    before = snapshot(d)
    result = invoke(argv, env)
    shown = f"\n$ hardmine {' '.join(argv)}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"exception {result.exception!r}" + shown
    assert "Traceback" not in result.output, shown
    assert result.exit_code == 2, shown
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
    argv, case_env = prepare(CASES[name], tmp_path / "case", templates, request)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **case_env}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "-c", "from flows.cli import main; main()", *argv], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr
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
