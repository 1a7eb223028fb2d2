"""model.interpolate: weights mixed exactly, inputs untouched, mismatches refused."""

import numpy as np
import pytest

from miner.config import HardmineError


@pytest.fixture(scope="module")
def pair():
    import keras
    from model.cnn import build_model
    keras.utils.set_random_seed(0)
    start, tuned = build_model("seed"), build_model("seed")  # two different random inits, one architecture
    return start, tuned


def test_mix_is_the_weighted_mean_of_the_two_models(pair):
    from model.interpolate import interpolate
    start, tuned = pair
    before = [w.copy() for w in start.get_weights()], [w.copy() for w in tuned.get_weights()]
    mixed = interpolate(start, tuned, 0.25)
    for m, a, b in zip(mixed.get_weights(), *before):
        np.testing.assert_allclose(m, 0.75 * a + 0.25 * b, rtol=1e-6, atol=1e-7)
    for now, was in zip((start.get_weights(), tuned.get_weights()), before):  # neither input changed
        assert all(np.array_equal(x, y) for x, y in zip(now, was))


def test_ends_predict_like_their_models(pair):
    from model.evaluate import predict_proba
    from model.interpolate import interpolate
    start, tuned = pair
    x = np.random.default_rng(1).integers(0, 256, (16, 28, 28), dtype=np.uint8)  # (16, 28, 28) uint8
    for alpha, model in ((0.0, start), (1.0, tuned)):
        np.testing.assert_allclose(predict_proba(interpolate(start, tuned, alpha), x), predict_proba(model, x),
                                   atol=1e-6)
    assert not np.allclose(predict_proba(start, x), predict_proba(tuned, x), atol=1e-3)  # the ends differ


def test_refuses_other_architectures_and_alphas_outside_0_1(pair):
    from model.cnn import build_model
    from model.interpolate import interpolate
    start, _ = pair
    with pytest.raises(HardmineError, match="differ in architecture"):
        interpolate(start, build_model("strong"), 0.5)
    with pytest.raises(HardmineError, match=r"alpha=1.5 must be in \[0, 1\]"):
        interpolate(start, start, 1.5)


def test_round_task_replaces_the_fine_tune_by_the_mix(pair, tmp_path):
    import keras
    from flows.tasks import _interpolate
    start, tuned = pair
    start.save(tmp_path / "current.keras")
    tuned.save(tmp_path / "round-1.keras")
    _interpolate(tmp_path / "current.keras", tmp_path / "round-1.keras", 0.5)
    mixed = keras.models.load_model(tmp_path / "round-1.keras")
    for m, a, b in zip(mixed.get_weights(), start.get_weights(), tuned.get_weights()):
        np.testing.assert_allclose(m, 0.5 * (a + b), rtol=1e-6, atol=1e-7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.keras", "round-1.keras"]  # no temporary left
