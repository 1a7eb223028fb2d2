"""``hardmine generate``: draw synthetic digits into an .npz file or a labelled .png montage.

    hardmine generate --count 40 --digits 0-9 --jitter 2 --seed 0 --out digits.png
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from miner.config import HardmineError, check_output, require, write_atomically
from miner import generator
from miner.options import options
from miner.progress import progress_bar

COUNT_MAX = 1_000_000  # 784 MB of pixels, plus the drawing's working memory
MONTAGE_MAX = 400  # digits a .png montage can show legibly
MONTAGE_COLS = 10
CHUNK = 4096  # digits drawn per call: the progress bar moves this often (a few seconds at most on one core)


def parse_digits(spec: str) -> list[int]:
    """'0-9' -> [0..9], '3,5,8' -> [3, 5, 8], '2-4,7' -> [2, 3, 4, 7] (sorted, unique)."""
    out: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise HardmineError(f"generate: --digits {spec!r} must look like 0-9 or 3,5,8") from None
        require(0 <= a <= b <= 9, f"generate: --digits {spec!r} must name digits 0..9 (like 0-9 or 3,5,8)")
        out.update(range(a, b + 1))
    return sorted(out)


def save_npz(path: Path, images: np.ndarray, records: np.ndarray) -> None:
    """Keys: images (N,28,28) u1, labels (N,) u1, and every other record column by name."""
    columns = {name: records[name] for name in records.dtype.names if name != "label"}
    with open(path, "wb") as fh:
        np.savez_compressed(fh, images=images, labels=records["label"].astype(np.uint8), **columns)


def save_montage(path: Path, images: np.ndarray, records: np.ndarray) -> None:
    """A grid of the digits, each titled with its label (white ink on black, as the CNN sees it)."""
    from miner.montage import save_grid

    save_grid(images, [str(int(label)) for label in records["label"]], path, MONTAGE_COLS)


WRITERS = {".npz": save_npz, ".png": save_montage}


def draw(labels: np.ndarray, jitter: float, seed: int, cfg: generator.GeneratorConfig):
    """``generator.generate(labels, jitter, seed)`` in chunks of :data:`CHUNK` (the same digits:
    digit i is stream index i whatever the chunking), with a progress bar on a terminal's stderr."""
    images, records = [], []
    with progress_bar(len(labels), "drawing digits") as advance:
        for start in range(0, len(labels), CHUNK):
            part = labels[start:start + CHUNK]
            i, r = generator.generate(part, jitter, seed, start=start, config=cfg)
            images.append(i)
            records.append(r)
            advance(len(part))
    return np.concatenate(images), np.concatenate(records)


@click.command("generate")
@click.option("--count", type=int, default=100, show_default=True, help=f"Number of digits to draw (1..{COUNT_MAX}).")
@click.option("--digits", default="0-9", show_default=True, help="Digits to draw, evenly: a range 0-9 or a list 3,5,8.")
@click.option("--jitter", type=float, default=0.0, show_default=True, help="Jitter radius of every control point, grid pixels (>= 0).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random stream (0 .. 2**62-1); same seed, same digits.")
@options(generator.GeneratorConfig, only=("normalize", "realistic"))
@click.option("--out", "out", required=True, help="Output file: .npz (arrays) or .png (labelled montage).")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="print what was written (path, count, digits, jitter, seed, rendering) as one JSON object")
def generate(count: int, digits: str, jitter: float, seed: int, out: str, as_json: bool, **rendering) -> None:
    """Draw synthetic pen-stroke digits, labels spread evenly over --digits.

    Writes .npz (images (N,28,28) uint8, labels, and the parameter columns jitter,
    brush, variant, seed, index, version, ink_out, ink) or a .png montage.
    """
    require(1 <= count <= COUNT_MAX, f"generate: --count {count} must be in 1..{COUNT_MAX}")
    path = check_output(out, "generate", tuple(WRITERS))
    writer = WRITERS[path.suffix.lower()]
    require(writer is not save_montage or count <= MONTAGE_MAX,
            f"generate: a .png montage shows at most {MONTAGE_MAX} digits; use .npz for --count {count}")
    chosen = parse_digits(digits)
    labels = np.asarray(chosen)[np.arange(count) % len(chosen)]
    cfg = generator.GeneratorConfig(**rendering)
    images, records = draw(labels, jitter, seed, cfg)
    write_atomically(path, lambda tmp: writer(tmp, images, records), "generate")
    if as_json:
        click.echo(json.dumps({"out": out, "count": count, "digits": chosen, "jitter": jitter, "seed": seed,
                               **rendering}))
        return
    click.echo(f"wrote {count} digits ({digits}, jitter {jitter:g}, seed {seed}) to {out}")

