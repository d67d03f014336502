"""Shape checks as plain data, and the ensemble forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sweeper.core.checks import check_shapes, shape_metrics
from sweeper.core.ensemble import build_ensemble
from sweeper.core.forward import ensemble_forward, forward_check, prediction_spread


def test_linear_shapes_are_exact_tuples():
    records = check_shapes(build_ensemble(0, 64, 16), "linear", 64, 16)
    assert records == [
        {"leaf": "bias", "expected": [64, 16], "found": [64, 16], "ok": True},
        {"leaf": "kernel", "expected": [64, 16, 16], "found": [64, 16, 16], "ok": True},
    ]
    assert shape_metrics(records) == {
        "shape/ok": True,
        "shape/leading": 64,
        "shape/kernel": [64, 16, 16],
        "shape/bias": [64, 16],
        "shape/failed_leaves": [],
    }


def test_a_wrong_lane_count_fails_every_leaf():
    records = check_shapes(build_ensemble(0, 4, 3), "linear", 5, 3)
    assert [r["ok"] for r in records] == [False, False]
    metrics = shape_metrics(records)
    assert metrics["shape/ok"] is False and metrics["shape/leading"] == 4
    assert metrics["shape/failed_leaves"] == ["bias", "kernel"]


def test_mlp_expected_shapes_come_from_one_traced_model():
    records = check_shapes(build_ensemble(0, 3, 5, model="mlp"), "mlp", 3, 5)
    assert {r["leaf"]: tuple(r["expected"]) for r in records} == {
        "hidden.bias": (3, 5),
        "hidden.kernel": (3, 5, 5),
        "out.bias": (3, 5),
        "out.kernel": (3, 5, 5),
    }
    assert all(r["ok"] for r in records)


def test_forward_applies_each_lane_to_the_shared_batch():
    ensemble = build_ensemble(0, 6, 4)
    x = jax.random.normal(jax.random.key(1), (10, 4))
    out = ensemble_forward(ensemble, x)
    assert out.shape == (6, 10, 4)
    kernel, bias = np.asarray(ensemble.kernel[...]), np.asarray(ensemble.bias[...])
    expected = np.einsum("bf,nfg->nbg", np.asarray(x), kernel) + bias[:, None, :]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)


def test_prediction_spread_is_the_std_across_lanes():
    outputs = jax.random.normal(jax.random.key(2), (5, 3, 4))
    expected = np.asarray(outputs, np.float64).std(axis=0).mean()
    assert float(prediction_spread(outputs)) == pytest.approx(expected, rel=1e-5)
    assert float(prediction_spread(jnp.broadcast_to(outputs[:1], (5, 3, 4)))) == 0.0


def test_forward_check_metrics():
    healthy = forward_check(build_ensemble(0, 8, 4, model="mlp"), 4, batch=7)
    assert healthy["forward/shape"] == [8, 7, 4] and healthy["forward/finite"]
    assert healthy["forward/spread"] > 0
    collapsed = forward_check(build_ensemble(0, 8, 4, constructor="pitfall_broadcast"), 4, batch=7)
    assert collapsed["forward/spread"] == 0.0
