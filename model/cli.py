"""``hardmine train``, ``hardmine evaluate``, ``hardmine predict``.

    hardmine train --mnist mnist.npz --preset seed --epochs 10 --no-augment --out seed.keras --json
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
from miner.options import options
from miner.progress import progress_bar
from miner.generator import EVAL_PER_CELL
from model.settings import MAX_PER_CELL, TrainConfig
MNIST_HELP = "MNIST: Keras .npz, IDX directory/files or Kaggle train.csv [default: $HARDMINE_MNIST, else Keras' download]"


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.option("--mnist", "mnist", default=None, type=click.Path(), help=MNIST_HELP)
@click.option("--bank", default=None, type=click.Path(), help="hard-case bank (HDF5) to mix in [default: none, MNIST only]")
@options(TrainConfig)
@click.option("--init-model", "init_model", default=None, type=click.Path(),
              help="continue from this saved .keras model [default: a fresh CNN]")
@click.option("--out", default="model.keras", show_default=True, type=click.Path(), help="where to save the best-on-validation model (.keras)")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="print the result (paths, history, best epoch, seconds, settings) as one JSON object")
def train(mnist, bank, init_model, out, as_json, **values) -> None:
    """Train a CNN preset on MNIST (optionally mixed with a hard-case bank).

    Keeps the epoch with the best validation accuracy at --out and writes the
    history next to it (<stem>.history.json). One progress line per epoch goes
    to stderr, and on a terminal a progress bar of the epoch's steps.
    """
    cfg = TrainConfig(**values)  # everything checked before MNIST is read or a step is trained
    from model.cnn import check_model_file
    from model.data import load_mnist
    from model.train import train as run_training

    check_output(out, "train", (".keras",), make_parents=True)
    if init_model is not None:
        check_model_file(init_model, "train: --init-model")
    if bank is not None:
        from store import check_bank
        require(os.path.exists(bank), f"train: --bank {bank} does not exist; check the path or drop --bank")
        check_bank(bank)
    data = load_mnist(mnist)
    import sys
    from model.train import EpochBar
    bar = (EpochBar(),) if sys.stderr.isatty() else ()  # per-step callbacks cost a little: only for a person
    result = run_training(cfg, data, out, bank_path=bank, init_model=init_model, log=_echo_err, callbacks=bar)
    if as_json:
        click.echo(json.dumps(result))
        return
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
@click.option("--eval-per-cell", default=EVAL_PER_CELL, show_default=True, type=click.IntRange(1, MAX_PER_CELL),
              help="synthetic digits per (digit, jitter) cell of the fixed evaluation set")
@click.option("--robustness/--no-robustness", default=True, show_default=True,
              help="also score the real-digit robustness suite (MNIST test digits thickened, thinned, "
                   "scanned at low resolution, blurred, slanted, rotated, rescaled, moved, distorted)")
@click.option("--robust-per-variant", default=None, type=click.IntRange(min=1),
              help="digits of the test split per robustness variant [default: all]")
@click.option("--plots", "plots_dir", default=None, type=click.Path(file_okay=False),
              help="write confusion/curves/jitter PNGs here [default: next to the model]")
@click.option("--no-plots", is_flag=True, default=False, help="write no PNGs")
def evaluate(model_path, mnist, as_json, synthetic, eval_per_cell, robustness, robust_per_variant, plots_dir,
             no_plots) -> None:
    """Score MODEL.keras: MNIST accuracy, per class, confusion; accuracy per jitter;
    the real-digit robustness suite per variant and class (test split).

    Writes PNG plots of the confusion matrix, the accuracy per jitter, the
    robustness suite and (when <stem>.history.json from training is next to
    the model) the learning curves.
    """
    from model.cnn import check_model_file, load_model
    from model.data import load_mnist
    from model.evaluate import evaluate as score

    check_model_file(model_path, "evaluate")
    stem = Path(model_path).stem
    folder = Path(plots_dir) if plots_dir else Path(model_path).parent
    if not no_plots:  # the plots are written last: their folder is checked first
        check_output(folder / f"{stem}.confusion.png", "evaluate", make_parents=True)
    steps = 3 + synthetic + robustness + (not no_plots)  # the bar moves a step at a time: what it is doing
    with progress_bar(steps, "evaluating") as advance:
        advance(0, "reading MNIST")
        data = load_mnist(mnist)
        eval_set = None
        if synthetic:
            import miner

            advance(1, "drawing the synthetic set")
            eval_set = miner.eval_set(per_cell=eval_per_cell)
        suite = None
        if robustness:
            from model import robustness as rob
            split = "test" if len(data.y_test) else "val"  # Kaggle's train.csv has no labelled test split
            advance(1, "building the robustness suite")
            suite = rob.for_split(data, split, robust_per_variant)
        advance(1, "loading the model")
        model = load_model(model_path, "evaluate")
        advance(1, "scoring")
        scores = score(model, data, synthetic=eval_set, suite=suite)
        if not no_plots:
            advance(1, "plotting")
            from model.plots import score_pngs
            from model.train import history_path
            scores["plots"] = score_pngs(scores, history_path(model_path), lambda name: folder / f"{stem}.{name}.png")
        advance(1, "done")
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

