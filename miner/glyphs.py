"""Digit glyphs as data: control points, strokes, options and forms per digit style.

    python -m miner.glyphs        # prints every style with its variants

Every style of the seed notebook (``get0`` ... ``get9``) is one :class:`Style`
entry in :data:`STYLES`; a new handwriting style is a new entry, not new code.
Coordinates are (row, col) on the 28x28 grid, as the notebook's ``image[x, y]``
(row 0 at the top, so a drawn '7' is upright). The renderer (``miner.kernel``)
and the reference (``miner.reference``) both interpret the flat arrays that
:func:`compile_table` builds from this table.

A point is placed at ``at`` (absolute, or an offset from the mean of the
``near`` points already placed), then moved by a random radius ``U(0, bound)``
in a uniform direction. ``bound`` is ``jitter * J`` (J the caller's jitter
radius) or, for a Bezier support, ``U(0, |pq| / div)`` of the chord ``pq``: the
notebook's ``bezRadius`` draw, hence a radius drawn twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class Point:
    name: str
    at: tuple[float, float]  # (row, col) grid pixels; an offset when `near` is given
    jitter: float = 1.0  # multiplier of the caller's jitter radius J (0 = fixed point)
    near: tuple[str, ...] = ()  # anchor = mean of these earlier points (empty = grid origin)
    chord: tuple[str, str, float] | None = None  # (p, q, div): bound U(0, |pq|/div) replaces jitter*J
    when: str | None = None  # option that must be on for the point to exist
    realistic: tuple[float, float] | None = None  # `at` in the realistic rendering (None = same)


@dataclass(frozen=True)
class Stroke:
    via: tuple[str, ...]  # 2 names = line, 3 = quadratic Bezier, 4 = cubic Bezier
    when: str | None = None  # option that must be on


@dataclass(frozen=True)
class Option:
    name: str
    p: float  # probability the option is drawn (given its requirement)
    requires: str | None = None  # an earlier option that must be on


@dataclass(frozen=True)
class Style:
    label: int  # digit 0..9
    form: str  # name of this form of the digit
    weight: float  # probability of this form among the digit's forms
    brush: tuple[float, float]  # pen width range, grid pixels, drawn uniformly
    points: tuple[Point, ...]
    strokes: tuple[Stroke, ...]
    options: tuple[Option, ...] = ()
    slant: tuple[float, float] = (-0.25, 0.55)  # realistic rendering: shear range, columns per row going up


@dataclass(frozen=True)
class Realism:
    """How the realistic (MNIST-like) rendering differs from the notebook's; measured in bench/realism.py."""

    brush_scale: float = 0.75  # pen width = the style's brush x this, before fitting the box
    pressure: float = 0.7  # pen pressure at each stroke end is U(pressure, 1), linear along the Bezier parameter
    box: float = 20.0  # the pen's ink extent is scaled (aspect kept) to fit this square, grid px, as MNIST's 20x20
    # each pixel x U(lo, hi): full ink lands on 251..254, 255 for 2% (MNIST's cores: mostly 252-254, 255 rare)
    grain: tuple[float, float] = (250.5 / 255.0, 254.6 / 255.0)
    edge: float = 3.0  # pen edge sharpness (kernel.profile): solid to 2/3 of the radius; the notebook's is 1


REALISM = Realism()


def support(name: str, a: str, b: str, div: float, when: str | None = None) -> Point:
    """A quadratic Bezier support jittered about the midpoint of chord ``ab``."""
    return Point(name, (0.0, 0.0), near=(a, b), chord=(a, b, div), when=when)


def grid(jitter: float, **coords: tuple[float, float]) -> tuple[Point, ...]:
    """Absolute points with one shared jitter multiplier, in keyword order."""
    return tuple(Point(name, at, jitter) for name, at in coords.items())


def cubics(*names: str) -> tuple[Stroke, ...]:
    """Consecutive cubic strokes through ``names`` (4, 7, 10, ... names)."""
    return tuple(Stroke(tuple(names[i:i + 4])) for i in range(0, len(names) - 1, 3))


THIN, THICK = (2.8, 5.0), (3.2, 5.0)
# realistic slant ranges (Style.slant): the default leans 0.15 on average; these move a class's mean
# slant onto MNIST's (bench/realism.py: MNIST 0 leans 0.20, 3 and 8 0.07-0.18 with stronger glyph lean, 7 0.02)
UPRIGHT_LEAN, LESS_LEAN = (-0.15, 0.65), (-0.4, 0.4)

STYLES: tuple[Style, ...] = (
    Style(0, "oval", 1.0, THIN,
          grid(2.0, A=(7, 14), B=(7, 7), C=(21, 7), D=(21, 14), E=(21, 21), F=(7, 21), G=(7, 13)),
          cubics(*"ABCDEFG"),
          slant=UPRIGHT_LEAN),
    Style(1, "stroke", 1.0, THIN,
          # realistic: flag end A at (8, 12), not (6, 11): fitted to the 20x20 box and slanted, the flatter
          # flag read as a 7's bar for 47% of jitter-0 flag-only 1s (bench/recognition.py; 0% at (8, 12))
          (Point("B", (4, 15)),
           Point("A", (6, 11), when="flag", realistic=(8, 12)), support("sAB", "A", "B", 2.1, when="flag"),
           Point("C", (21, 14), jitter=3.0), support("sBC", "B", "C", 3.5),
           Point("D", (0, -4), near=("C",), when="base"), Point("E", (0, 4), near=("C",), when="base")),
          (Stroke(("A", "sAB", "B"), when="flag"), Stroke(("B", "sBC", "C")),
           Stroke(("D", "C", "E"), when="base")),
          (Option("flag", 0.5), Option("base", 0.5, requires="flag"))),
    Style(2, "swan", 1.0, THIN,
          grid(2.0, A=(7, 7), B=(5, 21), C=(16, 16), D=(21, 7), E=(18, 7), F=(19, 14), G=(21, 21)),
          cubics(*"ABCDEFG")),
    Style(3, "two-bowls", 1.0, THIN,
          grid(2.0, A=(7, 9), B=(7, 24), C=(14, 24), D=(14, 11), E=(14, 24), F=(21, 24), G=(21, 9)),
          cubics(*"ABCDEFG"),
          slant=LESS_LEAN),
    Style(4, "lifted", 0.85, THIN,
          grid(1.0, A=(7, 10), B=(14, 9), C=(14, 19), D=(7, 16), E=(21, 15))
          + (support("sAB", "A", "B", 4), support("sBC", "B", "C", 2.1), support("sDE", "D", "E", 4)),
          (Stroke(("A", "sAB", "B")), Stroke(("B", "sBC", "C")), Stroke(("D", "sDE", "E")))),
    Style(4, "one-stroke", 0.15, THIN,
          grid(1.0, A=(14, 18), B=(14, 9), C=(7, 15), D=(21, 14))
          + (support("sAB", "A", "B", 4), support("sBC", "B", "C", 3.1), support("sCD", "C", "D", 4)),
          (Stroke(("A", "sAB", "B")), Stroke(("B", "sBC", "C")), Stroke(("C", "sCD", "D")))),
    Style(5, "flag-top", 1.0, THIN,
          (Point("A", (8, 8)), Point("B", (7, 21)), Point("C", (0, 0), jitter=0.5, near=("A",)),
           Point("D", (14, 7), jitter=2.0))
          + grid(1.0, E=(14, 23), F=(21, 21), G=(21, 7))
          + (support("sAB", "A", "B", 4), support("sCD", "C", "D", 3.1)),
          (Stroke(("A", "sAB", "B")), Stroke(("C", "sCD", "D"))) + cubics(*"DEFG")),
    Style(6, "loop", 1.0, THIN,
          # realistic: top A at (6, 16) and loop top E at (12, 20), not (7, 21) and (9, 23): fitted to the
          # 20x20 box, the wide top read as 5 for all jitter-0 6s (bench/recognition.py; 0.3% with these)
          (Point("A", (7, 21), realistic=(6, 16)), Point("B", (8, 5)), Point("C", (21, 9)), Point("D", (21, 21)),
           Point("E", (9, 23), realistic=(12, 20)), Point("F", (14, 12)), Point("G", (17, 10))),
          cubics(*"ABCDEFG"),
          # the realistic 6 leans -0.3 by itself; leaning it like MNIST's 6s (+0.4 more) made 11% read as 5
          slant=UPRIGHT_LEAN),
    Style(7, "bar-stem", 1.0, THICK,
          # stem end C at row 24, not the notebook's 21: with the short stem an MNIST-trained
          # CNN read 23% of jitter-0 7s as 2 or 3 (bench/recognition.py; 1.6% with row 24)
          grid(1.0, A=(7, 9), B=(7, 21), C=(24, 14))
          + (Point("T", (1.6, 0), jitter=0.0, near=("A",), when="flag"),
             support("sAB", "A", "B", 3), support("sBC", "B", "C", 2.1),
             Point("M", (0, 0), jitter=0.0, near=("B", "C"), when="dash"),
             Point("D", (0, -2.5), near=("B", "C"), chord=("B", "C", 7.1), when="dash"),
             Point("E", (0, 2.5), near=("B", "C"), chord=("B", "C", 7.1), when="dash")),
          (Stroke(("A", "T"), when="flag"), Stroke(("A", "sAB", "B")), Stroke(("B", "sBC", "C")),
           Stroke(("D", "M", "E"), when="dash")),
          (Option("flag", 0.15), Option("dash", 0.10)),
          slant=LESS_LEAN),
    Style(8, "figure", 1.0, THICK,
          grid(2.0, A=(7, 17), B=(7, 8), C=(14, 8), D=(14, 13), E=(14, 20), F=(21, 20))
          + (Point("G", (21, 13), jitter=1.0),)
          + grid(2.0, H=(21, 8), I=(14, 8), J=(14, 14), K=(14, 20), L=(7, 20), M=(7, 17)),
          cubics(*"ABCDEFGHIJKLM"),
          slant=LESS_LEAN),
    Style(9, "loop-stem", 1.0, THICK,
          # stem from D=(8, 17) to E=(23, 15), not (7, 16) to (21, 14): the notebook's closed loop
          # on a short stem read as 8 for 10% of jitter-0 9s (1.3% with these two points)
          grid(1.0, A=(7, 15), B=(6, 3), C=(21, 11), D=(8, 17), E=(23, 15))
          + (support("sDE", "D", "E", 3),),
          cubics(*"ABCD") + (Stroke(("D", "sDE", "E")),)),
)

MAX_OPTIONS = 4  # option coin slots per style (variant bits 0..3)
FORM_SHIFT = 8  # variant = form index << FORM_SHIFT | option bits


class Table(NamedTuple):
    """Flat arrays of the compiled glyph table (what the numba kernel reads)."""

    label_styles: np.ndarray  # (10, 2) int64: first style index, style count
    style: np.ndarray  # (S, 6) float64: cumulative form weight, brush lo, brush hi, first option index, slant lo, hi
    style_ranges: np.ndarray  # (S, 4) int64: point start/end, stroke start/end
    option: np.ndarray  # (O, 2) float64: probability, required option index within style (-1 none)
    style_options: np.ndarray  # (S,) int64: option count
    point: np.ndarray  # (P, 6) float64: at row, at col, jitter multiplier, chord div (0 = none), realistic at row, col
    point_refs: np.ndarray  # (P, 6) int64: near a, near b (-1), chord p, chord q (-1), when option (-1), pad
    stroke: np.ndarray  # (K, 6) int64: n points, 4 point indices (-1), when option (-1)
    realism: np.ndarray  # (6,) float64: the Realism fields in order (grain as lo, hi)
    # point, option and stroke references are local to their style (point 0 = the style's first)


def compile_table(styles: tuple[Style, ...] = STYLES, realism: Realism = REALISM) -> Table:
    """Check the table and flatten it; point/stroke indices are global."""
    styles = tuple(sorted(styles, key=lambda s: s.label))  # stable: keeps form order per digit
    label_styles = np.zeros((10, 2), np.int64)
    style, ranges, n_opts, option = [], [], [], []
    point, refs, stroke = [], [], []
    for label in range(10):
        forms = [s for s in styles if s.label == label]
        if not forms:
            raise ValueError(f"glyph table: digit {label} has no style")
        label_styles[label] = (len(style), len(forms))
        total, cum = sum(s.weight for s in forms), 0.0
        for s in forms:
            cum += s.weight / total
            opt_index = {o.name: k for k, o in enumerate(s.options)}
            if len(s.options) > MAX_OPTIONS:
                raise ValueError(f"glyph {label}/{s.form}: more than {MAX_OPTIONS} options")
            style.append((cum, s.brush[0], s.brush[1], len(option), s.slant[0], s.slant[1]))
            for o in s.options:
                option.append((o.p, opt_index[o.requires] if o.requires else -1))
            n_opts.append(len(s.options))
            names: dict[str, int] = {}

            def ref(name: str) -> int:
                if name not in names:
                    raise ValueError(f"glyph {label}/{s.form}: point {name!r} is used before it is defined")
                return names[name]

            p0 = len(point)
            for pt in s.points:
                near = [ref(n) for n in pt.near] + [-1] * (2 - len(pt.near))
                chord = [ref(pt.chord[0]), ref(pt.chord[1])] if pt.chord else [-1, -1]
                point.append((pt.at[0], pt.at[1], pt.jitter, pt.chord[2] if pt.chord else 0.0) + (pt.realistic or pt.at))
                refs.append(near + chord + [opt_index[pt.when] if pt.when else -1, 0])
                names[pt.name] = len(point) - 1 - p0  # indices local to the style
            k0 = len(stroke)
            for st in s.strokes:
                if not 2 <= len(st.via) <= 4:
                    raise ValueError(f"glyph {label}/{s.form}: a stroke needs 2..4 points, got {st.via}")
                idx = [ref(n) for n in st.via] + [-1] * (4 - len(st.via))
                stroke.append([len(st.via)] + idx + [opt_index[st.when] if st.when else -1])
            ranges.append((p0, len(point), k0, len(stroke)))
    return Table(label_styles, np.array(style, np.float64), np.array(ranges, np.int64),
                 np.array(option or [(0.0, -1)], np.float64).reshape(-1, 2), np.array(n_opts, np.int64),
                 np.array(point, np.float64), np.array(refs, np.int64), np.array(stroke, np.int64),
                 np.array([realism.brush_scale, realism.pressure, realism.box, *realism.grain, realism.edge],
                          np.float64))


def variants(label: int, styles: tuple[Style, ...] = STYLES) -> list[tuple[int, str]]:
    """Every legal variant code of ``label`` with a readable name, e.g. (0x003, 'stroke+flag+base')."""
    out = []
    forms = [s for s in sorted(styles, key=lambda s: s.label) if s.label == label]
    for f, s in enumerate(forms):
        for bits in range(1 << len(s.options)):
            on = [o for k, o in enumerate(s.options) if bits >> k & 1]
            if all(o.requires is None or o.requires in {x.name for x in on} for o in on):
                out.append(((f << FORM_SHIFT) | bits, "+".join([s.form] + [o.name for o in on])))
    return out


if __name__ == "__main__":
    for d in range(10):
        print(d, ", ".join(f"{code:#05x} {name}" for code, name in variants(d)))
