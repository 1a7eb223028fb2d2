"""The promotion guard: MNIST val, the robustness suite's mean and each of its classes.

Known-answer rows first, then a real (tiny) model deliberately damaged on one
class, scored on the real suite, refused by the guard.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.guard import Tolerances, verdict


def _row(val=0.99, mean=0.90, classes=None) -> dict:
    row = {"val_acc": val, "rob_val_mean": mean}
    row.update({f"rob_val_c{d}": (classes or {}).get(d, 0.9) for d in range(10)})
    return row


def test_first_model_is_promoted():
    assert verdict(_row(), None, Tolerances()) == (True, "promoted: no current model")


def test_within_every_tolerance_is_promoted():
    ok, reason = verdict(_row(0.989, 0.896, {4: 0.891}), _row(), Tolerances())
    assert ok and reason == "promoted: within tolerances"


@pytest.mark.parametrize("new, failing", [
    (_row(val=0.985), "MNIST val 0.9850 < 0.9900 - 0.002"),
    (_row(mean=0.89), "suite mean 0.8900 < 0.9000 - 0.005"),
    (_row(classes={6: 0.85}), "suite class 6 0.8500 < 0.9000 - 0.03"),
])
def test_a_loss_beyond_tolerance_is_refused_and_named(new, failing):
    ok, reason = verdict(new, _row(), Tolerances())
    assert not ok and reason == f"refused: {failing}"


def test_every_failure_is_named():
    ok, reason = verdict(_row(val=0.9, classes={1: 0.5, 2: 0.6}), _row(), Tolerances())
    assert not ok
    assert reason.startswith("refused: MNIST val") and "suite class 1" in reason and "suite class 2" in reason


def test_a_current_row_from_before_the_suite_compares_what_it_has():
    ok, reason = verdict(_row(), {"val_acc": 0.99, "rob_val_mean": float("nan")}, Tolerances())
    assert ok and "not compared: suite mean, suite class 0" in reason


def test_guard_refuses_a_model_damaged_on_one_class():
    keras = pytest.importorskip("keras")
    from model import robustness
    from model.cnn import build_model
    from model.data import load_mnist
    from model.evaluate import evaluate

    data = load_mnist()
    x, y = data.x_train[:2000], data.y_train[:2000]
    keras.utils.set_random_seed(0)
    model = build_model("seed")
    model.fit(x[..., None].astype(np.float32), y, batch_size=64, epochs=2, verbose=0)
    tiny = type(data)(x, y, data.x_val[:300], data.y_val[:300], data.x_test[:0], data.y_test[:0], "tiny")
    suite = robustness.for_split(tiny, "val")

    def columns(m):
        s = evaluate(m, tiny, suite=suite)
        return {"val_acc": s["val_acc"], **robustness.summary_columns(s["robustness"], "rob_val")}

    good = columns(model)
    # damage: the softmax unit of class 3 loses 4 nats, so hard 3s read as something else
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    bias[3] -= 4.0
    dense.set_weights([kernel, bias])
    damaged = columns(model)
    assert damaged["rob_val_c3"] < good["rob_val_c3"] - Tolerances().suite_class
    ok, reason = verdict(damaged, good, Tolerances())
    assert not ok and "suite class 3" in reason
    assert verdict(good, good, Tolerances())[0]  # the same model against itself passes
