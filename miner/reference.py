"""Slow, obviously-correct reference of the generator: the notebook's way, step by step.

    python -m miner.reference 7 2.0     # draws one 7 at jitter 2 as ASCII art

Plain Python reads the glyph dataclasses (not the compiled arrays), places the
points with a Python-integer splitmix64, paints every pen position onto a zoomed
canvas exactly like the notebook's ``drawLine`` (max-compositing, NumPy for the
pixels under the pen), and shrinks it with ``cv2.resize`` (INTER_LINEAR), as the
notebook does. The canvas is padded by ``MARGIN`` grid pixels on every side so
the ink that falls outside the 28x28 frame can be measured (``ink_out``).
``tests/test_miner_kernel.py`` compares ``miner.kernel`` against this.
"""

from __future__ import annotations

import math
import sys

import cv2
import numpy as np

from miner.glyphs import FORM_SHIFT, REALISM, STYLES, Style
from miner.kernel import (CENTRE, GRAIN_SLOT0, MARGIN, OPTION_SLOT0, POINT_SLOT0, POINT_SLOTS, PRESSURE_SLOT0,
                          SLANT_SLOT, STEPS_PER_LENGTH, ZOOM)

MASK = (1 << 64) - 1


def mix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def uniform(key: int, slot: int) -> float:
    return (mix64(key ^ mix64(slot)) >> 11) / 2.0**53


def place(label: int, jitter: float, seed: int, index: int, forced: int = -1, realistic: bool = False):
    """Brush (canvas px), variant code and the active strokes as (control points, pressure at t=0, at t=1).

    ``realistic``: slant, pen pressure and the fit of the pen's ink to ``REALISM.box``
    (``miner.kernel``'s module docstring); otherwise pressure 1 at both ends.
    """
    forms: list[Style] = [s for s in STYLES if s.label == label]
    key = mix64(mix64(seed) ^ index)
    if forced >= 0:
        f = forced >> FORM_SHIFT
    else:
        u, cum, f = uniform(key, 0), 0.0, 0
        total = sum(s.weight for s in forms)
        for f, s in enumerate(forms):
            cum += s.weight / total
            if u < cum:
                break
    s = forms[f]
    brush = (s.brush[0] + (s.brush[1] - s.brush[0]) * uniform(key, 1)) * ZOOM
    on: dict[str, bool] = {}
    for k, o in enumerate(s.options):
        if forced >= 0:
            on[o.name] = bool(forced >> k & 1)
        else:
            on[o.name] = (o.requires is None or on[o.requires]) and uniform(key, OPTION_SLOT0 + k) < o.p
    variant = (f << FORM_SHIFT) | sum(1 << k for k, o in enumerate(s.options) if on[o.name])
    pts: dict[str, tuple[float, float]] = {}
    for j, pt in enumerate(s.points):
        if pt.when and not on[pt.when]:
            continue
        slot = POINT_SLOT0 + POINT_SLOTS * j
        at = pt.realistic if realistic and pt.realistic else pt.at
        x, y = at[0] * ZOOM, at[1] * ZOOM
        if pt.near:
            x += sum(pts[n][0] for n in pt.near) / len(pt.near)
            y += sum(pts[n][1] for n in pt.near) / len(pt.near)
        if pt.chord:
            (px, py), (qx, qy) = pts[pt.chord[0]], pts[pt.chord[1]]
            bound = uniform(key, slot) * math.hypot(qx - px, qy - py) / pt.chord[2]
        else:
            bound = pt.jitter * jitter * ZOOM
        radius, angle = uniform(key, slot + 1) * bound, 2 * math.pi * uniform(key, slot + 2)
        pts[pt.name] = (x + radius * math.cos(angle), y + radius * math.sin(angle))
    press = [(1.0, 1.0)] * len(s.strokes)
    if realistic:
        slant = s.slant[0] + (s.slant[1] - s.slant[0]) * uniform(key, SLANT_SLOT)
        pts = {n: (x, y + slant * (CENTRE * ZOOM - x)) for n, (x, y) in pts.items()}
        brush *= REALISM.brush_scale
        lo = REALISM.pressure
        press = [(lo + (1 - lo) * uniform(key, PRESSURE_SLOT0 + 2 * k), lo + (1 - lo) * uniform(key, PRESSURE_SLOT0 + 2 * k + 1))
                 for k in range(len(s.strokes))]
    strokes = [([pts[n] for n in st.via], *p) for st, p in zip(s.strokes, press) if not st.when or on[st.when]]
    if realistic:  # scale the pen discs' extent to fit the box, centred on the grid centre
        discs = [(x, y, 0.5 * brush * (p0 + (p1 - p0) * t)) for ctrl, p0, p1 in strokes
                 for t, (x, y) in zip(pen_params(ctrl), pen_path(ctrl))]
        r0, r1 = min(x - r for x, _, r in discs), max(x + r for x, _, r in discs)
        c0, c1 = min(y - r for _, y, r in discs), max(y + r for _, y, r in discs)
        fit = REALISM.box * ZOOM / max(r1 - r0, c1 - c0)
        mr, mc, z = (r0 + r1) / 2, (c0 + c1) / 2, CENTRE * ZOOM
        strokes = [([((x - mr) * fit + z, (y - mc) * fit + z) for x, y in ctrl], p0, p1) for ctrl, p0, p1 in strokes]
        brush *= fit
    return brush, variant, strokes


def pen_params(ctrl: list[tuple[float, float]]) -> list[float]:
    """The Bezier parameters t of the notebook's pen positions along a stroke."""
    length = math.sqrt(sum((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2 for a, b in zip(ctrl, ctrl[1:])))
    steps = max(1, round(length * STEPS_PER_LENGTH[len(ctrl)]))
    return [s / steps for s in range(steps + 1)]


def pen_path(ctrl: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The notebook's pen positions along a line / quadratic / cubic Bezier."""
    n = len(ctrl) - 1
    out = []
    for t in pen_params(ctrl):
        w = [math.comb(n, k) * (1 - t) ** (n - k) * t**k for k in range(n + 1)]
        out.append((sum(wk * p[0] for wk, p in zip(w, ctrl)), sum(wk * p[1] for wk, p in zip(w, ctrl))))
    return out


def paint(canvas: np.ndarray, offset: float, x: float, y: float, brush: float, edge: float = 1.0) -> None:
    """Max-composite the pen at canvas position (x, y) + offset (the notebook's inner loop; edge: kernel.profile)."""
    x, y, half = x + offset, y + offset, brush / 2
    r0, r1 = max(round(x - half), 0), min(round(x + half + 1), canvas.shape[0])
    c0, c1 = max(round(y - half), 0), min(round(y + half + 1), canvas.shape[1])
    if r0 >= r1 or c0 >= c1:
        return
    rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    dist = np.sqrt((x - rr) ** 2 + (y - cc) ** 2)
    ink = np.where(dist <= brush / 5, 1.0, np.minimum(1.0, (1.0 - dist / half) * edge))
    ink[dist >= half] = 0.0
    np.maximum(canvas[r0:r1, c0:c1], ink, out=canvas[r0:r1, c0:c1])


def canvas_of(label: int, jitter: float, seed: int, index: int, forced: int = -1, margin: int = MARGIN,
              realistic: bool = False):
    """(canvas, brush, variant): the zoomed canvas, padded by ``margin`` grid px, float64 0..1."""
    brush, variant, strokes = place(label, jitter, seed, index, forced, realistic)
    side = int((28 + 2 * margin) * ZOOM)
    canvas = np.zeros((side, side))
    edge = REALISM.edge if realistic else 1.0
    for ctrl, p0, p1 in strokes:
        for t, (x, y) in zip(pen_params(ctrl), pen_path(ctrl)):
            paint(canvas, margin * ZOOM, x, y, brush * (p0 + (p1 - p0) * t), edge)
    return canvas, brush, variant


def centre_by_mass(frame: np.ndarray) -> np.ndarray:
    """Shift by whole pixels so the centre of mass is nearest to (CENTRE, CENTRE), zero fill."""
    rows, cols = np.mgrid[0:28, 0:28]
    mass = frame.sum()
    if mass <= 0:
        return np.zeros_like(frame)
    dr = int(np.rint(CENTRE - (frame * rows).sum() / mass))
    dc = int(np.rint(CENTRE - (frame * cols).sum() / mass))
    out = np.zeros_like(frame)
    out[max(0, dr):28 + min(0, dr), max(0, dc):28 + min(0, dc)] = \
        frame[max(0, -dr):28 + min(0, -dr), max(0, -dc):28 + min(0, -dc)]
    return out


def draw(label: int, jitter: float, seed: int, index: int, forced: int = -1, realistic: bool = False):
    """(image (28,28) uint8, brush grid px, variant, ink_out) as the reference computes them."""
    canvas, brush, variant = canvas_of(label, jitter, seed, index, forced, realistic=realistic)
    cells = cv2.resize(canvas, (28 + 2 * MARGIN, 28 + 2 * MARGIN), interpolation=cv2.INTER_LINEAR)
    frame = cells[MARGIN:MARGIN + 28, MARGIN:MARGIN + 28]
    total = cells.sum()
    ink_out = (total - frame.sum()) / total if total > 0 else 1.0
    if realistic:
        key = mix64(mix64(seed) ^ index)
        lo, hi = REALISM.grain
        grain = [lo + (hi - lo) * uniform(key, GRAIN_SLOT0 + k) for k in range(28 * 28)]
        frame = centre_by_mass(frame) * np.array(grain).reshape(28, 28)
    image = np.minimum(255.0, frame * 255.0 + 0.5).astype(np.uint8)
    return image, brush / ZOOM, variant, ink_out


if __name__ == "__main__":
    img, *_ = draw(int(sys.argv[1]), float(sys.argv[2]), seed=0, index=0)
    for row in img:
        print("".join(" .:-=+*#%@"[int(v) * 10 // 256] for v in row))
