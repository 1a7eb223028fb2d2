"""Style features of 28x28 digit images, to compare synthetic digits with MNIST's.

    python bench/realism.py          # MNIST vs generator table + synthetic-vs-real separability

Plain NumPy (+ scipy's distance transform), one row of :data:`FEATURES` per
image, white ink on black, uint8. Ink mask = pixels >= :data:`INK` (half ink).

- ``width``: median local stroke width along the stroke, in pixels. Local width
  is ``2 * d - 1`` at the ridge pixels of the ink mask (``d`` = Euclidean
  distance to the nearest background pixel, ridge = 3x3 local maximum of ``d``):
  exact for straight bars of odd width (a 3-pixel bar gives 3).
- ``width_spread``: interquartile range of that local width (0 for one brush
  width along the whole stroke).
- ``soft``: share of the inked pixels (> 0) that are not saturated (1..254).
- ``ink``: sum of pixels / 255.
- ``height``, ``bwidth``, ``aspect``: bounding box of the pixels > 0 (rows,
  cols, cols / rows).
- ``slant``: ``-mu11 / mu02`` of the grey values (columns gained per row going
  up: > 0 leans right, like '/').
- ``com_row``, ``com_col``: centre of mass (pixel indices; MNIST puts it at ~14).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

INK = 128  # grey level from which a pixel counts as ink for the mask-based features
FEATURES = ("width", "width_spread", "soft", "ink", "height", "bwidth", "aspect", "slant", "com_row", "com_col")
_RIDGE_FOOTPRINT = np.ones((3, 3), bool)


def stroke_widths(image: np.ndarray) -> np.ndarray:
    """Local stroke widths (pixels) at the ridge pixels of one image's ink mask; empty if no ink."""
    mask = np.asarray(image) >= INK
    if not mask.any():
        return np.zeros(0)
    d = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # the frame edge counts as background
    ridge = mask & (d >= ndimage.maximum_filter(d, footprint=_RIDGE_FOOTPRINT, mode="constant"))
    return 2.0 * d[ridge] - 1.0


def features(images: np.ndarray) -> np.ndarray:
    """(N, len(FEATURES)) float64 for (N, 28, 28) uint8 images; NaN where a feature is undefined (no ink)."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    out = np.full((len(images), len(FEATURES)), np.nan)
    rows, cols = np.mgrid[0:images.shape[1], 0:images.shape[2]].astype(np.float64)
    for i, img in enumerate(images):
        grey = img.astype(np.float64)
        mass = grey.sum()
        if mass == 0:
            continue
        w = stroke_widths(img)
        if w.size:
            q1, med, q3 = np.percentile(w, [25, 50, 75])
            out[i, 0], out[i, 1] = med, q3 - q1
        inked = img > 0
        out[i, 2] = (inked & (img < 255)).sum() / inked.sum()
        out[i, 3] = mass / 255.0
        rr, cc = np.nonzero(inked)
        h, bw = rr.max() - rr.min() + 1, cc.max() - cc.min() + 1
        out[i, 4:7] = h, bw, bw / h
        r0, c0 = (grey * rows).sum() / mass, (grey * cols).sum() / mass
        mu02 = (grey * (rows - r0) ** 2).sum()
        mu11 = (grey * (rows - r0) * (cols - c0)).sum()
        out[i, 7] = -mu11 / mu02 if mu02 > 0 else 0.0
        out[i, 8:10] = r0, c0
    return out
