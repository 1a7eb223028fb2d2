"""The flow's parameters: typed defaults, range checks, and the checks that
need the file system (MNIST path, bank file) -- all before any training.

    python -c "from flows.settings import FlowSettings; print(FlowSettings())"

``FlowSettings`` is the single source of the flow's defaults: the flow's
signature, ``hardmine run``'s options and ``hardmine serve``'s deployment
parameters are all built from its fields (the ``help`` metadata is the
option's ``--help`` text). The defaults make a useful run on a 2-core CPU in
well under an hour (measured figures in ``docs/flows.md``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from miner.select import STRATEGIES
from miner.config import HardmineError, checked_replace, require

WHERE = "mine-and-retrain"

# The notebook's jitter radii (pixels of pen-stroke jitter).
NOTEBOOK_JITTER = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
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


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class FlowSettings:
    """Every parameter of the ``mine-and-retrain`` flow."""

    rounds: int = _opt(3, "retraining rounds after round 0 (MNIST only); rounds=2 makes rounds 0, 1, 2")
    epochs_per_round: int = _opt(2, "training epochs per round (>= 1)")
    synthetic_per_round: int = _opt(
        20_000, "synthetic digits generated per round, split over (digit, jitter) cells")
    jitter: tuple[float, ...] = _opt(
        NOTEBOOK_JITTER, "jitter radii in pixels, comma-separated (each in [0, 8])")
    # 0.05: the share that met issue 6's bar (docs/results.md); 0.25 mines more but costs ~0.5
    # points of MNIST test accuracy
    mix_fraction: float = _opt(
        0.05, "fraction of each training batch drawn from the bank, in [0, 1); 0 = MNIST only")
    balance: bool = _opt(
        False, "draw the bank's share of each batch evenly over the true classes (true|false)")
    round_lr: float | None = _opt(
        None, "initial learning rate of the retraining rounds (k >= 1), in (0, 1]; default: the "
        "preset's. Lower keeps more of what the model knew")
    pen_scan: bool = _opt(
        False, "vary pen width and scan resolution of every training image, MNIST and bank alike, so "
        "neither stands for a class (model.pipeline.PenScan) (true|false)")
    realistic: bool = _opt(
        False, "mine MNIST-like synthetic digits: slant, pen pressure, 20x20 fit and centring, grain "
        "(miner realistic rendering) (true|false)")
    preset: str = _opt("seed", "CNN preset of model.cnn (seed|strong)")
    strategy: str = _opt(
        "misclassified", f"which synthetic digits to store ({'|'.join(STRATEGIES)})")
    mine_cap: int = _opt(
        4_000, "most cases stored in the bank per round, the same for every strategy")
    max_candidates: int | None = _opt(
        None, "most synthetic digits drawn and scored per round: a round draws them in blocks until "
        "mine_cap cases are eligible or this many are drawn; default synthetic_per_round")
    margin: float = _opt(
        0.5, "strategy=margin: store cases whose true-class probability is below this, in (0, 1]")
    budget_floor: float = _opt(
        0.2, "share of the budget split evenly over cells so none starves, in [0, 1]")
    promote_tolerance: float = _opt(
        0.002, "promotion guard: a round becomes current only if its MNIST val accuracy is not "
        "lower than the current model's by more than this")
    promote_suite_tolerance: float = _opt(
        0.005, "promotion guard: ... nor its real-digit robustness suite mean (val split) by more than this")
    promote_class_tolerance: float = _opt(
        0.01, "promotion guard: ... nor any class of the robustness suite (val split) by more than this")
    # 3,000 of the 6,000 validation digits: 39,000 predictions a round (about 10 s on 2 idle
    # cores), ~3,900 digits per class pooled over variants for the per-class check
    robust_per_variant: int | None = _opt(
        3000, "validation digits per robustness-suite variant scored each round (the promotion "
        "guard's evidence); empty = all")
    label_guard: bool = _opt(
        True, "quarantine mined digits that the independent reader does not read as their label "
        "(status=ambiguous in the bank: kept, never trained on unless reviewed) (true|false)")
    reader_model: str | None = _opt(
        None, "the label guard's reader (.keras); trained on MNIST at the first round if missing; "
        "default reader.keras next to the bank, so runs that share a bank (the nightly "
        "deployment) share one reader")
    reader_threshold: float = _opt(
        0.5, "label guard: a mined digit is ambiguous when the reader gives its label less than this "
        "probability, in (0, 1]")
    eval_per_cell: int = _opt(
        50, "digits per (digit, jitter) cell of the fixed synthetic evaluation set")
    seed: int = _opt(0, "seed of training and mining, in [0, 2**40)")
    run_dir: str = _opt("runs/default", "run directory: metrics.csv, models/, plots; rerun to resume")
    bank_path: str | None = _opt(
        None, "hard-case bank (HDF5); default RUN_DIR/bank.h5, or for a RUN_DIR with a {date} part "
        "bank.h5 in the folder above it, shared by the dated runs", option="--bank")
    mnist_path: str | None = _opt(
        None, "MNIST .npz; default $HARDMINE_MNIST, else the Keras cache/download", option="--mnist")
    mnist_limit: int | None = _opt(
        None, "use only the first N images of each MNIST split: train, val, test (smoke tests)")
    init_model: str | None = _opt(
        None, "start from this saved .keras model: round 0 mines and evaluates it instead of "
        "training a fresh CNN (bring your own model; bench/experiment.py shares round 0 this way)")
    dask_address: str = _opt(
        "", "score each round's candidates on a Dask cluster: a scheduler address (tcp://host:8786) or "
        "local:N for N worker processes on this machine; empty = in this process")

    def __post_init__(self) -> None:
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if value is None:
                continue
            require(low <= value <= high,
                    f"{WHERE}: {name}={value} is out of range; use a value in [{low}, {high}]")
        require(0 <= self.mix_fraction < 1,
                f"{WHERE}: mix_fraction={self.mix_fraction} must be in [0, 1); "
                "use 0 for MNIST only")
        require(0 < self.margin <= 1, f"{WHERE}: margin={self.margin} must be in (0, 1]")
        require(0 < self.reader_threshold <= 1,
                f"{WHERE}: reader_threshold={self.reader_threshold} must be in (0, 1]")
        require(len(self.jitter) > 0 and all(0 <= j <= 8 for j in self.jitter)
                and len(set(self.jitter)) == len(self.jitter),
                f"{WHERE}: jitter={list(self.jitter)} must be distinct radii in [0, 8], "
                "e.g. 0,0.5,1,2,3,4,5")
        require(self.strategy in STRATEGIES,
                f"{WHERE}: unknown strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}")
        require(bool(self.run_dir), f"{WHERE}: run_dir is empty; give a directory")

    # Paths the flow derives from the settings.
    @property
    def bank(self) -> Path:
        return Path(self.bank_path) if self.bank_path else default_bank(self.run_dir)

    @property
    def reader(self) -> Path:
        return Path(self.reader_model) if self.reader_model else self.bank.parent / "reader.keras"

    @property
    def tolerances(self):
        from model.guard import Tolerances
        return Tolerances(val=self.promote_tolerance, suite_mean=self.promote_suite_tolerance,
                          suite_class=self.promote_class_tolerance)

    def as_params(self) -> dict[str, Any]:
        """Flow parameters as JSON-friendly values (lists, not tuples)."""
        out = dataclasses.asdict(self)
        out["jitter"] = list(self.jitter)
        return out


# name, low, high (inclusive) for the numeric fields with plain bounds.
_RANGES: tuple[tuple[str, float, float], ...] = (
    ("rounds", 0, MAX_ROUNDS),
    ("epochs_per_round", 1, 1000),
    ("synthetic_per_round", 1, 10_000_000),
    ("mine_cap", 1, 10_000_000),
    ("max_candidates", 1, 1_000_000_000),
    ("budget_floor", 0.0, 1.0),
    ("promote_tolerance", 0.0, 1.0),
    ("promote_suite_tolerance", 0.0, 1.0),
    ("promote_class_tolerance", 0.0, 1.0),
    ("robust_per_variant", 1, 10_000_000),
    ("eval_per_cell", 1, 10_000),
    ("seed", 0, MAX_SEED - 1),
    ("mnist_limit", 1, 10_000_000),
    ("round_lr", 1e-12, 1.0),
)

DEFAULTS = FlowSettings()


def make_settings(overrides: Mapping[str, Any]) -> FlowSettings:
    """Defaults with ``overrides`` applied by name: unknown names, wrong types
    and out-of-range values raise :class:`HardmineError` (one line, starting
    with the flow's name whichever entry point was used)."""
    return checked_replace(DEFAULTS, overrides, WHERE)


def check_inputs(settings: FlowSettings) -> None:
    """The checks that read the disk or the model registry; run before round 0.

    An unreadable MNIST path, a bank file that is not a bank, an unknown preset
    or a run directory that cannot be created stop the run with one line.
    """
    from model.cnn import PRESETS  # imports Keras: only here, not at import time
    require(settings.preset in PRESETS,
            f"{WHERE}: unknown preset {settings.preset!r}; use one of {', '.join(PRESETS)}")
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
