"""``hardmine bank ...`` through the real root command, exact output on a small bank."""

import json
import os

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from flows.cli import cli
from store import Bank
from store.layout import disk_bytes, read_manifest, write_manifest

BAR = (4, 24, 13, 15)  # rows 4..23, columns 13..14 of a vertical stroke


def _image(value: int) -> np.ndarray:
    img = np.zeros((28, 28), np.uint8)
    img[BAR[0]:BAR[1], BAR[2]:BAR[3]] = value
    return img


def _probs(true, pred, p_true, p_pred):
    p = np.full(10, (1 - p_true - p_pred) / 8, np.float32)
    p[true], p[pred] = p_true, p_pred
    return p


@pytest.fixture
def bank(tmp_path):
    path = str(tmp_path / "bank.h5")
    records = np.zeros(3, [("label", "u1"), ("jitter", "f4"), ("brush", "f4"), ("variant", "u2"), ("seed", "u8"),
                           ("index", "u8"), ("version", "u2")])
    records["label"], records["jitter"], records["brush"] = [3, 5, 8], [0.5, 1.5, 2.5], 2.0
    records["variant"], records["seed"], records["index"], records["version"] = 5, 7, [0, 1, 2], 1
    with Bank.open(path, "a") as b:
        b.append(np.stack([_image(255), _image(128), _image(60)]), [3, 5, 8], [8, 6, 3],
                 np.stack([_probs(3, 8, 0.05, 0.9), _probs(5, 6, 0.2, 0.7), _probs(8, 3, 0.1, 0.5)]), records,
                 round=1, model_id="round-1", source="synthetic", key="round-1")
        b.append(np.stack([_image(200)]), [3], [5], np.stack([_probs(3, 5, 0.3, 0.6)]), records[:1].copy(),
                 round=2, model_id="round-2", source="synthetic", key="round-2")
        b.append(np.stack([_image(255), _image(255)]), [1, 7], None, None, round=-1, model_id="unknown",
                 source="imported", key="import:x")
    return path


def run(*args):
    return CliRunner().invoke(cli, ["bank", *map(str, args)])


def _files(folder):
    return sorted((p, os.path.getsize(os.path.join(r, p))) for r, _, fs in os.walk(folder) for p in fs)


def test_summary(bank):
    m = read_manifest(bank)
    r = run("summary", bank)
    assert r.exit_code == 0, r.output
    assert r.output == f"""bank {bank}: schema 1, created {m.created} by {m.created_by}
cases: 6 (imported 2, synthetic 4) in 3 shards, {disk_bytes(m)} bytes on disk
by status:     ok:6 ambiguous:0 accepted:0 rejected:0 relabelled:0 (trainable: 6)
by true label: 0:0 1:1 2:0 3:2 4:0 5:1 6:0 7:1 8:1 9:0
by predicted:  0:0 1:0 2:0 3:1 4:0 5:1 6:1 7:0 8:1 9:0 ?:2
by round:      -1:2 1:3 2:1
by jitter:     [0,1):2 [1,2):1 [2,3):1 n/a:2
confusion (rows: true, columns: predicted, ?: unknown):
         0    1    2    3    4    5    6    7    8    9    ?
    0    .    .    .    .    .    .    .    .    .    .    .
    1    .    .    .    .    .    .    .    .    .    .    1
    2    .    .    .    .    .    .    .    .    .    .    .
    3    .    .    .    .    .    1    .    .    1    .    .
    4    .    .    .    .    .    .    .    .    .    .    .
    5    .    .    .    .    .    .    1    .    .    .    .
    6    .    .    .    .    .    .    .    .    .    .    .
    7    .    .    .    .    .    .    .    .    .    .    1
    8    .    .    .    1    .    .    .    .    .    .    .
    9    .    .    .    .    .    .    .    .    .    .    .
"""
    s = json.loads(run("summary", bank, "--json").output)
    assert s["cases"] == 6 and s["by_round"] == {"-1": 2, "1": 3, "2": 1} and s["confusion"][3][5] == 1
    assert s["by_jitter"] == {"0": 2, "1": 1, "2": 1, "n/a": 2}


def test_list_table_filters_and_sort(bank):
    r = run("list", bank)
    assert r.exit_code == 0 and r.output == """      id true pred p_pred p_true round jitter source    status     label
       0    3    8  0.900  0.050     1   0.50 synthetic ok         3
       1    5    6  0.700  0.200     1   1.50 synthetic ok         5
       2    8    3  0.500  0.100     1   2.50 synthetic ok         8
       3    3    5  0.600  0.300     2   0.50 synthetic ok         3
       4    1    ?      -      -    -1      - imported  ok         1
       5    7    ?      -      -    -1      - imported  ok         7
"""
    r = run("list", bank, "--sort", "confidence", "--limit", "3")
    assert [line.split()[0] for line in r.output.splitlines()[1:]] == ["0", "1", "3"]
    r = run("list", bank, "--label", "3", "--min-jitter", "0.4", "--max-jitter", "0.6", "--round", "2")
    assert [line.split()[0] for line in r.output.splitlines()[1:]] == ["3"]
    assert run("list", bank, "--pred", "-1").output.count("imported") == 2


def test_list_csv_and_json_carry_every_field(bank):
    lines = run("list", bank, "--format", "csv", "--label", "5").output.splitlines()
    assert lines[0].startswith("id,true,pred,status,label,p_true,p_pred,round,model_id,source,time,key,jitter,brush,")
    assert lines[1].startswith("1,5,6,ok,5,0.2,0.7,1,round-1,synthetic,") and len(lines) == 2
    rows = json.loads(run("list", bank, "--format", "json", "--round", "-1").output)
    assert [(row["id"], row["true"], row["pred"], row["source"]) for row in rows] == [
        (4, 1, -1, "imported"), (5, 7, -1, "imported")]
    # --json as in every other command: the same records
    assert run("list", bank, "--json", "--round", "-1").output == run("list", bank, "--format", "json",
                                                                       "--round", "-1").output
    r = run("list", bank, "--json", "--format", "csv")
    assert (r.exit_code, r.output) == (2, "error: bank list: --json and --format csv ask for two formats; give one\n")


def test_show_draws_the_digit(bank, tmp_path):
    with Bank.open(bank) as b:
        t = b.table().set_index("id").loc[1, "time"].strftime("%Y-%m-%dT%H:%M:%SZ")
    png = tmp_path / "one.png"
    r = run("show", bank, 1, "--png", png)
    blank, stroke = " " * 56, " " * 26 + "▒▒▒▒" + " " * 26  # 128/256 -> shade 2 of 0..4, 2 chars a pixel
    art = "\n".join([blank] * 4 + [stroke] * 20 + [blank] * 4)
    probs = " ".join(f"{c}:{v}" for c, v in enumerate(["0.01"] * 5 + ["0.20", "0.70"] + ["0.01"] * 3))
    assert r.exit_code == 0 and r.output == f"""case 1: round 1, model round-1, synthetic, {t}, key round-1
true 5 -> predicted 6 (p=0.700, p(true)=0.200)
review: ok, trained on as 5
generator: jitter 1.500 brush 2.000 variant 0x0005 seed 7 index 1 version 1
probabilities: {probs}
{art}
"""
    import matplotlib.pyplot as plt

    saved = plt.imread(png)
    assert saved.shape[:2] == (224, 224) and saved[100, 112, 0] > 0.4 and saved[100, 20, 0] == 0


def test_montage_writes_a_png(bank, tmp_path):
    out = tmp_path / "m.png"
    r = run("montage", bank, "--label", "3", "--out", out, "--cols", "2")
    assert r.exit_code == 0 and r.output == f"wrote 2 cases to {out}\n"
    import matplotlib.pyplot as plt

    assert plt.imread(out).shape[1] == 240  # 2 columns x 1.5 in x 80 dpi


def test_export_then_import_round_trips(bank, tmp_path):
    csv, npz = tmp_path / "e.csv", tmp_path / "e.npz"
    assert run("export", bank, "--out", csv, "--label", "3").output == f"exported 2 cases to {csv}\n"
    lines = csv.read_text().splitlines()
    assert lines[0] == "label," + ",".join(f"pixel{i}" for i in range(784)) and len(lines) == 3
    pixels = np.array(lines[2].split(","), int)
    assert pixels[0] == 3 and np.array_equal(pixels[1:].reshape(28, 28), _image(200))
    assert run("export", bank, "--out", npz).exit_code == 0
    with np.load(npz) as z:
        assert list(z["ids"]) == list(range(6)) and list(z["round"]) == [1, 1, 1, 2, -1, -1]
        assert list(z["labels"]) == [3, 5, 8, 3, 1, 7] and z["images"].shape == (6, 28, 28)
    new = tmp_path / "new.h5"
    r = run("import", new, "--from", npz)
    assert r.exit_code == 0 and r.output == f"imported 6 cases from {npz} into {new} (ids 0..5)\n"
    again = run("import", new, "--from", npz)
    assert again.output.startswith(f"{npz} was already imported (key import:e.npz:") and again.exit_code == 0
    assert run("import", new, "--from", csv).exit_code == 0
    with Bank.open(new) as b, Bank.open(bank) as old:
        df = b.table()
        np.testing.assert_array_equal(b.images(range(6)), old.images(range(6)))
        assert list(df["pred"][:6]) == [8, 6, 3, 5, -1, -1] and set(df["source"]) == {"imported"}
        assert len(df) == 8 and list(df["round"].unique()) == [-1]


def test_import_keras_layouts(tmp_path):
    keras = tmp_path / "keras.npz"
    x = np.zeros((3, 28, 28, 1), np.float32)
    x[:, 5, 5] = 1.0  # scaled 0..1
    np.savez(keras, x_train=x[:2], y_train=np.eye(10)[[1, 2]], x_test=x[2:], y_test=np.array([9]))
    r = run("import", tmp_path / "b.h5", "--from", keras)
    assert r.exit_code == 0, r.output
    with Bank.open(str(tmp_path / "b.h5")) as b:
        assert list(b.table()["true"]) == [1, 2, 9] and b.images([2])[0, 5, 5] == 255


def test_verify_and_prune(bank):
    assert run("verify", bank).output == "ok: 6 cases, structure and checksums intact\n"
    r = run("prune", bank, "--keep", "4", "--policy", "hardest")
    assert r.exit_code == 0 and r.output == "pruned 2 cases (policy hardest): 6 -> 4 cases\n"
    assert "    0    3" in run("list", bank).output and "  1    5" not in run("list", bank).output
    with Bank.open(bank) as b:
        assert list(b.table()["id"]) == [0, 2, 4, 5]
    assert run("verify", bank).exit_code == 0


def test_verify_reports_damage_with_exit_1(bank):
    name = read_manifest(bank).shards["name"][0]
    with h5py.File(os.path.join(bank + ".shards", name), "r+") as f:
        f["probs"][1, 0] = 0.5
    r = run("verify", bank)
    assert r.exit_code == 1
    assert r.output == f"verify {bank}: shard {name}: case 1 fails its checksum (1 in rows 0..)\n"
    os.unlink(os.path.join(bank + ".shards", name))
    r = run("verify", bank)
    assert r.exit_code == 1 and r.output.startswith(f"verify {bank}: shard {name} cannot be read (FileNotFoundError")


def test_read_commands_work_while_a_writer_holds_the_lock(bank, tmp_path):
    with Bank.open(bank, "a"):
        for args in (["summary", bank], ["list", bank], ["show", bank, 0], ["verify", bank],
                     ["export", bank, "--out", tmp_path / "x.npz"], ["montage", bank, "--out", tmp_path / "m.png"]):
            assert run(*args).exit_code == 0, args
        r = run("prune", bank, "--keep", "1")
        assert r.exit_code == 2 and "being written by another process" in r.output


def _bad_inputs(bank, tmp_path):
    txt = tmp_path / "notes.h5"
    txt.write_text("not hdf5")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("pixel0,pixel1\n1,2\n")
    short_csv = tmp_path / "short.csv"
    short_csv.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n3,4\n")
    bad_npz, bad_shape, bad_labels = tmp_path / "k.npz", tmp_path / "s.npz", tmp_path / "l.npz"
    np.savez(bad_npz, data=np.zeros(3))
    np.savez(bad_shape, images=np.zeros((2, 20, 20), np.uint8), labels=np.zeros(2))
    np.savez(bad_labels, images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 12]))
    good = tmp_path / "good.npz"
    np.savez(good, images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 2]))
    missing = tmp_path / "missing.h5"
    new = tmp_path / "new.h5"
    return [
        (["summary", missing], f"bank {missing} does not exist"),
        (["list", txt], f"{txt} is not a hardmine bank (not an HDF5 file)"),
        (["verify", missing], "does not exist"),
        (["show", bank, 99], "no case with id 99"),
        (["show", bank, "one"], "'one' is not a valid integer"),
        (["list", bank, "--label", "12"], "Invalid value for '--label'"),
        (["list", bank, "--sort", "size"], "Invalid value for '--sort'"),
        (["list", bank, "--format", "xml"], "Invalid value for '--format'"),
        (["list", bank, "--limit", "0"], "Invalid value for '--limit'"),
        (["list", bank, "--colour"], "No such option '--colour'"),
        (["montage", bank], "Missing option '--out'"),
        (["montage", bank, "--label", "0", "--out", tmp_path / "m.png"], "no case of"),
        (["export", bank, "--out", tmp_path / "x.txt"], "unknown format .txt"),
        (["import", new, "--from", tmp_path / "none.npz"], "does not exist"),
        (["import", new, "--from", bad_csv], "header must be label,pixel0..pixel783"),
        (["import", new, "--from", short_csv], "rows have 2 values, expected 785"),
        (["import", new, "--from", bad_npz], "no image/label arrays"),
        (["import", new, "--from", bad_shape], "images have shape (2, 20, 20)"),
        (["import", new, "--from", bad_labels], "labels must be digits 0..9"),
        (["import", txt, "--from", good], f"{txt} is not a hardmine bank"),
        (["import", tmp_path / "no" / "b.h5", "--from", good], "does not exist; create it first"),
        (["import", new, "--from", good, "--model-id"], "Option '--model-id' requires an argument"),
        (["compact", bank], "No such command 'compact'"),
        (["prune", missing, "--keep", "3"], "does not exist"),
        (["prune", bank, "--keep", "-1"], "Invalid value for '--keep'"),
        (["prune", bank, "--keep", "3", "--policy", "oldest"], "Invalid value for '--policy'"),
        (["prune", txt, "--keep", "3"], "is not a hardmine bank"),
    ]


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(bank, tmp_path):
    cases = _bad_inputs(bank, tmp_path)
    before = _files(tmp_path)
    for args, message in cases:
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.count("\n") == 1 and r.output.startswith("error: ") and message in r.output, (args, r.output)
        assert _files(tmp_path) == before, args


def test_newer_schema_is_refused_by_every_command(bank):
    m = read_manifest(bank)
    m.schema = 3
    write_manifest(m)
    for args in (["summary", bank], ["list", bank], ["verify", bank], ["prune", bank, "--keep", "1"]):
        r = run(*args)
        assert r.exit_code == 2 and r.output == (
            f"error: bank {bank} has schema version 3 but this hardmine reads up to 2; upgrade hardmine\n")


def test_export_of_an_empty_selection_writes_empty_arrays(bank, tmp_path):
    out = tmp_path / "none.npz"
    r = run("export", bank, "--label", "0", "--out", out)
    assert r.exit_code == 0 and r.output == f"exported 0 cases to {out}\n"
    with np.load(out) as z:
        assert z["images"].shape == (0, 28, 28) and z["probs"].shape == (0, 10)
