"""Depth 2: the job function in-process, with a real Hydra config and real offline W&B runs."""

import json

import jax
import numpy as np
import pytest
from jax._src import dispatch

from sweeper.config import SweeperConfig
from sweeper.core.ensemble import build_ensemble
from sweeper.core.measure import compiled_measure
from sweeper.job import run_job

from .helpers.compose import run_in_process
from .helpers.wandb_files import inspect_run, runs_under

REQUIRED_METRICS = {
    "count",
    "shape/ok",
    "shape/leading",
    "shape/kernel",
    "shape/bias",
    "diversity/distinct_lanes",
    "diversity/min_pairwise_l2",
    "diversity/mean_pairwise_l2",
    "diversity/max_abs_cosine",
    "diversity/ok",
    "time/compile_s",
    "time/build_s",
    "memory/param_bytes",
}


def test_a_healthy_job_records_everything(tmp_path):
    record = run_in_process(["seed=3", "num_inits=8", "features=4"], tmp_path)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == record
    assert record["status"] == "ok" and record["error"] is None
    assert record["config"]["seed"] == 3 and record["config"]["num_inits"] == 8 and record["config"]["features"] == 4
    assert record["config"]["constructor"] == "vmap" and record["config"]["model"] == "linear"
    metrics = record["metrics"]
    assert metrics.keys() >= REQUIRED_METRICS
    assert metrics["count"] == [8, 4, 8]
    assert metrics["shape/kernel"] == [8, 4, 4] and metrics["shape/bias"] == [8, 4]
    assert metrics["diversity/distinct_lanes"] == 8 and metrics["diversity/ok"] is True
    assert metrics["memory/param_bytes"] == 4 * (8 * 4 * 4 + 8 * 4)
    assert metrics["memory/estimated_peak_bytes"] >= 3 * metrics["memory/param_bytes"]
    assert metrics["memory/process_peak_bytes"] > metrics["memory/param_bytes"]  # measured, not estimated
    assert "memory/device_peak_bytes" in metrics  # None on CPU: JAX keeps no count there
    # the record's numbers are the ensemble's numbers, computed independently here
    kernel = np.asarray(build_ensemble(3, 8, 4).kernel[...], np.float64).reshape(8, -1)
    dists = [np.linalg.norm(kernel[i] - kernel[j]) for i in range(8) for j in range(i + 1, 8)]
    assert metrics["diversity/min_pairwise_l2"] == pytest.approx(min(dists), rel=1e-4)
    assert record["env"]["prng_impl"] and record["env"]["jax"] and record["env"]["flax"]


def test_the_wandb_run_holds_the_metrics_and_a_zero_exit_code(tmp_path):
    record = run_in_process(["seed=1", "num_inits=4", "features=4", "wandb.tags=[a,b]"], tmp_path)
    [run_dir] = runs_under(tmp_path)
    assert record["wandb"] == str(run_dir)
    run = inspect_run(run_dir)
    assert run["state"] == "finished" and run["exit_code"] == 0
    assert run["name"] == "features=4,num_inits=4,seed=1,wandb.tags=[a,b]"
    assert run["tags"] == ["a", "b"]
    for key in ("diversity/min_pairwise_l2", "diversity/distinct_lanes", "time/build_s", "memory/param_bytes"):
        assert run["summary"][key] == pytest.approx(record["metrics"][key])
    assert run["summary"]["status"] == "ok"
    assert run["config"]["num_inits"] == 4 and run["config"]["env"]["jax"] == record["env"]["jax"]
    lanes_table = next(run_dir.glob("files/media/table/lanes_*.table.json"))
    table = json.loads(lanes_table.read_text())
    assert table["columns"] == ["lane", "kernel_mean", "kernel_std", "nearest_l2"]
    assert [row[0] for row in table["data"]] == [0, 1, 2, 3]
    assert run["summary"]["kernel_values"]["_type"] == "histogram"


def test_a_failing_check_fails_the_job_and_its_wandb_run(tmp_path):
    record = run_in_process(["num_inits=16", "features=4", "constructor=pitfall_broadcast"], tmp_path)
    assert record["status"] == "failed"
    assert record["error"] == "all 16 lanes identical: was nnx.split_rngs forgotten?"
    assert record["metrics"]["diversity/distinct_lanes"] == 1  # the metrics are still recorded
    run = inspect_run(runs_under(tmp_path)[0])
    assert run["exit_code"] != 0 and run["summary"]["error"] == record["error"]


def test_an_exception_is_a_failed_record_with_its_traceback_logged(tmp_path):
    record = run_in_process(["constructor=pitfall_no_split", "num_inits=2", "features=2"], tmp_path)
    assert record["status"] == "failed" and record["error"].startswith("PitfallError: constructor=pitfall_no_split")
    assert "\n" not in record["error"]
    assert inspect_run(runs_under(tmp_path)[0])["exit_code"] != 0


def test_invalid_settings_are_recorded_without_building_anything(tmp_path):
    record = run_in_process(["num_inits=0"], tmp_path)
    assert record["status"] == "failed" and record["error"].startswith("num_inits=0: must be an integer >= 1")
    assert record["metrics"] == {}
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"


def test_two_jobs_in_one_process_never_share_a_wandb_run(tmp_path):
    first = run_in_process(["seed=0", "num_inits=2", "features=2", "constructor=pitfall_no_split"], tmp_path / "a")
    second = run_in_process(["seed=1", "num_inits=2", "features=2"], tmp_path / "b")
    [run_a], [run_b] = runs_under(tmp_path / "a"), runs_under(tmp_path / "b")
    assert first["wandb"] != second["wandb"]
    assert inspect_run(run_a)["exit_code"] != 0 and inspect_run(run_b)["exit_code"] == 0
    assert inspect_run(run_b)["summary"]["status"] == "ok"


def settings(seed, n, f):
    return SweeperConfig(seed=seed, num_inits=n, features=f)


def test_a_second_seed_of_a_shape_compiles_and_traces_nothing():
    compiles = []

    def listen(event, duration, **_):
        if event in (dispatch.BACKEND_COMPILE_EVENT, dispatch.JAXPR_TRACE_EVENT):
            compiles.append(event)

    first = run_job(settings(0, 6, 5))
    assert first.record["metrics"]["time/compile_s"] > 0
    misses = compiled_measure.cache_info().misses
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        second = run_job(settings(1, 6, 5))
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert second.record["status"] == "ok" and compiles == []
    assert compiled_measure.cache_info().misses == misses
    assert second.record["metrics"]["time/compile_s"] < first.record["metrics"]["time/compile_s"]


def test_the_lane_table_and_histogram_are_the_kernels_numbers():
    outcome = run_job(settings(4, 8, 5))
    kernel = np.asarray(build_ensemble(4, 8, 5).kernel[...])
    lanes = kernel.reshape(8, -1)
    np.testing.assert_array_equal(outcome.kernel_sample, kernel.reshape(-1))  # fewer than 100,000 values: all
    assert [row["lane"] for row in outcome.lanes] == list(range(8))
    np.testing.assert_allclose([r["kernel_mean"] for r in outcome.lanes], lanes.mean(axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose([r["kernel_std"] for r in outcome.lanes], lanes.std(axis=1), rtol=1e-5)
    d = np.linalg.norm(lanes[:, None] - lanes[None], axis=-1) + np.diag([np.inf] * 8)
    np.testing.assert_allclose([r["nearest_l2"] for r in outcome.lanes], d.min(axis=1), rtol=1e-5)
    assert all(type(r[k]) is float for r in outcome.lanes for k in ("kernel_mean", "kernel_std", "nearest_l2"))
    big = run_job(settings(0, 64, 64)).kernel_sample  # 262,144 values: every other one
    np.testing.assert_array_equal(big, np.asarray(build_ensemble(0, 64, 64).kernel[...]).reshape(-1)[::2])


def test_a_he_initialized_custom_factory_is_healthy_and_its_lanes_digested(tmp_path):
    factory = ["model=custom", "model.factory=tests.helpers.factories:he_normal", "num_inits=8", "features=32"]
    record = run_in_process(factory, tmp_path)
    assert record["status"] == "ok", record["error"]
    metrics = record["metrics"]
    assert metrics["diversity/scale_reference"] == "model" and metrics["diversity/false_alarm_rate"] == 1e-6
    assert 0.8 < metrics["diversity/scale_ratio_min"] <= metrics["diversity/scale_ratio_max"] < 1.2
    assert metrics["diversity/deterministic_leaves"] == ["hidden.bias", "out.bias"]
    assert metrics["diversity/exact"] is True and metrics["diversity/over_pairs"] == metrics["diversity/pairs"] == 28
    assert metrics["diversity/mean_pairwise_l2_stderr"] is None  # exact: no sampling error, nothing marked
    assert metrics["diversity/independence_cosine"] < metrics["diversity/independence_threshold"]
    digests = (tmp_path / "lanes.txt").read_text().split()
    assert len(digests) == len(set(digests)) == 8


def test_a_zero_initialized_factory_is_diagnosed_as_deterministic(tmp_path):
    record = run_in_process(["model=custom", "model.factory=tests.helpers.factories:zeros", "num_inits=4"], tmp_path)
    assert record["status"] == "failed"
    assert record["error"].startswith("all 4 lanes identical because the initializer is deterministic")
    assert len(set((tmp_path / "lanes.txt").read_text().split())) == 1


def test_the_averaging_pitfall_fails_the_shape_check_in_one_line(tmp_path):
    record = run_in_process(["constructor=pitfall_average", "num_inits=4", "features=4"], tmp_path)
    assert record["status"] == "failed" and record["metrics"]["shape/ok"] is False
    assert record["error"] == (
        "shape check failed for bias, kernel: bias is (4,), expected (4, 4): the lane axis of 4 is gone "
        "(were the lanes averaged or summed into one model?)"
    )


@pytest.mark.parametrize("param_dtype", ["bfloat16", "float16"])
def test_a_narrow_param_dtype_job_is_healthy(tmp_path, param_dtype):
    record = run_in_process([f"param_dtype={param_dtype}", "model=mlp", "num_inits=8", "features=16"], tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["config"]["param_dtype"] == param_dtype
    assert record["metrics"]["memory/param_bytes"] == 2 * 8 * 2 * (16 * 16 + 16)


def test_a_bad_param_dtype_is_refused_naming_the_value(tmp_path):
    record = run_in_process(["param_dtype=int8"], tmp_path)
    assert record["error"] == "param_dtype='int8': must be one of float32, bfloat16, float16"
