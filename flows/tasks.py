"""The stages of one round, one Prefect ``@task`` each: train, plan, mine,
store, evaluate, promote, report -- each a thin wrapper of a library call.

    python -m flows.mine_and_retrain --help      # the flow that calls them

Tasks take the flow's :class:`~flows.settings.FlowSettings` and the round
number ``k`` and return small typed results (paths, counts, the plan), never
models or image arrays: everything heavy goes through files in the run
directory (``flows.rundir``), which is also what makes a killed run
resumable. MNIST, the evaluation set and each round's model are loaded once
per process and shared by the stages that use them (``_mnist``, ``_eval_set``,
``_model``). Every task reports its own wall time as ``seconds``. ``store`` and
``report`` retry: the bank's writer lock and the Prefect API are the stages
where a failure can be transient; a user's error (a path that is not a bank,
an unwritable folder) is not retried.

Logs of our packages (``hardmine.*``: the model's one line per epoch, ...) and
Keras' own messages (absl) reach the task run's logs through Prefect's
``PREFECT_LOGGING_EXTRA_LOGGERS`` (set by importing ``flows``).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from flows import report
from flows.cluster import Cluster
from flows.preflight import retry_unless_user_error
from flows.rundir import RunDir, promote_copy
from flows.settings import FlowSettings
from miner.budget import Plan
from miner.mining import Cases, MiningResult, Progress
from miner.seeds import training_seed

PROGRESS_SECONDS = 5.0  # a mining round logs where it stands at most this often


@dataclass(frozen=True)
class Trained:
    model: str  # models/round-<k>.keras
    train_acc: float
    bank_mix: float
    seconds: float


@dataclass(frozen=True, eq=False)
class Staged:
    """A mined round: its cases staged in ``path``, how they were found, the next plan."""

    path: str  # cases/round-<k>.npz
    generated: int
    invalid: int
    wrong: int
    selected: int
    ambiguous: int
    miss_rate: float
    per_case: float  # candidates drawn per selected case
    per_second: float  # candidates drawn per second
    by_cell: np.ndarray  # (10, n_jitters) selected cases per cell
    next_plan: Plan
    seconds: float


@dataclass(frozen=True)
class Stored:
    count: int  # cases of this round in the bank (metrics.csv: mined)
    bank_size: int
    seconds: float


@dataclass(frozen=True)
class Evaluated:
    metrics: dict[str, Any]  # val_acc, mnist_test_acc, synth_acc, acc_j<r>, rob_val_*
    seconds: float


@dataclass(frozen=True)
class Promoted:
    promoted: bool
    current_round: int | None
    reason: str
    seconds: float


@functools.lru_cache(maxsize=1)
def _mnist_once(path: str | None, limit: int | None, env: str | None):
    import dataclasses
    from model.data import load_mnist
    data = load_mnist(path)
    if limit is None:
        return data
    cut = {name: getattr(data, name)[:limit]
           for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    return dataclasses.replace(data, **cut)


def _mnist(s: FlowSettings):
    """MNIST as the flow uses it, read and split once per process: ``mnist_limit`` keeps
    the first N images of each split (train, validation, test), for smoke tests."""
    return _mnist_once(s.mnist_path, s.mnist_limit, os.environ.get("HARDMINE_MNIST"))


@functools.lru_cache(maxsize=1)
def _eval_set(per_cell: int, jitter: tuple[float, ...]):
    import miner
    return miner.eval_set(per_cell=per_cell, jitters=jitter)  # (7000, 28, 28) uint8 at the defaults


def _synthetic(s: FlowSettings):
    """The fixed synthetic evaluation set at the flow's settings, made once per process."""
    return _eval_set(s.eval_per_cell, tuple(s.jitter))


def _val_suite(s: FlowSettings):
    """The real-digit suite of MNIST's validation split that every round is scored and guarded on."""
    from model import robustness
    return robustness.for_split(_mnist(s), "val", s.robust_per_variant)


@functools.lru_cache(maxsize=2)  # the reader and the round's model
def _model_once(path: str, mtime_ns: int, size: int):
    import keras
    return keras.models.load_model(path)


def _model(path: str):
    """The model at ``path``, loaded once while the file stays the same."""
    stat = os.stat(path)
    return _model_once(str(path), stat.st_mtime_ns, stat.st_size)


def _reference(s: FlowSettings, reader_path: str):
    """The label check's real-digit reference for the reader at ``reader_path``: ~20 s once per process."""
    stat = os.stat(reader_path)
    return _reference_once(str(reader_path), stat.st_mtime_ns, s.mnist_path, s.mnist_limit,
                           os.environ.get("HARDMINE_MNIST"))


@functools.lru_cache(maxsize=1)
def _reference_once(path: str, mtime_ns: int, mnist: str | None, limit: int | None, env: str | None):
    from model.labelcheck import reference
    return reference(_model(path), _mnist_once(mnist, limit, env))


def warm(s: FlowSettings) -> None:
    """Fill this process's caches with what round 0 reads: MNIST, the validation suite, the
    synthetic evaluation set and, with the label guard's reader on disk, its real-digit reference
    (a few seconds on 2 cores). ``hardmine run`` calls it in a thread while
    Prefect's embedded server boots, so the stages find them loaded."""
    _val_suite(s)  # MNIST with it
    _synthetic(s)
    if s.label_guard and s.reader.exists():
        _reference(s, str(s.reader))


@task(task_run_name="train-round-{k}", cache_policy=NONE)
def train_round(s: FlowSettings, k: int) -> Trained:
    """Round 0: a fresh ``preset`` CNN on MNIST (or a copy of ``init_model``). Round k >= 1: continue from
    ``models/current.keras`` on MNIST mixed with the bank."""
    from model.train import TrainConfig, history_path, train
    rd = RunDir(s.run_dir)
    start = time.perf_counter()
    if k == 0 and s.init_model is not None:  # bring-your-own round-0 model: no training
        promote_copy(Path(s.init_model), rd.model(0))
        if history_path(s.init_model).exists():  # its learning curves, for the round-0 plot
            promote_copy(history_path(s.init_model), history_path(rd.model(0)))
        get_run_logger().info("round 0 starts from %s (not trained here)", s.init_model)
        return Trained(str(rd.model(0)), float("nan"), 0.0, time.perf_counter() - start)
    cfg = TrainConfig(
        epochs=s.epochs_per_round, preset=s.preset, seed=training_seed(s.seed, k),
        mix_fraction=s.mix_fraction if k >= 1 else 0.0, balance=s.balance, balance_cap=s.balance_cap,
        pen_scan=s.pen_scan, precision=s.precision, lr=s.round_lr if k >= 1 else None,
    )
    result = train(cfg, _mnist(s), str(rd.model(k)), bank_path=str(s.bank) if k >= 1 else None,
                   init_model=str(rd.current) if k >= 1 else None)  # an empty or missing bank: MNIST only
    if k >= 1 and s.round_weight < 1:  # the round's model: start and fine-tune, interpolated
        _interpolate(rd.current, rd.model(k), s.round_weight)
    return Trained(str(rd.model(k)), result["train_acc"], result["bank_mix"], time.perf_counter() - start)


def _interpolate(start: Path, tuned: Path, weight: float) -> None:
    """Replace the fine-tune at ``tuned`` by ``(1 - weight) * start + weight * tuned``, atomically."""
    import keras
    from model.interpolate import interpolate
    # compile=False: the mix is saved without optimiser state, so the two optimisers need not be read
    mixed = interpolate(keras.models.load_model(start, compile=False), keras.models.load_model(tuned, compile=False),
                        weight)
    tmp = tuned.with_name(tuned.stem + ".tmp.keras")
    mixed.save(tmp)
    tmp.replace(tuned)


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


@task(task_run_name="plan-round-{k}", cache_policy=NONE)
def plan_round(s: FlowSettings, k: int) -> Plan:
    """The plan round ``k`` mines with: the one recorded in ``budget/round-<k>.csv`` by
    round k - 1 (a resumed run), else an even split (round 0), recorded there."""
    path = RunDir(s.run_dir).budget(k)
    if path.exists():
        plan = Plan.read(path)
        if plan.fits(s.jitter, s.synthetic_per_round):
            return plan
        get_run_logger().warning("round %d: recorded split does not fit the parameters; splitting evenly", k)
    plan = Plan.uniform(s.jitter, s.synthetic_per_round)
    plan.write(path)
    return plan


@task(task_run_name="mine-round-{k}", cache_policy=NONE)
def mine_round(s: FlowSettings, k: int, model_path: str, plan: Plan, reader_path: str | None,
               cluster: Cluster | None = None) -> Staged:
    """Mine round ``k`` with ``plan`` (:func:`miner.mining.mine`; its blocks scored here,
    or by ``cluster``'s workers), ask the reader (if any) which cases still read as their
    label, stage them in ``cases/round-<k>.npz`` and record the next round's plan in
    ``budget/round-<k+1>.csv``."""
    from miner.mining import mine
    from model.infer import predictor
    from model.labelcheck import check
    start = time.perf_counter()
    rd = RunDir(s.run_dir)
    log = get_run_logger()
    job = _job(s, k, plan)
    if cluster is None:
        mined = mine(job, s.budget_floor, predictor(_model(model_path)), progress=_progress(log, k, s.mine_cap))
    else:
        mined = mine(job, s.budget_floor, blocks=cluster.blocks(job, model_path),
                     progress=_progress(log, k, s.mine_cap))
    cases = mined.cases
    reader_p, ambiguous = np.ones(len(cases), np.float32), np.zeros(len(cases), bool)  # no reader: no doubt
    if reader_path is not None:
        verdict = check(_model(reader_path), _reference(s, reader_path), cases.images, cases.labels,
                        s.reader_threshold)
        reader_p, ambiguous = verdict.reader_p, verdict.ambiguous
    _stage(rd.cases(k), cases, reader_p, ambiguous)
    mined.next_plan.write(rd.budget(k + 1))
    log.info("round %d: generated %d, invalid %d, wrong %d, selected %d (%s, cap %d), ambiguous to the "
             "reader %d; %.0f candidates/s", k, mined.generated, mined.invalid, mined.wrong, len(cases),
             s.strategy, s.mine_cap, int(ambiguous.sum()), mined.per_second)
    return _staged(rd.cases(k), mined, int(ambiguous.sum()), s.jitter, time.perf_counter() - start)


def _job(s: FlowSettings, k: int, plan: Plan):
    from miner import GeneratorConfig
    from miner.mining import Job, Selection
    from miner.seeds import mining_seed
    return Job(plan, mining_seed(s.seed, k), Selection(s.strategy, s.mine_cap, s.margin),
               s.max_candidates or s.synthetic_per_round, GeneratorConfig(realistic=s.realistic))


def _progress(log, k: int, cap: int):
    """A progress callback for :func:`miner.mining.mine` that logs where the round stands
    (candidates drawn and scored, hard cases found, miss rate, candidates/s) at most every
    PROGRESS_SECONDS, so a long round shows it is moving."""
    last = [0.0]

    def report(p: Progress) -> None:
        if p.seconds - last[0] >= PROGRESS_SECONDS:
            last[0] = p.seconds
            log.info("round %d: mining, %d candidates drawn, %d scored, %d hard cases found (cap %d), "
                     "miss rate %.1f%%, %.0f candidates/s", k, p.generated, p.scored, p.eligible, cap,
                     100 * p.miss_rate, p.per_second)
    return report


def _staged(path: Path, mined: MiningResult, ambiguous: int, jitter: tuple[float, ...],
            seconds: float) -> Staged:
    # seconds: the whole task (model load, scoring, the label guard, staging); mined.per_second
    # is the scoring loop's own rate
    return Staged(str(path), mined.generated, mined.invalid, mined.wrong, len(mined.cases), ambiguous,
                  mined.miss_rate, mined.per_case, mined.per_second, mined.cases.by_cell(jitter),
                  mined.next_plan, seconds)


def _stage(path: Path, cases: Cases, reader_p: np.ndarray, ambiguous: np.ndarray) -> None:
    """Write the selected cases atomically (a kill never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, images=cases.images, labels=cases.labels, pred=cases.pred, probs=cases.probs,
                 records=cases.records, reader_p=reader_p, ambiguous=ambiguous)
    tmp.replace(path)


@task(task_run_name="store-round-{k}", cache_policy=NONE, retries=3, retry_delay_seconds=2,
      retry_condition_fn=retry_unless_user_error)
def store_round(s: FlowSettings, k: int, cases_path: str) -> Stored:
    """Append the staged cases to the bank under ``key=<run id>/round-<k>`` (a
    rerun of the round is a no-op, so resumed runs never duplicate cases)."""
    from store import Bank
    key = RunDir(s.run_dir).bank_key(k)
    start = time.perf_counter()
    with np.load(cases_path) as f, Bank.open(s.bank, mode="a") as bank:
        status = np.where(f["ambiguous"], "ambiguous", "ok")
        ids = bank.append(f["images"], f["labels"], f["pred"], f["probs"], params=f["records"], round=k,
                          model_id=f"round-{k}", source="synthetic", key=key, status=status)
        size = len(bank)
    get_run_logger().info("round %d: bank %s holds %d cases (%d from this round)", k, s.bank, size, len(ids))
    return Stored(len(ids), size, time.perf_counter() - start)


@task(task_run_name="evaluate-round-{k}", cache_policy=NONE)
def evaluate_round(s: FlowSettings, k: int, model_path: str) -> Evaluated:
    """MNIST validation/test accuracy, accuracy per jitter on the fixed synthetic
    evaluation set (``acc_j<radius>``) and the real-digit robustness suite on the
    validation split (``rob_val_mean``, ``rob_val_<variant>``, ``rob_val_c<digit>``);
    the model package's PNG plots go to
    ``plots/round-<k>-{confusion,curves,jitter,robustness}.png``."""
    from model import robustness
    from model.evaluate import evaluate
    from model.plots import score_pngs
    from model.train import history_path
    start = time.perf_counter()
    scores = evaluate(_model(model_path), _mnist(s), synthetic=_synthetic(s), suite=_val_suite(s))
    plots = RunDir(s.run_dir).plots
    score_pngs(scores, history_path(model_path), lambda name: plots / f"round-{k}-{name}.png")
    metrics = {name: scores[name] for name in ("val_acc", "mnist_test_acc", "synth_acc")}
    metrics.update({f"acc_j{radius}": acc for radius, acc in scores["jitter_acc"].items()})
    metrics.update(robustness.summary_columns(scores["robustness"], "rob_val"))
    get_run_logger().info("round %d: %s", k, ", ".join(f"{n} {v:.4f}" for n, v in metrics.items()
                                                       if v is not None))
    return Evaluated(metrics, time.perf_counter() - start)


@task(task_run_name="promote-round-{k}", cache_policy=NONE)
def promote_round(s: FlowSettings, k: int, model_path: str, scores: dict[str, Any]) -> Promoted:
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
    return Promoted(promoted, current_round, reason, time.perf_counter() - start)


@task(task_run_name="report-round-{k}", cache_policy=NONE, retries=2, retry_delay_seconds=5)
def report_round(s: FlowSettings, k: int, row: dict[str, Any], by_cell: np.ndarray) -> str:
    """Publish the round's artifacts, then write its metrics row: the row is the
    mark that the round is complete, so it is written last."""
    import pandas as pd
    rd = RunDir(s.run_dir)
    rows = pd.concat([rd.rows(), pd.DataFrame([row])], ignore_index=True)
    report.publish_round(row, report.mined_frame(np.asarray(by_cell), s.jitter), rows)
    report.rounds_png(rows, rd.plots / "rounds.png")
    return str(rd.append_row(row))
