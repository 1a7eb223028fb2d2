"""A titled grid of 28x28 digits as a PNG: the one picture both ``hardmine
generate --out x.png`` and ``hardmine bank montage`` draw.

    python -c "import miner, miner.montage as m; x, r = miner.generate([0, 1, 2], 2.0, 0); m.save_grid(x, ['0', '1', '2'], 'g.png')"
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def save_grid(images: np.ndarray, titles: Sequence[str], path, cols: int,
              cell: tuple[float, float] = (1.1, 1.25)) -> None:
    """``images`` (N, 28, 28) uint8, white ink on black, in rows of ``cols``, each
    under its title; ``cell`` is one image's (width, height) in inches."""
    import matplotlib  # matplotlib only for pictures: keeps `import miner` light

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
