"""The glyph table: every digit and variant draws inside the frame; variant odds are the notebook's."""

import numpy as np
import pytest

from miner import generate, is_valid
from miner.glyphs import STYLES, Point, Stroke, Style, compile_table, variants

ALL_VARIANTS = [(d, code, name) for d in range(10) for code, name in variants(d)]


def test_every_notebook_variant_is_in_the_table():
    names = {d: [name for _, name in variants(d)] for d in range(10)}
    assert names[1] == ["stroke", "stroke+flag", "stroke+flag+base"]  # base only with a flag
    assert names[4] == ["lifted", "one-stroke"]
    assert names[7] == ["bar-stem", "bar-stem+flag", "bar-stem+dash", "bar-stem+flag+dash"]
    assert all(len(names[d]) == 1 for d in (0, 2, 3, 5, 6, 8, 9))


@pytest.mark.parametrize("label,code,name", ALL_VARIANTS, ids=[f"{d}-{n}" for d, _, n in ALL_VARIANTS])
def test_every_variant_at_jitter_0_to_5_puts_its_ink_inside_the_frame(label, code, name):
    n = 40
    for jitter in range(6):
        images, rec = generate(np.full(n, label), float(jitter), seed=11, variants=np.full(n, code))
        assert (rec["variant"] == code).all()
        assert (rec["ink"] >= 5).all(), (name, jitter)  # something visible in every image
        if jitter <= 1:
            assert (rec["ink_out"] == 0).all() and is_valid(rec).all(), (name, jitter)
        assert np.median(rec["ink_out"]) <= 0.05, (name, jitter)
        if jitter == 0:  # the undisturbed glyph keeps clear of the border, as MNIST digits do
            border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
            assert (border == 0).all(), name


def _share(label, n=4000):
    _, rec = generate(np.full(n, label), 1.0, seed=99)
    return rec["variant"], n


def _close(count, n, p):  # within 4.5 binomial standard deviations
    return abs(count - n * p) <= 4.5 * np.sqrt(n * p * (1 - p))


def test_variant_frequencies_follow_the_notebook():
    v1, n = _share(1)
    assert _close((v1 & 1).sum(), n, 0.5) and _close((v1 == 3).sum(), n, 0.25) and not (v1 == 2).any()
    v4, n = _share(4)
    assert _close((v4 >> 8 == 1).sum(), n, 0.15)
    v7, n = _share(7)
    assert _close((v7 & 1).sum(), n, 0.15) and _close((v7 & 2 > 0).sum(), n, 0.10)


def test_a_new_style_is_a_table_entry():
    extra = Style(1, "plain-bar", 1.0, (3.0, 3.0), (Point("A", (5, 14), 0.0), Point("B", (22, 14), 0.0)),
                  (Stroke(("A", "B")),))
    table = compile_table(STYLES + (extra,))
    first, count = table.label_styles[1]
    assert count == 2 and table.style[first + 1, 0] == pytest.approx(1.0)  # cumulative weight closes at 1
    assert table.style[first, 0] == pytest.approx(0.5)  # two equally weighted forms of '1'


def test_table_refuses_a_stroke_through_an_unknown_point():
    bad = Style(0, "broken", 1.0, (3, 4), (Point("A", (7, 7)),), (Stroke(("A", "Z")),))
    with pytest.raises(ValueError, match="point .Z. is used before it is defined"):
        compile_table(tuple(s for s in STYLES if s.label) + (bad,))
