"""``hardmine train``, ``hardmine evaluate``, ``hardmine predict``.

    hardmine train --mnist mnist.npz --preset seed --epochs 10 --no-augment --out seed.keras
    hardmine evaluate seed.keras --mnist mnist.npz --json
    hardmine predict seed.keras --kaggle test.csv --out submission.csv

TensorFlow is imported inside the command functions only, so ``hardmine --help``
and the other packages' commands stay fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from miner.config import check_output, require, write_atomically

PER_CELL_MAX = 10_000  # 700,000 synthetic digits at the notebook's 7 radii
MNIST_HELP = "MNIST: Keras .npz, IDX directory/files or Kaggle train.csv [default: $HARDMINE_MNIST, else Keras' download]"


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.option("--mnist", "mnist", default=None, type=click.Path(), help=MNIST_HELP)
@click.option("--preset", default="seed", show_default=True, help="CNN preset of model.cnn.PRESETS: seed | strong")
@click.option("--epochs", default=None, type=int,
              help="training epochs [default: the preset's recommendation: seed 10, strong 50]")
@click.option("--bank", default=None, type=click.Path(), help="hard-case bank (HDF5) to mix in [default: none, MNIST only]")
@click.option("--mix", default=0.2, show_default=True, type=float, help="share of every batch drawn from --bank, in [0, 1)")
@click.option("--balance/--no-balance", default=False, show_default=True, help="draw bank cases evenly over classes")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="random rotation 10 deg, zoom 0.1, shifts 0.1 (the notebook's settings)")
@click.option("--batch-size", default=128, show_default=True, type=int, help="images per training step")
@click.option("--pen-scan/--no-pen-scan", default=False, show_default=True,
              help="vary pen width and scan resolution of every training image (model.pipeline.PenScan)")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of weights, shuffling, dropout, augmentation")
@click.option("--lr", default=None, type=float,
              help="initial learning rate, in (0, 1]; the preset's schedule still applies [default: the preset's: 1e-3]")
@click.option("--init", "init_model", default=None, type=click.Path(), help="continue from this .keras model [default: fresh]")
@click.option("--out", default="model.keras", show_default=True, type=click.Path(), help="where to save the best-on-validation model (.keras)")
def train(mnist, preset, epochs, bank, mix, balance, augment, pen_scan, batch_size, seed, lr, init_model, out) -> None:
    """Train a CNN preset on MNIST (optionally mixed with a hard-case bank).

    Keeps the epoch with the best validation accuracy at --out and writes the
    history next to it (<stem>.history.json). One progress line per epoch goes
    to stderr.
    """
    from miner.config import checked_replace
    from model.cnn import check_model_file, get_preset
    from model.data import load_mnist
    from model.train import TrainConfig, train as run_training

    # everything checked before MNIST is read or a step is trained
    cfg = checked_replace(TrainConfig(), {
        "preset": preset, "epochs": get_preset(preset).epochs if epochs is None else epochs, "mix_fraction": mix,
        "balance": balance, "augment": augment, "pen_scan": pen_scan, "batch_size": batch_size, "seed": seed, "lr": lr,
    }, "hardmine train")
    check_output(out, "train", (".keras",), make_parents=True)
    if init_model is not None:
        check_model_file(init_model, "train: --init")
    if bank is not None:
        from store import check_bank
        require(os.path.exists(bank), f"train: --bank {bank} does not exist; check the path or drop --bank")
        check_bank(bank)
    data = load_mnist(mnist)
    result = run_training(cfg, data, out, bank_path=bank, init_model=init_model, log=_echo_err)
    click.echo(f"{result['model']}: best val_acc {result['val_acc']:.4f} at epoch "
               f"{result['best_epoch']}/{result['epochs']} in {result['seconds']:.0f} s")


def _report_lines(model_path: str, source: str, s: dict) -> list[str]:
    lines = [f"{model_path} on {source}", f"val accuracy        {s['val_acc']:.4f} ({s['n_val']} images)"]
    if s["mnist_test_acc"] is not None:
        lines.append(f"test accuracy       {s['mnist_test_acc']:.4f} ({s['n_test']} images)")
    lines.append(f"per class ({s['class_split']})    " + " ".join(f"{d}:{a:.3f}" for d, a in s["per_class_acc"].items()))
    if "synth_acc" in s:
        lines.append(f"synthetic accuracy  {s['synth_acc']:.4f} ({s['n_synth']} images)")
        lines.append("  by jitter         " + " ".join(f"{j}:{a:.3f}" for j, a in s["jitter_acc"].items()))
    if "robustness" in s:
        from model.robustness import table_lines
        lines.extend(table_lines(s["robustness"]))
    return lines


@click.command()
@click.argument("model_path", metavar="MODEL.keras")
@click.option("--mnist", "mnist", default=None, type=click.Path(), help=MNIST_HELP)
@click.option("--json", "as_json", is_flag=True, default=False, help="print the scores as one JSON object")
@click.option("--synthetic/--no-synthetic", default=True, show_default=True,
              help="also score the fixed synthetic evaluation set (accuracy per jitter)")
@click.option("--per-cell", default=50, show_default=True, type=click.IntRange(1, PER_CELL_MAX),
              help="synthetic digits per (digit, jitter) cell")
@click.option("--robustness/--no-robustness", default=True, show_default=True,
              help="also score the real-digit robustness suite (MNIST test digits thickened, thinned, "
                   "scanned at low resolution, blurred, slanted, rotated, rescaled, moved, distorted)")
@click.option("--robust-limit", default=None, type=click.IntRange(min=1),
              help="digits of the test split per robustness variant [default: all]")
@click.option("--plots", "plots_dir", default=None, type=click.Path(file_okay=False),
              help="write confusion/curves/jitter PNGs here [default: next to the model]")
@click.option("--no-plots", is_flag=True, default=False, help="write no PNGs")
def evaluate(model_path, mnist, as_json, synthetic, per_cell, robustness, robust_limit, plots_dir,
             no_plots) -> None:
    """Score MODEL.keras: MNIST accuracy, per class, confusion; accuracy per jitter;
    the real-digit robustness suite per variant and class (test split).

    Writes PNG plots of the confusion matrix, the accuracy per jitter, the
    robustness suite and (when <stem>.history.json from training is next to
    the model) the learning curves.
    """
    from model import plots
    from model.cnn import check_model_file, load_model
    from model.data import load_mnist
    from model.evaluate import evaluate as score
    from model.train import history_path

    check_model_file(model_path, "evaluate")
    stem = Path(model_path).stem
    folder = Path(plots_dir) if plots_dir else Path(model_path).parent
    if not no_plots:  # the plots are written last: their folder is checked first
        check_output(folder / f"{stem}.confusion.png", "evaluate", make_parents=True)
    data = load_mnist(mnist)
    eval_set = None
    if synthetic:
        import miner

        eval_set = miner.eval_set(per_cell=per_cell)
    suite = None
    if robustness:
        from model import robustness as rob
        split = "test" if len(data.y_test) else "val"  # Kaggle's train.csv has no labelled test split
        suite = rob.for_split(data, split, robust_limit)
    model = load_model(model_path, "evaluate")
    scores = score(model, data, synthetic=eval_set, suite=suite)
    if not no_plots:
        written = [plots.confusion_png(scores["confusion"], folder / f"{stem}.confusion.png",
                                       title=f"MNIST {scores['class_split']}")]
        if "jitter_acc" in scores:
            written.append(plots.jitter_png(scores["jitter_acc"], folder / f"{stem}.jitter.png"))
        if "robustness" in scores:
            written.append(plots.robustness_png(scores["robustness"], folder / f"{stem}.robustness.png"))
        hist = history_path(model_path)
        if hist.is_file():
            written.append(plots.curves_png(json.loads(hist.read_text())["history"], folder / f"{stem}.curves.png"))
        scores["plots"] = written
    if as_json:
        click.echo(json.dumps(scores))
        return
    for line in _report_lines(model_path, data.source, scores):
        click.echo(line)
    if scores.get("plots"):
        click.echo("plots: " + ", ".join(scores["plots"]))


@click.command()
@click.argument("model_path", metavar="MODEL.keras")
@click.option("--kaggle", "test_csv", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Kaggle Digit Recognizer test.csv (784 pixel columns, no label)")
@click.option("--out", default="submission.csv", show_default=True, type=click.Path(dir_okay=False),
              help="submission file to write: ImageId,Label")
def predict(model_path, test_csv, out) -> None:
    """Predict Kaggle's test.csv with MODEL.keras and write a submission (ImageId,Label)."""
    import pandas as pd

    from model.cnn import check_model_file, load_model
    from model.data import load_kaggle_test
    from model.evaluate import predict_proba

    check_model_file(model_path, "predict")
    check_output(out, "predict", (".csv",))
    require(not (os.path.exists(out) and os.path.samefile(out, test_csv)),
            f"predict: --out {out} is the --kaggle input; write the submission to another file")
    images = load_kaggle_test(test_csv)
    labels = predict_proba(load_model(model_path, "predict"), images).argmax(1)
    submission = pd.DataFrame({"ImageId": range(1, len(labels) + 1), "Label": labels})
    write_atomically(out, lambda tmp: submission.to_csv(tmp, index=False), "predict")
    click.echo(f"wrote {len(labels)} predictions to {out}")

