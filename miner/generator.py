"""Batch API of the synthetic-digit generator: generate, regenerate, eval_set, is_valid.

    python -c "from miner import generate; print(generate([7], 2.0, seed=1)[1])"

Image i of ``generate(labels, jitter, seed, start)`` is a pure function of
(seed, start + i, label, jitter, GENERATOR_VERSION): any stored record
regenerates its image bit for bit. Jitter is stored as float32 in the record,
so it is rounded to float32 before drawing. The numba kernel is imported on
first use, so importing :mod:`miner` stays cheap (and never imports TensorFlow).
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field, model_validator

from miner.config import HardmineError, require
from miner.settings import Settings
from miner.glyphs import variants as legal_variants

GENERATOR_VERSION = 1  # bump when a change alters any image drawn from the same record
RESERVED_SEEDS = 2**62  # seeds from here on are reserved (eval set); mining seeds are below
EVAL_SEED = RESERVED_SEEDS  # the fixed synthetic evaluation set
EVAL_JITTERS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)  # the notebook's jitter radii (the flow's default too)
EVAL_PER_CELL = 50  # digits per (digit, jitter) cell of the evaluation set (the CLI and flow default)
# variant bit of MNIST-style normalised images (20x20 box, centre of mass at 14, 14): kept in
# `variant` so any store that keeps the contract fields can regenerate either kind
NORMALIZED = 0x80
# variant bit of the realistic rendering (slant, pen pressure, 20x20 fit of the strokes, whole-pixel
# centring by mass, sharper pen, pixel grain; miner.kernel): version-1 records without it redraw as before
REALISTIC = 0x40
RENDER_BITS = NORMALIZED | REALISTIC  # variant bits that choose the rendering, not the glyph

RECORD_DTYPE = np.dtype([
    ("label", "u1"),  # digit 0..9
    ("jitter", "f4"),  # jitter radius, grid pixels
    ("brush", "f4"),  # pen width, grid pixels
    ("variant", "u2"),  # form index << 8 | NORMALIZED (0x80) | REALISTIC (0x40) | option bits
    ("seed", "u8"),
    ("index", "u8"),  # image index within the seed's stream
    ("version", "u2"),  # GENERATOR_VERSION that drew it
    ("ink_out", "f4"),  # fraction of the pen's ink outside the 28x28 frame (before normalising)
    ("ink", "f4"),  # ink mass in the 28x28 image: sum of pixels / 255
])


class GeneratorConfig(Settings):
    normalize: bool = Field(False, description=(
        "MNIST-style 20x20 box + centre of mass, or raw strokes (raw wins on recognition, docs/miner.md)"))
    realistic: bool = Field(False, description=(
        "MNIST-like rendering: slant, pen pressure, 20x20 fit, centring by mass (measured in bench/realism.py, "
        "docs/miner.md)"))
    # grid px; beyond half the frame nearly all ink leaves it
    max_jitter: float = Field(14.0, ge=0, le=28, description="largest jitter radius, grid pixels")
    max_ink_out: float = Field(0.02, ge=0, le=1, description="is_valid: largest fraction of ink outside the frame")
    # the faintest MNIST training digit has 19.9
    min_ink: float = Field(15.0, ge=0, description="is_valid: smallest ink mass (sum/255)")

    @model_validator(mode="after")
    def _one_rendering(self) -> "GeneratorConfig":
        if self.normalize and self.realistic:
            raise ValueError("normalize and realistic both set; the realistic rendering fits and centres the "
                             "digit itself, choose one")
        return self


def _labels(labels) -> np.ndarray:
    arr = np.asarray(labels)
    require(arr.ndim == 1, f"generate: labels must be a 1-D sequence, got shape {arr.shape}")
    if arr.size:
        floats = np.issubdtype(arr.dtype, np.floating)
        require(np.issubdtype(arr.dtype, np.integer) or (floats and bool(np.all(np.mod(arr, 1) == 0))),
                f"generate: labels must be integers 0..9, got {arr[:3].tolist()}...")
        bad = arr[(arr < 0) | (arr > 9)]
        if bad.size:
            raise HardmineError(f"generate: label {bad[0]} is outside 0..9; use digits 0..9")
    return arr.astype(np.int64)


def _jitter(jitter, n: int, cfg: GeneratorConfig) -> np.ndarray:
    try:
        arr = np.asarray(jitter, dtype=np.float64)
    except (TypeError, ValueError):
        raise HardmineError(f"generate: jitter must be a number in grid pixels, got {jitter!r}") from None
    require(arr.ndim == 0 or arr.shape == (n,), f"generate: jitter must be a number or have shape ({n},), got {arr.shape}")
    require(bool(np.all(np.isfinite(arr))), "generate: jitter must be finite; use a radius in grid pixels like 2.0")
    require(bool(np.all(arr >= 0)), f"generate: jitter must be >= 0 grid pixels, got {float(np.min(arr))}")
    require(bool(np.all(arr <= cfg.max_jitter)),
            f"generate: jitter {float(np.max(arr))} exceeds max_jitter={cfg.max_jitter} grid pixels; use a smaller radius")
    return np.broadcast_to(arr.astype(np.float32), (n,)).astype(np.float64)


def _variants(variants, labels: np.ndarray) -> np.ndarray:
    if variants is None:
        return np.full(labels.shape, -1, np.int64)
    arr = np.asarray(variants, dtype=np.int64)
    require(arr.shape == labels.shape, f"generate: variants must have shape {labels.shape}, got {arr.shape}")
    legal = np.zeros((10, 1 << 16), bool)  # (digit, code): a 640 kB lookup, vectorised check
    for d in range(10):
        legal[d, [code for code, _ in legal_variants(d)]] = True
    inside = (arr >= 0) & (arr < 1 << 16)
    ok = (arr == -1) | (inside & legal[labels, np.where(inside, arr & ~RENDER_BITS, 0)])
    if not ok.all():
        k = int(np.argmin(ok))
        raise HardmineError(f"generate: variant {arr[k]:#x} does not exist for digit {labels[k]}; "
                            "see python -m miner.glyphs")
    return arr


def _draw(labels, jitters, seeds, indices, forced, normalize: bool, realistic: bool):
    from miner import kernel  # numba: imported on first use only

    n = labels.shape[0]
    images = np.zeros((n, 28, 28), np.uint8)
    records = np.zeros(n, RECORD_DTYPE)
    brushes, variants, ink_out = np.zeros(n, np.float32), np.zeros(n, np.uint16), np.zeros(n, np.float32)
    if n:
        kernel.render(*_compiled_table(), labels, jitters, seeds, indices, forced, normalize, realistic,
                      images, brushes, variants, ink_out)
    variants |= (NORMALIZED if normalize else 0) | (REALISTIC if realistic else 0)
    for name, col in (("label", labels), ("jitter", jitters), ("brush", brushes), ("variant", variants),
                      ("seed", seeds), ("index", indices), ("ink_out", ink_out)):
        records[name] = col
    records["version"] = GENERATOR_VERSION
    records["ink"] = images.sum(axis=(1, 2), dtype=np.float64) / 255.0
    return images, records


@functools.lru_cache(maxsize=1)
def _compiled_table():
    from miner.glyphs import compile_table

    return compile_table()


def generate(labels, jitter, seed: int, start: int = 0, *, config: GeneratorConfig | None = None,
             reserved: bool = False, variants=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw one digit per label: images (N, 28, 28) uint8 (white on black, upright) and records (N,).

    ``jitter`` is a radius in grid pixels (a number or one per label); image i uses
    stream index ``start + i`` of ``seed``. Seeds must be below 2**62 unless
    ``reserved`` (the evaluation set's). ``variants`` (optional, -1 = draw) imposes
    variant codes, e.g. to draw every form of a digit (the NORMALIZED and REALISTIC
    bits are ignored there: ``config`` decides).
    """
    cfg = config or GeneratorConfig()
    labels = _labels(labels)
    n = labels.shape[0]
    limit = 2**64 if reserved else RESERVED_SEEDS
    require(isinstance(seed, (int, np.integer)) and 0 <= int(seed) < limit,
            f"generate: seed {seed!r} must be an integer in 0..2**62-1 (larger seeds are reserved for the eval set)")
    require(isinstance(start, (int, np.integer)) and 0 <= int(start) and int(start) + n <= 2**64,
            f"generate: start {start!r} must be an integer >= 0")
    jitters = _jitter(jitter, n, cfg)
    seeds = np.full(n, int(seed), np.uint64)
    indices = (np.uint64(int(start)) + np.arange(n, dtype=np.uint64)).astype(np.uint64)
    forced = _variants(variants, labels)
    forced = np.where(forced >= 0, forced & ~RENDER_BITS, forced)
    return _draw(labels, jitters, seeds, indices, forced, cfg.normalize, cfg.realistic)


def regenerate(records: np.ndarray) -> np.ndarray:
    """The images of stored records, bit-identical to when they were generated."""
    records = np.asarray(records)
    missing = [n for n in ("label", "jitter", "variant", "seed", "index", "version")
               if records.dtype.names is None or n not in records.dtype.names]
    require(not missing, f"regenerate: records lack field(s) {', '.join(missing)}; pass records from generate()")
    versions = set(np.unique(records["version"]).tolist())
    require(versions <= {GENERATOR_VERSION},
            f"regenerate: records of generator version(s) {sorted(versions)} cannot be redrawn by version "
            f"{GENERATOR_VERSION}; keep their stored images")
    labels = _labels(records["label"])
    forced = _variants(records["variant"].astype(np.int64), labels)
    images = np.zeros((len(records), 28, 28), np.uint8)
    for bits in np.unique(forced & RENDER_BITS):  # the kernel renders whole batches one way: a call per kind
        part = (forced & RENDER_BITS) == bits
        images[part], _ = _draw(labels[part], records["jitter"][part].astype(np.float64),
                                records["seed"][part].astype(np.uint64), records["index"][part].astype(np.uint64),
                                forced[part] & ~RENDER_BITS, bool(bits & NORMALIZED), bool(bits & REALISTIC))
    return images


def is_valid(records: np.ndarray, config: GeneratorConfig | None = None) -> np.ndarray:
    """(N,) bool: at most ``max_ink_out`` of the ink outside the frame and at least ``min_ink`` ink."""
    cfg = config or GeneratorConfig()
    return (records["ink_out"] <= cfg.max_ink_out) & (records["ink"] >= cfg.min_ink)


def eval_set(per_cell: int = EVAL_PER_CELL, jitters=EVAL_JITTERS, config: GeneratorConfig | None = None):
    """The fixed synthetic evaluation set: ``per_cell`` digits per (jitter, label), reserved seed.

    Ordered jitter-major, then label; the same arguments always give the same set.
    """
    require(isinstance(per_cell, (int, np.integer)) and per_cell >= 1, f"eval_set: per_cell={per_cell!r} must be >= 1")
    jit = np.asarray(jitters, dtype=np.float64).reshape(-1)
    require(jit.size >= 1, "eval_set: give at least one jitter radius")
    labels = np.tile(np.repeat(np.arange(10), per_cell), jit.size)
    per_label = np.repeat(jit, 10 * per_cell)
    return generate(labels, per_label, EVAL_SEED, config=config, reserved=True)
