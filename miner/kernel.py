"""The compiled renderer: glyph table + (seed, index, label, jitter) -> 28x28 digit.

    python -m pytest tests/test_miner_kernel.py -q     # checked against miner.reference

Same algorithm as the seed notebook's ``drawLine`` + ``cv2.resize``, evaluated
where it matters. The notebook paints each pen position of a stroke onto a
280x280 canvas (zoom 10) with intensity 1 up to brush/5 from the pen centre,
falling linearly to 0 at brush/2, max-composited; ``cv2.resize`` to 28x28
(INTER_LINEAR, exact 10x) then reads each output pixel as the mean of the four
canvas pixels at rows/cols ``10r+4`` and ``10r+5``. So only those 56x56 sample
points are ever looked at, and because the profile falls with distance, the
max over pen positions is the profile of the *nearest* pen position: the kernel
keeps the minimum squared distance per sample point and applies the profile
once. A pen position costs ~25 grid pixels x 4 samples of min-updates instead
of painting ~2,000 canvas pixels, and nothing else of the 78,400-pixel canvas
is ever materialised.

Randomness is counter based (splitmix64): draw ``slot`` of image ``index`` is
``mix(mix(mix(seed) ^ index) ^ mix(slot))``, so an image depends only on its
own (seed, index, label, jitter), never on batch size, thread count or order.
Slots: 0 form, 1 brush, 2..5 option coins, 6 slant, 8+3k.. the three draws of point k,
PRESSURE_SLOT0+2k, +1 the pen pressures at both ends of stroke k.

Realistic rendering (``realistic``, variant bit REALISTIC): the points are sheared
by the style's slant, the pen width varies linearly along each stroke's Bezier
parameter between two drawn pressures, the pen's ink extent is scaled (aspect
kept, pen width too) to fit ``Realism.box`` grid pixels, and after the 10x
downscale the image is shifted by whole pixels to bring its centre of mass
nearest to (14, 14) and each pixel (r, c) multiplied by ``U(*Realism.grain)``
(slot GRAIN_SLOT0 + 28 r + c). The profile depends on
distance / width only, so the nearest-pen trick still holds with distances
measured in units of each position's width (``splat``'s ``sp``, ``sq``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

ZOOM = 10.0  # canvas pixels per grid pixel, as in the notebook
MARGIN = 28  # grid pixels of outer window around the frame where ink_out is measured
CHUNK = 64  # digits per parallel work item (scratch buffers are reused within one)
STEPS_PER_LENGTH = np.array([0.0, 0.0, 1.0, 1.5, 1.7])  # by number of control points: line, quad, cubic
POINT_SLOT0, POINT_SLOTS, OPTION_SLOT0 = 8, 3, 2
SLANT_SLOT, PRESSURE_SLOT0, GRAIN_SLOT0 = 6, 1 << 20, 1 << 21  # pressure, grain slots far above any point's
CENTRE = 14.0  # mean centre of mass of MNIST training digits (row and col, measured: 14.00, 14.01)
BOX = 20.0  # MNIST fits each digit's ink in a 20x20 box

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1, M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def mix64(z):
    z = z + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def uniform(key, slot):
    """U[0, 1) with 53 random bits, for draw ``slot`` of the image with ``key``."""
    return float(mix64(key ^ mix64(np.uint64(slot))) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, fastmath=True)
def splat(grid, origin, px, py, qx, qy, r2, sp, sq):
    """grid[r, c, k] = min(itself, squared distance from sample k of grid pixel (r, c) to pen P or Q).

    Distances to P are multiplied by ``sp`` and to Q by ``sq`` (squared base width /
    squared width of that position: 1.0 for a constant pen, an exact no-op); ``r2`` is
    the larger position's squared radius.

    Grid pixel r (grid row ``origin + r``) has its samples at canvas rows
    ``10 * (origin + r) + 4`` and ``+ 5`` (likewise columns): the canvas pixels that
    cv2's exact 10x INTER_LINEAR averages; k = 2 * (row offset) + (column offset).
    Two consecutive pen positions per pass (0.5-1 canvas px apart, so nearly the same
    box) halve the loads and stores: 1.2x faster than one position per pass.
    """
    n = grid.shape[0]
    rad = math.sqrt(r2)
    r_lo = max(0, math.floor((min(px, qx) - rad - 5.0) * 0.1) - origin)
    r_hi = min(n - 1, math.floor((max(px, qx) + rad - 4.0) * 0.1) - origin)
    c_lo = max(0, math.floor((min(py, qy) - rad - 5.0) * 0.1) - origin)
    c_hi = min(n - 1, math.floor((max(py, qy) + rad - 4.0) * 0.1) - origin)
    # the whole bounding box, corners included: a farther d2 is harmless (the profile is 0
    # beyond the radius) and a branch-free box runs 1.6x faster than clipping rows to the disc
    for r in range(r_lo, r_hi + 1):
        x = 10.0 * (origin + r) + 4.0
        a0, a1 = (x - px) ** 2, (x + 1.0 - px) ** 2  # P's squared row offsets of the two samples
        e0, e1 = (x - qx) ** 2, (x + 1.0 - qx) ** 2  # Q's
        for c in range(c_lo, c_hi + 1):
            y = 10.0 * (origin + c) + 4.0
            b0, b1 = (y - py) ** 2, (y + 1.0 - py) ** 2
            f0, f1 = (y - qy) ** 2, (y + 1.0 - qy) ** 2
            grid[r, c, 0] = min(grid[r, c, 0], min((a0 + b0) * sp, (e0 + f0) * sq))
            grid[r, c, 1] = min(grid[r, c, 1], min((a0 + b1) * sp, (e0 + f1) * sq))
            grid[r, c, 2] = min(grid[r, c, 2], min((a1 + b0) * sp, (e1 + f0) * sq))
            grid[r, c, 3] = min(grid[r, c, 3], min((a1 + b1) * sp, (e1 + f1) * sq))


@njit(cache=True, inline="always")
def profile(d2, brush, edge):
    """Pen intensity at squared distance d2: 1 up to brush/5, then min(1, edge (1 - d / (brush/2))).

    edge = 1 is the notebook's pen (a step from 1 to 0.6 at brush/5, linear to 0 at
    brush/2); a larger edge keeps the pen solid further out (ramp over brush/(2 edge)).
    """
    half = 0.5 * brush
    if d2 >= half * half:
        return 0.0
    d = math.sqrt(d2)
    if d <= brush / 5.0:
        return 1.0
    return min(1.0, (1.0 - d / half) * edge)


@njit(cache=True)
def cell_sum(grid, brush, edge, r0, r1, c0, c1, out):
    """Grid pixels [r0, r1) x [c0, c1): cv2's mean of their 4 samples (into out if non-empty); total."""
    total = 0.0
    for r in range(r0, r1):
        for c in range(c0, c1):
            top = (profile(grid[r, c, 0], brush, edge) + profile(grid[r, c, 1], brush, edge)) * 0.5
            bot = (profile(grid[r, c, 2], brush, edge) + profile(grid[r, c, 3], brush, edge)) * 0.5
            v = (top + bot) * 0.5
            if out.shape[0] > 0:
                out[r, c] = v
            total += v
    return total


@njit(cache=True)
def place(ls, style, ranges, option, n_opts, point, refs, label, jitter, key, forced, pts, on, slanted):
    """Choose form, brush and options, place the style's points into pts; return (style, brush, variant).

    ``slanted``: shear the points by the style's drawn slant about grid row 14.
    """
    s0, ns = ls[label, 0], ls[label, 1]
    if forced >= 0:
        f = forced >> 8
    else:
        u, f = uniform(key, 0), 0
        while f < ns - 1 and u >= style[s0 + f, 0]:
            f += 1
    s = s0 + f
    brush = (style[s, 1] + (style[s, 2] - style[s, 1]) * uniform(key, 1)) * ZOOM
    o0, variant = int(style[s, 3]), f << 8
    for k in range(n_opts[s]):
        if forced >= 0:
            on[k] = (forced >> k) & 1 == 1
        else:
            req = int(option[o0 + k, 1])
            on[k] = (req < 0 or on[req]) and uniform(key, OPTION_SLOT0 + k) < option[o0 + k, 0]
        if on[k]:
            variant |= 1 << k
    p0 = ranges[s, 0]
    for j in range(ranges[s, 1] - p0):
        p, slot = p0 + j, POINT_SLOT0 + POINT_SLOTS * j
        if refs[p, 4] >= 0 and not on[refs[p, 4]]:
            continue
        at = 4 if slanted else 0  # the realistic rendering's own positions, where the table gives them
        x, y, a, b = point[p, at] * ZOOM, point[p, at + 1] * ZOOM, refs[p, 0], refs[p, 1]
        if a >= 0 and b >= 0:
            x, y = x + 0.5 * (pts[a, 0] + pts[b, 0]), y + 0.5 * (pts[a, 1] + pts[b, 1])
        elif a >= 0:
            x, y = x + pts[a, 0], y + pts[a, 1]
        if point[p, 3] > 0.0:
            cp, cq = refs[p, 2], refs[p, 3]
            chord = math.sqrt((pts[cq, 0] - pts[cp, 0]) ** 2 + (pts[cq, 1] - pts[cp, 1]) ** 2)
            bound = uniform(key, slot) * chord / point[p, 3]
        else:
            bound = point[p, 2] * jitter * ZOOM
        radius, angle = uniform(key, slot + 1) * bound, 2.0 * math.pi * uniform(key, slot + 2)
        pts[j, 0], pts[j, 1] = x + radius * math.cos(angle), y + radius * math.sin(angle)
    if slanted:
        slant = style[s, 4] + (style[s, 5] - style[s, 4]) * uniform(key, SLANT_SLOT)
        for j in range(ranges[s, 1] - p0):
            pts[j, 1] += slant * (CENTRE * ZOOM - pts[j, 0])
    return s, brush, variant


@njit(cache=True)
def normalize_mnist(img, out):
    """MNIST-style: scale the ink's bounding box to fit 20x20, centre of mass at (14, 14), bilinear."""
    r0, r1, c0, c1, mass, mr, mc = 28, -1, 28, -1, 0.0, 0.0, 0.0
    for r in range(28):
        for c in range(28):
            v = img[r, c]
            if v * 255.0 >= 0.5:  # visible once quantised
                r0, r1, c0, c1 = min(r0, r), max(r1, r), min(c0, c), max(c1, c)
            mass += v
            mr += v * r
            mc += v * c
    out[:] = 0.0
    if r1 < 0:
        return
    scale = BOX / max(r1 - r0 + 1, c1 - c0 + 1)
    mr, mc = mr / mass, mc / mass
    for r in range(28):
        for c in range(28):
            sr, sc = (r - CENTRE) / scale + mr, (c - CENTRE) / scale + mc
            fr, fc = math.floor(sr), math.floor(sc)
            wr, wc, v = sr - fr, sc - fc, 0.0
            for dr in range(2):
                for dc in range(2):
                    rr, cc = fr + dr, fc + dc
                    if 0 <= rr < 28 and 0 <= cc < 28:
                        v += img[rr, cc] * (wr if dr else 1.0 - wr) * (wc if dc else 1.0 - wc)
            out[r, c] = v


@njit(cache=True, inline="always")
def bezier(ctrl, m, t):
    """Point at t of the line / quadratic / cubic Bezier with m = 2, 3, 4 control points."""
    u = 1.0 - t
    if m == 2:
        w0, w1, w2, w3 = u, t, 0.0, 0.0
    elif m == 3:
        w0, w1, w2, w3 = u * u, 2.0 * u * t, t * t, 0.0
    else:
        w0, w1, w2, w3 = u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t
    return (w0 * ctrl[0, 0] + w1 * ctrl[1, 0] + w2 * ctrl[2, 0] + w3 * ctrl[3, 0],
            w0 * ctrl[0, 1] + w1 * ctrl[1, 1] + w2 * ctrl[2, 1] + w3 * ctrl[3, 1])


@njit(cache=True, inline="always")
def n_steps(ctrl, m):
    """The notebook's pen positions per stroke: round(d x 1 / 1.5 / 1.7), d = control-polygon length."""
    length2 = 0.0
    for q in range(m - 1):
        length2 += (ctrl[q + 1, 0] - ctrl[q, 0]) ** 2 + (ctrl[q + 1, 1] - ctrl[q, 1]) ** 2
    return max(1, int(np.rint(math.sqrt(length2) * STEPS_PER_LENGTH[m])))


@njit(cache=True)
def walk(ctrl, m, r2, p0, p1, inner, outer, crossed):
    """Splat the notebook's pen positions t = 0, 1/steps, ..., 1 along one stroke, two at a time.

    The pen's width is ``p0 + (p1 - p0) t`` times the base width (whose squared radius
    is ``r2``). Pairs with a pen disc crossing the frame also go to ``outer``
    (initialised on the digit's first crossing; a non-crossing partner cannot reach the
    cells outside the frame); returns whether any position crossed so far.
    """
    side = 28.0 * ZOOM
    steps = n_steps(ctrl, m)
    for t_i in range(0, steps + 1, 2):
        tp, tq = t_i / steps, min(t_i + 1, steps) / steps  # the last one pairs with itself
        px, py = bezier(ctrl, m, tp)
        qx, qy = bezier(ctrl, m, tq)
        wp, wq = p0 + (p1 - p0) * tp, p0 + (p1 - p0) * tq
        wide = max(wp, wq)
        r2w = r2 * (wide * wide)
        rad = math.sqrt(r2w)
        sp, sq = 1.0 / (wp * wp), 1.0 / (wq * wq)
        splat(inner, 0, px, py, qx, qy, r2w, sp, sq)
        if min(px, qx, py, qy) - rad < 0.0 or max(px, qx, py, qy) + rad > side:
            if not crossed:
                outer[:] = np.inf
                crossed = True
            splat(outer, -MARGIN, px, py, qx, qy, r2w, sp, sq)
    return crossed


@njit(cache=True)
def extent(ctrl, m, half, p0, p1, box):
    """Widen box (row lo, row hi, col lo, col hi; canvas px) to the pen discs of one stroke's walk."""
    steps = n_steps(ctrl, m)
    for t_i in range(steps + 1):
        t = t_i / steps
        x, y = bezier(ctrl, m, t)
        rad = half * (p0 + (p1 - p0) * t)
        box[0], box[1] = min(box[0], x - rad), max(box[1], x + rad)
        box[2], box[3] = min(box[2], y - rad), max(box[3], y + rad)


@njit(cache=True)
def centre_by_mass(img, out):
    """out = img shifted by whole pixels so its centre of mass is nearest to (14, 14), zero fill."""
    mass, mr, mc = 0.0, 0.0, 0.0
    for r in range(28):
        for c in range(28):
            mass += img[r, c]
            mr += img[r, c] * r
            mc += img[r, c] * c
    out[:] = 0.0
    if mass <= 0.0:
        return
    dr, dc = int(np.rint(CENTRE - mr / mass)), int(np.rint(CENTRE - mc / mass))
    for r in range(max(0, dr), min(28, 28 + dr)):
        for c in range(max(0, dc), min(28, 28 + dc)):
            out[r, c] = img[r - dr, c - dc]


@njit(cache=True)
def outside_mass(outer, brush, edge):
    """Ink mass of the margin window minus the frame: four bands around it."""
    none, w = np.empty((0, 0)), 28 + 2 * MARGIN
    return (cell_sum(outer, brush, edge, 0, MARGIN, 0, w, none)
            + cell_sum(outer, brush, edge, MARGIN + 28, w, 0, w, none)
            + cell_sum(outer, brush, edge, MARGIN, MARGIN + 28, 0, MARGIN, none)
            + cell_sum(outer, brush, edge, MARGIN, MARGIN + 28, MARGIN + 28, w, none))


@njit(cache=True, parallel=True)
def render(ls, style, ranges, option, n_opts, point, refs, stroke, realism,
           labels, jitters, seeds, indices, forced, normalize, realistic,
           images, brushes, variants, ink_out):
    """Draw digit i from (seeds[i], indices[i], labels[i], jitters[i]) (u8, u8, int, f8 grid px).

    ``normalize``: MNIST normalisation of the image; ``realistic``: the realistic
    rendering (module docstring), for the whole batch.

    forced[i] >= 0 imposes the variant code instead of drawing form and options
    (the other draws keep their slots, so forcing the drawn code changes nothing).
    Fills images (N,28,28) u1, brushes (N,) f4 grid px, variants (N,) u2, ink_out (N,) f4.
    """
    n = labels.shape[0]
    max_points = np.max(ranges[:, 1] - ranges[:, 0])
    max_strokes = np.max(ranges[:, 3] - ranges[:, 2])
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        inner = np.empty((28, 28, 4))  # min squared distance per frame sample point
        outer = np.empty((28 + 2 * MARGIN, 28 + 2 * MARGIN, 4))  # same over the margin window
        img, norm = np.empty((28, 28)), np.empty((28, 28))
        pts, ctrl = np.zeros((max_points, 2)), np.zeros((4, 2))
        press = np.ones((max_strokes, 2))  # pen pressure at both ends of each stroke of the style
        box = np.empty(4)
        on = np.zeros(8, np.bool_)
        for i in range(chunk * CHUNK, min(n, (chunk + 1) * CHUNK)):
            key = mix64(mix64(np.uint64(seeds[i])) ^ np.uint64(indices[i]))
            s, brush, variant = place(ls, style, ranges, option, n_opts, point, refs,
                                      labels[i], jitters[i], key, forced[i], pts, on, realistic)
            k0 = ranges[s, 2]
            if realistic:
                brush *= realism[0]
                box[0], box[1], box[2], box[3] = np.inf, -np.inf, np.inf, -np.inf
                for k in range(k0, ranges[s, 3]):
                    for e in range(2):
                        u = uniform(key, PRESSURE_SLOT0 + 2 * (k - k0) + e)
                        press[k - k0, e] = realism[1] + (1.0 - realism[1]) * u
                    if stroke[k, 5] < 0 or on[stroke[k, 5]]:
                        for q in range(stroke[k, 0]):
                            ctrl[q, 0], ctrl[q, 1] = pts[stroke[k, 1 + q], 0], pts[stroke[k, 1 + q], 1]
                        extent(ctrl, stroke[k, 0], 0.5 * brush, press[k - k0, 0], press[k - k0, 1], box)
                fit = realism[2] * ZOOM / max(box[1] - box[0], box[3] - box[2])
                mid_r, mid_c = 0.5 * (box[0] + box[1]), 0.5 * (box[2] + box[3])
                for j in range(ranges[s, 1] - ranges[s, 0]):
                    pts[j, 0] = (pts[j, 0] - mid_r) * fit + CENTRE * ZOOM
                    pts[j, 1] = (pts[j, 1] - mid_c) * fit + CENTRE * ZOOM
                brush *= fit
            inner[:] = np.inf
            crossed = False
            for k in range(k0, ranges[s, 3]):
                if stroke[k, 5] < 0 or on[stroke[k, 5]]:
                    for q in range(stroke[k, 0]):
                        ctrl[q, 0], ctrl[q, 1] = pts[stroke[k, 1 + q], 0], pts[stroke[k, 1 + q], 1]
                    crossed = walk(ctrl, stroke[k, 0], 0.25 * brush * brush, press[k - k0, 0], press[k - k0, 1],
                                   inner, outer, crossed)
            edge = realism[5] if realistic else 1.0
            ink_in = cell_sum(inner, brush, edge, 0, 28, 0, 28, img)
            out_mass = outside_mass(outer, brush, edge) if crossed else 0.0
            ink_out[i] = out_mass / (ink_in + out_mass) if ink_in + out_mass > 0.0 else 1.0
            if normalize:
                normalize_mnist(img, norm)
                img[:] = norm
            if realistic:
                centre_by_mass(img, norm)
                for r in range(28):
                    for c in range(28):
                        u = uniform(key, GRAIN_SLOT0 + 28 * r + c)
                        img[r, c] = norm[r, c] * (realism[3] + (realism[4] - realism[3]) * u)
            for r in range(28):
                for c in range(28):
                    images[i, r, c] = np.uint8(min(255.0, img[r, c] * 255.0 + 0.5))
            brushes[i] = brush / ZOOM
            variants[i] = variant
