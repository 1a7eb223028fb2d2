"""The miner batch API: determinism, regeneration, eval set, validity, normalisation, bad input."""

import subprocess
import sys

import numba
import numpy as np
import pytest

from miner import GENERATOR_VERSION, RECORD_DTYPE, GeneratorConfig, eval_set, generate, is_valid, regenerate
from miner.config import HardmineError
from miner.settings import checked_replace
from miner.generator import EVAL_SEED, NORMALIZED, RESERVED_SEEDS

LABELS = np.arange(300) % 10


def test_records_carry_every_contract_field():
    images, rec = generate([3, 1], 1.5, seed=4, start=10)
    assert images.shape == (2, 28, 28) and images.dtype == np.uint8
    assert rec.dtype == RECORD_DTYPE
    for name in ("label", "jitter", "brush", "variant", "seed", "index", "version", "ink_out", "ink"):
        assert name in rec.dtype.names
    assert rec["index"].tolist() == [10, 11] and rec["seed"].tolist() == [4, 4]
    assert (rec["version"] == GENERATOR_VERSION).all() and rec["label"].tolist() == [3, 1]
    assert np.allclose(rec["ink"], images.sum(axis=(1, 2)) / 255.0)
    assert ((rec["brush"] >= 2.8) & (rec["brush"] <= 5.0)).all()


def test_image_depends_only_on_seed_index_label_jitter():
    jit = np.linspace(0, 5, len(LABELS))
    full, rec = generate(LABELS, jit, seed=8)
    part, _ = generate(LABELS[100:137], jit[100:137], seed=8, start=100)  # other batch size and offset
    assert np.array_equal(part, full[100:137])
    order = np.random.default_rng(0).permutation(len(LABELS))
    shuffled = regenerate(rec[order])  # another call order
    assert np.array_equal(shuffled, full[order])
    other, _ = generate(LABELS, jit, seed=9)
    assert (other != full).any(axis=(1, 2)).mean() > 0.95


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_images(threads):
    reference, _ = generate(LABELS, 2.0, seed=3)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        again, _ = generate(LABELS, 2.0, seed=3)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(again, reference)


def test_regenerate_is_bit_identical_including_mixed_seeds_and_jitter():
    a, ra = generate(LABELS[:50], 0.3, seed=1)  # 0.3 is not a float32: stored and drawn as one
    b, rb = generate(LABELS[:50], np.arange(50) / 10, seed=2**62 - 1, start=2**40)
    both = np.concatenate([ra, rb])
    assert np.array_equal(regenerate(both), np.concatenate([a, b]))


def test_regenerate_refuses_other_versions_and_foreign_arrays():
    _, rec = generate([1], 0.0, seed=0)
    rec["version"] = GENERATOR_VERSION + 1
    with pytest.raises(HardmineError, match="cannot be redrawn by version"):
        regenerate(rec)
    with pytest.raises(HardmineError, match=r"records lack field\(s\) label"):
        regenerate(np.zeros(3))


def test_eval_set_is_fixed_and_uses_the_reserved_seed():
    images, rec = eval_set(per_cell=2, jitters=(0, 3))
    assert images.shape == (40, 28, 28)
    assert rec["label"].tolist() == ([d for d in range(10) for _ in range(2)]) * 2
    assert rec["jitter"].tolist() == [0.0] * 20 + [3.0] * 20
    assert (rec["seed"] == EVAL_SEED).all() and EVAL_SEED >= RESERVED_SEEDS
    assert np.array_equal(eval_set(per_cell=2, jitters=(0, 3))[0], images)


def test_mining_seeds_stay_below_the_reserved_range():
    with pytest.raises(HardmineError, match="reserved for the eval set"):
        generate([1], 0.0, seed=RESERVED_SEEDS)
    generate([1], 0.0, seed=RESERVED_SEEDS, reserved=True)


@pytest.mark.parametrize("labels,jitter,match", [
    ([10], 0.0, "label 10 is outside 0..9"),
    ([-1], 0.0, "label -1 is outside 0..9"),
    ([1.5], 0.0, "labels must be integers 0..9"),
    ([[1, 2]], 0.0, "labels must be a 1-D sequence"),
    ([1], -0.5, "jitter must be >= 0"),
    ([1], float("nan"), "jitter must be finite"),
    ([1], float("inf"), "jitter must be finite"),
    ([1], 20.0, "exceeds max_jitter=14.0"),
    ([1, 2], [1.0, 2.0, 3.0], "jitter must be a number or have shape"),
    ([1], "big", "jitter must be a number"),
])
def test_bad_input_is_refused_with_one_line(labels, jitter, match):
    with pytest.raises(HardmineError, match=match) as info:
        generate(labels, jitter, seed=0)
    assert "\n" not in str(info.value)


def test_bad_seed_start_and_variant():
    with pytest.raises(HardmineError, match="seed -1 must be an integer"):
        generate([1], 0.0, seed=-1)
    with pytest.raises(HardmineError, match="start -2 must be an integer"):
        generate([1], 0.0, seed=0, start=-2)
    with pytest.raises(HardmineError, match=r"variant 0x2 does not exist for digit 1"):
        generate([1], 0.0, seed=0, variants=[2])  # a base without a flag
    for code in (-5, 1 << 20, 0x200):
        with pytest.raises(HardmineError, match="does not exist for digit 4"):
            generate([4], 0.0, seed=0, variants=[code])
    generate([4, 4], 0.0, seed=0, variants=[-1, 0x100])


def test_is_valid_uses_the_config_thresholds():
    _, rec = generate(np.full(400, 1), 5.0, seed=6, variants=np.full(400, 3))
    ok = is_valid(rec)
    assert ok.any() and not ok.all()
    assert np.array_equal(ok, (rec["ink_out"] <= 0.02) & (rec["ink"] >= 15.0))
    loose = checked_replace(GeneratorConfig(), {"max_ink_out": "1.0", "min_ink": "0"})  # text, as typed
    assert is_valid(rec, loose).all()
    with pytest.raises(HardmineError, match=r"GeneratorConfig: max_ink_out=2 is out of range; use a value in \[0, 1\]"):
        GeneratorConfig(max_ink_out=2.0)


def test_normalized_digits_fill_a_20_pixel_box_centred_by_mass():
    images, rec = generate(LABELS[:100], 1.0, seed=5, config=GeneratorConfig(normalize=True))
    assert (rec["variant"] & NORMALIZED).all()
    rows = cols = np.arange(28)
    for img in images.astype(float):
        on = np.argwhere(img > 0)
        side = max(np.ptp(on[:, 0]), np.ptp(on[:, 1])) + 1
        assert 19 <= side <= 22  # 20 plus bilinear spill
        mass = img.sum()
        assert abs(img.sum(1) @ rows / mass - 14) < 0.6 and abs(img.sum(0) @ cols / mass - 14) < 0.6
    raw, raw_rec = generate(LABELS[:100], 1.0, seed=5)
    assert not (raw_rec["variant"] & NORMALIZED).any() and (raw != images).any(axis=(1, 2)).all()
    mixed = np.concatenate([rec[::2], raw_rec[1::2]])  # regenerate sorts out both kinds
    assert np.array_equal(regenerate(mixed), np.concatenate([images[::2], raw[1::2]]))


def test_importing_miner_is_light_and_a_second_process_uses_the_compile_cache():
    generate([0], 0.0, seed=0)  # make sure this process compiled (and cached) the kernel
    code = (
        "import sys, numpy as np\n"
        "import miner\n"
        "assert 'tensorflow' not in sys.modules and 'numba' not in sys.modules, 'heavy import'\n"
        "miner.generate(np.arange(10), 1.0, seed=0)\n"
        "from miner.kernel import render\n"
        "print(sum(render.stats.cache_misses.values()), sum(render.stats.cache_hits.values()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    misses, hits = map(int, out.stdout.split())
    assert misses == 0 and hits >= 1
