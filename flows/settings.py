"""The flow's parameters: typed defaults, range checks, and the checks that
need the file system (MNIST path, bank file) -- all before any training.

    python -c "from flows.settings import FlowSettings; print(FlowSettings())"

``FlowSettings`` (pydantic) is the single source of the flow's parameters:
their defaults, ranges, choices and descriptions. The flow's signature (so
Prefect's parameter schema, form and validation), ``hardmine run``'s and
``hardmine serve``'s options and the deployment's parameters are all built
from its fields; the training options it shares with ``hardmine train`` come
from :mod:`model.settings`. The defaults make a useful run on a 2-core CPU in
well under an hour (measured figures in ``docs/flows.md``).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal, Mapping

from pydantic import AfterValidator, Field

from miner.select import STRATEGIES
from miner.config import HardmineError, require
from miner.generator import EVAL_JITTERS, EVAL_PER_CELL
from miner.settings import Floats, Settings
from model.settings import (EPOCH_RANGE, LR_RANGE, MAX_PER_CELL, MIX_FRACTION,
                            BALANCE, BALANCE_CAP, Balance, BalanceCap, MixFraction, PEN_SCAN, PenScanned,
                            PRECISION, Precision, PresetName, Tolerances)

WHERE = "mine-and-retrain"

MAX_JITTER = 8  # the largest radius a run mines at, in pixels (the notebook's largest is 5)
# Round k's seeds are drawn from SeedSequence([seed, k]) (miner.seeds); mining seeds stay < 2**62
# (miner refuses larger ones: they are reserved for the evaluation set).
MAX_SEED = 2**40
MAX_ROUNDS = 2**16 - 1


def default_bank(run_dir: str) -> Path:
    """The bank a run uses unless ``bank_path`` says otherwise: ``RUN_DIR/bank.h5``;
    for a run_dir with a ``{date}`` part (one directory a night), ``bank.h5`` in
    the folder above that part, so the nights grow one bank next to their directories."""
    parts = Path(run_dir).parts
    dated = next((i for i, part in enumerate(parts) if "{date}" in part), None)
    return Path(run_dir) / "bank.h5" if dated is None else Path(*parts[:dated], "bank.h5")


def _distinct_radii(jitter: tuple[float, ...]) -> tuple[float, ...]:
    if not jitter or not all(0 <= j <= MAX_JITTER for j in jitter) or len(set(jitter)) != len(jitter):
        raise ValueError(f"jitter={list(jitter)} must be distinct radii in [0, {MAX_JITTER}], "
                         "e.g. 0,0.5,1,2,3,4,5")
    return jitter


Jitter = Annotated[Floats, AfterValidator(_distinct_radii)]
UNIT = {"ge": 0, "le": 1}  # a share or a tolerance
COUNT = {"ge": 1, "le": 10_000_000}  # a number of digits: at least one, a typo above ten million


class FlowSettings(Settings):
    """Every parameter of the ``mine-and-retrain`` flow."""

    WHERE: ClassVar[str] = WHERE

    rounds: int = Field(3, ge=0, le=MAX_ROUNDS, description=(
        "retraining rounds after round 0 (MNIST only); rounds=2 makes rounds 0, 1, 2"))
    epochs_per_round: int = Field(2, **EPOCH_RANGE, description="training epochs per round")
    synthetic_per_round: int = Field(20_000, **COUNT, description=(
        "synthetic digits generated per round, split over (digit, jitter) cells"))
    jitter: Jitter = Field(EVAL_JITTERS, description=(  # the notebook's radii
        f"jitter radii in pixels, comma-separated, each in [0, {MAX_JITTER}]"))
    mix_fraction: MixFraction = MIX_FRACTION
    balance: Balance = BALANCE
    balance_cap: BalanceCap = BALANCE_CAP
    round_lr: float | None = Field(None, **LR_RANGE, description=(
        "initial learning rate of the retraining rounds (k >= 1); default: the preset's. Lower keeps more "
        "of what the model knew"))
    round_weight: float = Field(1.0, gt=0, le=1, description=(
        "weight of a retraining round's fine-tune in the round's model: (1 - w) x the model the round "
        "started from + w x the fine-tune (WiSE-FT weight interpolation, model.interpolate); 1 = the "
        "fine-tune itself"))
    pen_scan: PenScanned = PEN_SCAN
    precision: Precision = PRECISION
    realistic: bool = Field(False, description=(
        "mine MNIST-like synthetic digits: slant, pen pressure, 20x20 fit and centring, grain "
        "(miner realistic rendering)"))
    preset: PresetName = "seed"
    strategy: Literal[tuple(STRATEGIES)] = Field("misclassified", description="which synthetic digits to store")
    mine_cap: int = Field(4_000, **COUNT, description=(
        "most cases stored in the bank per round, the same for every strategy"))
    max_candidates: int | None = Field(None, ge=1, le=1_000_000_000, description=(
        "most synthetic digits drawn and scored per round: a round draws them in blocks until mine_cap "
        "cases are eligible or this many are drawn; default synthetic_per_round"))
    margin: float = Field(0.5, gt=0, le=1, description=(
        "strategy=margin: store cases whose true-class probability is below this"))
    budget_floor: float = Field(0.2, **UNIT, description=(
        "share of the budget split evenly over cells so none starves"))
    promote_tolerance: float = Field(Tolerances.val, **UNIT, description=(
        "promotion guard: a round becomes current only if its MNIST val accuracy is not lower than the "
        "current model's by more than this"))
    promote_suite_tolerance: float = Field(Tolerances.suite_mean, **UNIT, description=(
        "promotion guard: ... nor its real-digit robustness suite mean (val split) by more than this"))
    promote_class_tolerance: float = Field(Tolerances.suite_class, **UNIT, description=(
        "promotion guard: ... nor any class of the robustness suite (val split) by more than this"))
    # 3,000 of the 6,000 validation digits: 39,000 predictions a round (about 10 s on 2 idle
    # cores), ~3,900 digits per class pooled over variants for the per-class check
    robust_per_variant: int | None = Field(3000, **COUNT, description=(
        "validation digits per robustness-suite variant scored each round (the promotion guard's "
        "evidence); none = all"))
    label_guard: bool = Field(True, description=(
        "quarantine mined digits that the independent reader does not read as their label "
        "(status=ambiguous in the bank: kept, never trained on unless reviewed)"))
    reader_model: str | None = Field(None, description=(
        "the label guard's reader (.keras); trained on MNIST at the first round if missing; default "
        "reader.keras next to the bank, so runs that share a bank (the nightly deployment) share one reader"))
    reader_threshold: float = Field(0.5, gt=0, le=1, description=(
        "label guard: a mined digit is ambiguous when the reader gives its label less than this probability, "
        "or when most of its 50 nearest real MNIST digits in the reader's features carry another label "
        "(model.labelcheck)"))
    eval_per_cell: int = Field(EVAL_PER_CELL, ge=1, le=MAX_PER_CELL, description=(
        "digits per (digit, jitter) cell of the fixed synthetic evaluation set"))
    seed: int = Field(0, ge=0, lt=MAX_SEED, description="seed of training and mining")
    run_dir: str = Field("runs/default", min_length=1, description=(
        "run directory: metrics.csv, models/, plots; rerun to resume"))
    bank_path: str | None = Field(None, description=(
        "hard-case bank (HDF5); default RUN_DIR/bank.h5, or for a RUN_DIR with a {date} part bank.h5 in "
        "the folder above it, shared by the dated runs"))
    mnist_path: str | None = Field(None, description=(
        "MNIST .npz; default $HARDMINE_MNIST, else the Keras cache/download"))
    mnist_limit: int | None = Field(None, **COUNT, description=(
        "use only the first N images of each MNIST split: train, val, test (smoke tests)"))
    init_model: str | None = Field(None, description=(
        "start from this saved .keras model: round 0 mines and evaluates it instead of training a fresh CNN "
        "(bring your own model; bench/experiment.py shares round 0 this way)"))
    dask_address: str = Field("", description=(
        "score each round's candidates on a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
        "for N worker processes on this machine; empty = in this process"))

    # Paths the flow derives from the settings.
    @property
    def bank(self) -> Path:
        return Path(self.bank_path) if self.bank_path else default_bank(self.run_dir)

    @property
    def reader(self) -> Path:
        return Path(self.reader_model) if self.reader_model else self.bank.parent / "reader.keras"

    @property
    def tolerances(self):
        return Tolerances(val=self.promote_tolerance, suite_mean=self.promote_suite_tolerance,
                          suite_class=self.promote_class_tolerance)

    def as_params(self) -> dict[str, Any]:
        """Flow parameters as JSON-friendly values (lists, not tuples)."""
        return self.model_dump(mode="json")


DEFAULTS = FlowSettings()


def flow_parameters(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``fn(**params)`` FlowSettings' fields as its parameters, for Prefect to read
    before ``@flow`` wraps it: a keyword per field with its type, range and choices
    (``Annotated[type, *constraints]``) and its default, so the flow's parameter schema,
    Prefect's form and Prefect's own validation all follow the model; and the fields'
    descriptions as the docstring's ``Args:`` section, where Prefect 3.9 takes them from
    (it drops a description given inside ``Annotated``)."""
    fn.__signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)
        for name, f in FlowSettings.model_fields.items()], return_annotation=str)
    args = "".join(f"\n        {name}: {f.description}" for name, f in FlowSettings.model_fields.items())
    fn.__doc__ = f"{fn.__doc__ or ''}\n\n    Args:{args}\n"
    return fn


def make_settings(overrides: Mapping[str, Any]) -> FlowSettings:
    """Defaults with ``overrides`` applied by name: unknown names, wrong types
    and out-of-range values raise :class:`HardmineError` (one line, starting
    with the flow's name whichever entry point was used)."""
    return FlowSettings(**overrides)


def check_inputs(settings: FlowSettings) -> None:
    """The checks that read the disk or the model registry; run before round 0.

    An unreadable MNIST path or init model, a bank file that is not a bank or a
    run directory that cannot be created stop the run with one line (the model
    itself has checked types, ranges and choices such as the preset).
    """
    mnist = settings.mnist_path
    if mnist is not None:
        require(os.path.exists(mnist) and os.access(mnist, os.R_OK),
                f"{WHERE}: cannot read MNIST path {mnist!r}; give a readable mnist.npz, IDX "
                "directory or train.csv, or drop --mnist to use $HARDMINE_MNIST / the Keras cache")
    if settings.init_model is not None:
        require(settings.init_model.endswith(".keras") and os.path.isfile(settings.init_model)
                and os.access(settings.init_model, os.R_OK),
                f"{WHERE}: cannot read init_model {settings.init_model!r}; give a readable .keras "
                "file saved by `hardmine train` (or drop --init-model to train round 0)")
    if settings.reader_model is not None and settings.label_guard:
        require(settings.reader_model.endswith(".keras") and not os.path.isdir(settings.reader_model),
                f"{WHERE}: reader_model {settings.reader_model!r} must be a .keras file path (an existing "
                "reader, or where to save a new one)")
    if settings.bank.exists():
        from store import check_bank
        check_bank(settings.bank)
    try:
        Path(settings.run_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HardmineError(
            f"{WHERE}: cannot create run_dir {settings.run_dir!r} ({exc.strerror}); "
            "choose a writable directory") from None
