"""``hardmine generate`` through the real root group: exact output, files, exit codes."""

import numpy as np
import pytest
from click.testing import CliRunner

from flows.cli import cli
from miner import generate, regenerate


def run(*args):
    return CliRunner().invoke(cli, ["generate", *args])


def test_npz_holds_images_labels_and_record_columns(tmp_path):
    out = tmp_path / "d.npz"
    res = run("--count", "25", "--digits", "3,5,8", "--jitter", "1.5", "--seed", "7", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert res.output == f"wrote 25 digits (3,5,8, jitter 1.5, seed 7) to {out}\n"
    with np.load(out) as f:
        data = dict(f)
    assert set(data) == {"images", "labels", "jitter", "brush", "variant", "seed", "index", "version",
                         "ink_out", "ink"}
    assert data["images"].shape == (25, 28, 28) and data["images"].dtype == np.uint8
    assert data["labels"].dtype == np.uint8 and data["labels"].tolist() == [3, 5, 8] * 8 + [3]
    expected, rec = generate(data["labels"], 1.5, seed=7)
    assert np.array_equal(data["images"], expected) and data["index"].tolist() == list(range(25))
    assert np.array_equal(regenerate(rec), data["images"])


def test_png_montage_is_written(tmp_path):
    out = tmp_path / "m.png"
    res = run("--count", "12", "--out", str(out))
    assert res.exit_code == 0 and res.output == f"wrote 12 digits (0-9, jitter 0, seed 0) to {out}\n"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_digit_ranges_spread_labels_evenly(tmp_path):
    out = tmp_path / "r.npz"
    assert run("--count", "8", "--digits", "2-3,7", "--out", str(out)).exit_code == 0
    assert np.load(out)["labels"].tolist() == [2, 3, 7, 2, 3, 7, 2, 3]


@pytest.mark.parametrize("args,message", [
    (["--count", "0"], "error: generate: --count 0 must be in 1..1000000\n"),
    (["--digits", "3,12"], "error: generate: --digits '3,12' must name digits 0..9 (like 0-9 or 3,5,8)\n"),
    (["--digits", "x"], "error: generate: --digits 'x' must look like 0-9 or 3,5,8\n"),
    (["--jitter", "-1"], "error: generate: jitter must be >= 0 grid pixels, got -1.0\n"),
    (["--jitter", "nan"], "error: generate: jitter must be finite; use a radius in grid pixels like 2.0\n"),
    (["--seed", str(2**62)], "error: generate: seed 4611686018427387904 must be an integer in 0..2**62-1 "
                             "(larger seeds are reserved for the eval set)\n"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    res = run(*args, "--out", str(tmp_path / "x.npz"))
    assert res.exit_code == 2 and res.output == message
    assert not (tmp_path / "x.npz").exists()


def test_bad_output_paths_exit_2(tmp_path):
    res = run("--out", str(tmp_path / "x.txt"))
    assert res.exit_code == 2 and res.output == f"error: generate: cannot write {tmp_path / 'x.txt'}: it must end in .npz or .png\n"
    missing = tmp_path / "nope" / "x.npz"
    res = run("--out", str(missing))
    assert res.exit_code == 2
    assert res.output == f"error: generate: cannot write {missing}: folder {missing.parent} does not exist; create it first\n"
    res = run("--count", "401", "--out", str(tmp_path / "big.png"))
    assert res.exit_code == 2 and "at most 400 digits" in res.output


def test_unwritable_output_exits_2(tmp_path):
    clash = tmp_path / "taken.npz"
    clash.mkdir()  # a directory where the file should go
    res = run("--count", "3", "--out", str(clash))
    assert res.exit_code == 2 and res.output == f"error: generate: cannot write {clash}: it is a directory; give a file name\n"
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = run("--out", str(blocker / "x.png"))
    assert res.exit_code == 2 and res.output == f"error: generate: cannot write {blocker / 'x.png'}: {blocker} is a file, not a folder\n"


def test_help_lists_every_option():
    res = run("--help")
    assert res.exit_code == 0
    for option in ("--count", "--digits", "--jitter", "--seed", "--normalize / --no-normalize", "--realistic / --no-realistic", "--out", "--json"):
        assert option in res.output


def test_normalize_flag_reaches_the_records(tmp_path):
    out = tmp_path / "n.npz"
    res = run("--count", "4", "--normalize", "--out", str(out))
    assert res.exit_code == 0 and res.output == f"wrote 4 digits (0-9, jitter 0, seed 0) to {out}\n"
    assert (np.load(out)["variant"] & 0x80 == 0x80).all()


def test_realistic_flag_reaches_the_records_and_refuses_normalize(tmp_path):
    out = tmp_path / "r.npz"
    res = run("--count", "4", "--realistic", "--out", str(out))
    assert res.exit_code == 0
    assert (np.load(out)["variant"] & 0xC0 == 0x40).all()
    res = run("--count", "4", "--realistic", "--normalize", "--out", str(tmp_path / "both.npz"))
    assert res.exit_code == 2 and not (tmp_path / "both.npz").exists()
    assert res.output.startswith("error: GeneratorConfig: normalize and realistic both set") and res.output.count("\n") == 1
