"""The ``mine-and-retrain`` Prefect flow: the service, round after round.

    python -m flows.mine_and_retrain --rounds 2 --run-dir runs/demo   # same as `hardmine run`

Round 0 trains a fresh CNN on MNIST only; ``rounds`` counts the retraining
rounds after it (``rounds=2`` makes rounds 0, 1 and 2). Every round:

1. train   -- round k >= 1 continues from ``models/current.keras`` on MNIST
              mixed on the fly with the bank (``mix_fraction`` of each batch);
2. mine    -- with the round's plan (``synthetic_per_round`` digits split over
              (digit, jitter) cells by the previous round's errors): draw
              candidates in blocks and score them with the round's model until
              ``mine_cap`` are eligible or ``max_candidates`` are drawn, select
              by ``strategy`` (at most ``mine_cap``; invalid digits never), mark
              those the independent reader does not read as their label
              ``ambiguous`` (``label_guard``); out comes the next round's plan;
3. store   -- append the selection to the bank under ``key=round-<k>``
              (ambiguous cases are kept but never trained on);
4. evaluate -- MNIST val/test accuracy, accuracy per jitter on the fixed
              synthetic evaluation set, the real-digit robustness suite
              (validation split);
5. promote -- the promotion guard: MNIST val, the suite's mean and each of
              its classes, each within its tolerance of the current model;
6. report  -- artifacts, then the ``metrics.csv`` row that marks the round done.

With ``dask_address`` (``local:N`` or a scheduler's ``tcp://host:port``), step 2
scores its candidates on Dask workers (``flows.cluster``); the selected cases,
and so the bank, are the same as in this process.

Rerunning on the same ``run_dir`` resumes after the last completed round
(``{date}`` in ``run_dir`` is the run's scheduled date: one directory a night).
Parameters are checked (ranges, preset, strategy, MNIST path, bank file)
before round 0 starts; a bad one fails the run with one line.
"""

from __future__ import annotations

import sys

from prefect import flow, get_run_logger, runtime

from flows import cluster, report
from flows.rundir import RunDir, expand_run_dir
from flows.preflight import preflight
from flows.settings import DEFAULTS, default_bank, flow_parameters, make_settings
from flows.tasks import (Evaluated, Promoted, Staged, Stored, Trained, evaluate_round, mine_round, plan_round,
                         promote_round, reader_task, report_round, store_round, train_round)

FLOW_NAME = "mine-and-retrain"


@flow(name=FLOW_NAME, flow_run_name="mine-and-retrain-{rounds}-rounds-{strategy}", log_prints=True)
@flow_parameters  # the parameters, their types, ranges, defaults and descriptions: FlowSettings' fields
def mine_and_retrain(**params) -> str:
    """Mine the synthetic digits the CNN gets wrong and retrain on them; returns
    the path of ``metrics.csv``."""
    run_dir = params.get("run_dir", DEFAULTS.run_dir)
    # the bank from run_dir before {date} is filled in
    params["bank_path"] = params.get("bank_path") or str(default_bank(run_dir))
    params["run_dir"] = expand_run_dir(run_dir, runtime.flow_run.scheduled_start_time)
    s = make_settings(params)
    preflight(s)
    log = get_run_logger()
    rd = RunDir(s.run_dir).make()
    first = rd.next_round()
    total = s.rounds + 1
    if first > 0:
        restored = rd.restore_current()
        log.info("resuming %s after round %d (current model: round %s)", rd.root, first - 1, restored)
    if first >= total:
        log.info("%s already has rounds 0..%d; nothing to do", rd.root, first - 1)
        return str(rd.metrics)
    progress = report.start_progress(first, total)
    reader = reader_task(s) if s.label_guard else None
    plan = plan_round(s, first)  # recorded by the round before (a resumed run), else an even split
    with cluster.connect(s.dask_address) as workers:  # None: candidates are scored in this process
        for k in range(first, total):
            trained = train_round(s, k)
            staged = mine_round(s, k, trained.model, plan, reader, workers)
            stored = store_round(s, k, staged.path)
            evaluated = evaluate_round(s, k, trained.model)
            promoted = promote_round(s, k, trained.model, evaluated.metrics)
            report_round(s, k, round_row(k, trained, staged, stored, evaluated, promoted), staged.by_cell)
            report.update_progress(progress, k + 1, total)
            log.info("round %d done: val_acc %.4f, suite %.4f, mined %d (%d ambiguous), bank %d, %s",
                     k, evaluated.metrics["val_acc"], evaluated.metrics["rob_val_mean"], stored.count,
                     staged.ambiguous, stored.bank_size, promoted.reason)
            plan = staged.next_plan  # round k's errors split round k + 1's budget
    return str(rd.metrics)


# Stages timed in metrics.csv (seconds_<stage>), in the order round_row takes their results.
STAGES = ("train", "mine", "store", "evaluate", "promote")


def round_row(k: int, trained: Trained, staged: Staged, stored: Stored, evaluated: Evaluated,
              promoted: Promoted) -> dict:
    """One metrics.csv row from the stages' results."""
    seconds = dict(zip(STAGES, (trained, staged, stored, evaluated, promoted)))
    return {
        "round": k, **evaluated.metrics,
        "generated": staged.generated, "invalid": staged.invalid,
        "wrong": staged.wrong, "mined": stored.count, "ambiguous": staged.ambiguous,
        "bank_size": stored.bank_size, "promoted": bool(promoted.promoted),
        "current_round": promoted.current_round, "promote_reason": promoted.reason,
        "scored": staged.generated - staged.invalid, "miss_rate": round(staged.miss_rate, 4),
        "candidates_per_mined": round(staged.per_case, 1), "candidates_per_s": round(staged.per_second, 1),
        **{f"seconds_{name}": round(result.seconds, 2) for name, result in seconds.items()},
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m flows.mine_and_retrain [options]``: ``hardmine run`` by another name."""
    from flows.cli import cli
    cli.main(args=["run", *(sys.argv[1:] if argv is None else argv)],
             prog_name="python -m flows.mine_and_retrain")


if __name__ == "__main__":
    main()
