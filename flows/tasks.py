"""The stages of one round, one Prefect ``@task`` each: train, mine (generate,
predict, select), store, evaluate, promote, report.

    python -m flows.mine_and_retrain --help      # the flow that calls them

Tasks take the flow's :class:`~flows.settings.FlowSettings` and the round
number ``k`` and return paths and small metrics dicts, never models or arrays:
everything heavy goes through files in the run directory (``flows.rundir``),
which is also what makes a killed run resumable. Every task reports its own
wall time as ``seconds``. ``store`` and ``report`` retry: the bank's writer lock
and the Prefect API are the stages where a failure can be transient; a user's
error (a path that is not a bank, an unwritable folder) is not retried.

Logs of our packages (``hardmine.*``: the model's one line per epoch, ...) and
Keras' own messages (absl) reach the task run's logs through Prefect's
``PREFECT_LOGGING_EXTRA_LOGGERS`` (set by importing ``flows``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from flows import budget, report
from flows.preflight import retry_unless_user_error
from flows.rundir import RunDir, promote_copy
from flows.select import select
from flows.settings import FlowSettings

# mining seed of round k: distinct per (seed, round), far below miner's reserved range
SEED_STRIDE = 2**16


def mining_seed(seed: int, k: int) -> int:
    return seed * SEED_STRIDE + k


def training_seed(seed: int, k: int) -> int:
    """Round k's training seed: a 32-bit draw of SeedSequence([seed, k]) (Keras takes seeds
    below 2**32; ``seed * 1000 + k`` overflowed from seed 4,294,968 on)."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def _mnist(s: FlowSettings):
    """MNIST as the flow uses it: ``mnist_limit`` keeps the first N images of
    each split (train, validation, test), for smoke tests."""
    import dataclasses
    from model.data import load_mnist
    data = load_mnist(s.mnist_path)
    if s.mnist_limit is None:
        return data
    cut = {name: getattr(data, name)[:s.mnist_limit]
           for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    return dataclasses.replace(data, **cut)


def _load(path: str):
    import keras
    return keras.models.load_model(path)


@task(task_run_name="train-round-{k}", cache_policy=NONE)
def train_round(s: FlowSettings, k: int) -> dict[str, Any]:
    """Round 0: a fresh ``preset`` CNN on MNIST (or a copy of ``init_model``). Round k >= 1: continue from
    ``models/current.keras`` on MNIST mixed with the bank."""
    from model.train import TrainConfig, train
    rd = RunDir(s.run_dir)
    start = time.perf_counter()
    if k == 0 and s.init_model is not None:  # bring-your-own round-0 model: no training
        promote_copy(Path(s.init_model), rd.model(0))
        from model.train import history_path
        if history_path(s.init_model).exists():  # its learning curves, for the round-0 plot
            promote_copy(history_path(s.init_model), history_path(rd.model(0)))
        get_run_logger().info("round 0 starts from %s (not trained here)", s.init_model)
        return {"model": str(rd.model(0)), "train_acc": float("nan"), "bank_mix": 0.0,
                "seconds": time.perf_counter() - start}
    cfg = TrainConfig(
        epochs=s.epochs_per_round, preset=s.preset, seed=training_seed(s.seed, k),
        mix_fraction=s.mix_fraction if k >= 1 else 0.0, balance=s.balance,
        pen_scan=s.pen_scan,
        lr=s.round_lr if k >= 1 else None,
    )
    init = str(rd.current) if k >= 1 else None
    result = train(cfg, _mnist(s), str(rd.model(k)), bank_path=str(s.bank) if k >= 1 else None,
                   init_model=init)  # logs to hardmine.model; an empty or missing bank trains on MNIST only
    return {"model": str(rd.model(k)), "train_acc": result["train_acc"],
            "bank_mix": result["bank_mix"], "seconds": time.perf_counter() - start}


@task(task_run_name="reader", cache_policy=NONE)
def reader_task(s: FlowSettings) -> str:
    """The label guard's reader: ``reader_model`` if it exists, else one trained
    there now on MNIST alone (it never sees the bank)."""
    from model.reader import train_reader
    if s.reader.exists():
        get_run_logger().info("label guard: reader %s", s.reader)
        return str(s.reader)
    train_reader(_mnist(s), s.reader, log=get_run_logger().info)
    return str(s.reader)


@task(task_run_name="mine-round-{k}", cache_policy=NONE)
def mine_round(s: FlowSettings, k: int, model_path: str, reader_path: str | None) -> dict[str, Any]:
    """Generate the round's budget of synthetic digits, predict them with the
    round's model, drop invalid ones, select by strategy, ask the reader (if
    any) which selected digits still read as their label, stage them in
    ``mined/round-<k>.npz``; record the next round's budget split."""
    import miner
    from model.evaluate import predict_proba
    from model.reader import ambiguous
    rd = RunDir(s.run_dir)
    start = time.perf_counter()
    log = get_run_logger()
    counts = budget.read_budget(rd.budget(k)) if rd.budget(k).exists() else None
    if counts is None or counts.shape[1] != len(s.jitter) or counts.sum() != s.synthetic_per_round:
        if counts is not None:  # a resumed run with another jitter list or budget
            log.warning("round %d: recorded split does not fit the parameters; splitting evenly", k)
        counts = budget.uniform_budget(len(s.jitter), s.synthetic_per_round)  # round 0: nothing known
        budget.write_budget(rd.budget(k), budget.budget_table(counts, s.jitter))
    labels, radii, jitter_index = budget.expand(counts, s.jitter)
    seed = mining_seed(s.seed, k)
    images, records = miner.generate(labels, radii, seed,  # (N, 28, 28) uint8
                                     config=miner.GeneratorConfig(realistic=s.realistic))
    probs = predict_proba(_load(model_path), images)  # (N, 10) float32
    pred = probs.argmax(axis=1).astype(np.uint8)
    valid = miner.is_valid(records)
    chosen = select(s.strategy, probs, labels, valid, s.mine_cap, s.margin, seed=seed)
    # (n, 10) the reader's probabilities for the selected digits; no guard = certain of the label
    reader_probs = np.eye(10, dtype=np.float32)[labels[chosen]]
    if reader_path is not None:
        reader_probs = predict_proba(_load(reader_path), images[chosen])
    quarantined = ambiguous(reader_probs, labels[chosen], s.reader_threshold)
    reader_p = reader_probs[np.arange(len(chosen)), labels[chosen]]
    _stage(rd.mined(k), images[chosen], labels[chosen], pred[chosen], probs[chosen],
           records[chosen], reader_p, quarantined)

    wrong = pred != labels
    errors, generated = budget.cell_errors(labels[valid], jitter_index[valid], wrong[valid],
                                           len(s.jitter))
    nxt = budget.split_budget(budget.error_rate(errors, generated),
                              s.synthetic_per_round, s.budget_floor)
    budget.write_budget(rd.budget(k + 1), budget.budget_table(nxt, s.jitter, errors, generated))
    mined_cells = budget.cell_counts(labels[chosen], jitter_index[chosen], len(s.jitter))
    log.info("round %d: generated %d, invalid %d, wrong %d, selected %d (%s, cap %d), "
             "ambiguous to the reader %d", k, len(labels), int((~valid).sum()),
             int(wrong[valid].sum()), len(chosen), s.strategy, s.mine_cap, int(quarantined.sum()))
    return {"mined": str(rd.mined(k)), "generated": len(labels), "invalid": int((~valid).sum()),
            "wrong": int(wrong[valid].sum()), "selected": len(chosen),
            "ambiguous": int(quarantined.sum()),
            "mined_by_cell": mined_cells.tolist(), "seconds": time.perf_counter() - start}


def _stage(path, images, labels, pred, probs, records, reader_p, ambiguous) -> None:
    """Write the selected digits atomically (a kill never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, images=images, labels=labels, pred=pred, probs=probs, records=records,
                 reader_p=reader_p, ambiguous=ambiguous)
    tmp.replace(path)


@task(task_run_name="store-round-{k}", cache_policy=NONE, retries=3, retry_delay_seconds=2,
      retry_condition_fn=retry_unless_user_error)
def store_round(s: FlowSettings, k: int, mined_path: str) -> dict[str, Any]:
    """Append the staged digits to the bank under ``key=<run id>/round-<k>`` (a
    rerun of the round is a no-op, so resumed runs never duplicate cases)."""
    from store import Bank
    key = RunDir(s.run_dir).bank_key(k)
    start = time.perf_counter()
    log = get_run_logger()
    with np.load(mined_path) as f:
        with Bank.open(s.bank, mode="a") as bank:
            status = np.where(f["ambiguous"], "ambiguous", "ok")
            ids = bank.append(f["images"], f["labels"], f["pred"], f["probs"],
                              params=f["records"], round=k, model_id=f"round-{k}",
                              source="synthetic", key=key, status=status)
            size = len(bank)
        log.info("round %d: bank %s holds %d cases (%d from this round)", k, s.bank, size, len(ids))
    return {"stored": len(ids), "bank_size": size, "seconds": time.perf_counter() - start}


@task(task_run_name="evaluate-round-{k}", cache_policy=NONE)
def evaluate_round(s: FlowSettings, k: int, model_path: str) -> dict[str, Any]:
    """MNIST validation/test accuracy, accuracy per jitter on the fixed synthetic
    evaluation set (``acc_j<radius>``) and the real-digit robustness suite on the
    validation split (``rob_val_mean``, ``rob_val_<variant>``, ``rob_val_c<digit>``);
    the model package's PNG plots go to
    ``plots/round-<k>-{confusion,curves,jitter,robustness}.png``."""
    import json
    import miner
    from model import plots, robustness
    from model.evaluate import evaluate
    from model.train import history_path
    rd = RunDir(s.run_dir)
    start = time.perf_counter()
    log = get_run_logger()
    data = _mnist(s)
    synthetic = miner.eval_set(per_cell=s.eval_per_cell, jitters=tuple(s.jitter))
    suite = robustness.for_split(data, "val", s.robust_per_variant)
    scores = evaluate(_load(model_path), data, synthetic=synthetic, suite=suite)
    pictures = [("confusion", plots.confusion_png, scores["confusion"]),
                ("jitter", plots.jitter_png, scores["jitter_acc"]),
                ("robustness", plots.robustness_png, scores["robustness"])]
    if history_path(model_path).exists():  # an init_model from elsewhere may have none
        history = json.loads(history_path(model_path).read_text())["history"]
        pictures.append(("curves", plots.curves_png, history))
    for name, draw, what in pictures:
        draw(what, rd.plots / f"round-{k}-{name}.png")
    metrics = {name: scores[name] for name in ("val_acc", "mnist_test_acc", "synth_acc")}
    metrics.update({f"acc_j{radius}": acc for radius, acc in scores["jitter_acc"].items()})
    metrics.update(robustness.summary_columns(scores["robustness"], "rob_val"))
    log.info("round %d: %s", k, ", ".join(f"{n} {v:.4f}" for n, v in metrics.items() if v is not None))
    return {**metrics, "seconds": time.perf_counter() - start}


@task(task_run_name="promote-round-{k}", cache_policy=NONE)
def promote_round(s: FlowSettings, k: int, model_path: str, scores: dict[str, Any]) -> dict[str, Any]:
    """The promotion guard (:mod:`model.guard`): the round's model becomes
    ``models/current.keras`` unless it loses more than a tolerance against the
    current one on MNIST validation, on the robustness suite's mean or on any
    class of the suite. Every round's model stays in ``models/`` either way."""
    from model.guard import verdict
    rd = RunDir(s.run_dir)
    start = time.perf_counter()
    log = get_run_logger()
    current_round, current = rd.current_row()
    promoted, reason = verdict(scores, current, s.tolerances)
    log.info("round %d against current %s: %s", k,
             "none" if current_round is None else f"round {current_round}", reason)
    if promoted:
        promote_copy(rd.model(k), rd.current)
        current_round = k
    return {"promoted": promoted, "current_round": current_round, "promote_reason": reason,
            "seconds": time.perf_counter() - start}


@task(task_run_name="report-round-{k}", cache_policy=NONE, retries=2, retry_delay_seconds=5)
def report_round(s: FlowSettings, k: int, row: dict[str, Any],
                 mined_by_cell: list[list[int]]) -> str:
    """Publish the round's artifacts, then write its metrics row: the row is the
    mark that the round is complete, so it is written last."""
    import pandas as pd
    rd = RunDir(s.run_dir)
    rows = pd.concat([rd.rows(), pd.DataFrame([row])], ignore_index=True)
    report.publish_round(row, report.mined_frame(np.asarray(mined_by_cell), s.jitter), rows)
    report.rounds_png(rows, rd.plots / "rounds.png")
    return str(rd.append_row(row))
