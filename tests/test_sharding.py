"""Sharded ensembles: four forced CPU devices in a subprocess, checked against this one-device process.

XLA_FLAGS must be set before JAX starts, so the sharded side runs in
``tests/helpers/four_devices.py`` (and in the real ``sweeper`` command); this process builds the
same ensembles unsharded and compares bits and metrics.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from sweeper.config import ConfigError, SweeperConfig, check, job_settings
from sweeper.core.diversity import lane_diversity, lane_hashes
from sweeper.core.ensemble import build_ensemble
from sweeper.core.forward import forward_check
from sweeper.core.sharding import ShardingError, resolve_devices, sharding_metrics
from sweeper.core.tree import flat_params
from sweeper.job import measure

from .helpers.cli import SWEEPER
from .helpers.compose import composed, run_in_process
from .helpers.four_devices import CASES
from .helpers.numpy_reference import numpy_reference

FOUR_DEVICES = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
}
ONE_DEVICE = pytest.mark.skipif(jax.device_count() != 1, reason="needs a process with one device")
# the diversity fields that are exact on any number of devices; the pairwise ones are float32 sums
EXACT_FIELDS = (
    "lanes", "distinct_lanes", "pairs", "exact", "sample_lanes", "sample_coords", "coords",
    "scale_ratio_min", "scale_ratio_max", "scale_tolerance", "ok", "reason",
)  # fmt: skip
PAIRWISE_FIELDS = ("min_pairwise_l2", "mean_pairwise_l2", "max_abs_cosine")


@pytest.fixture(autouse=True)
def _on_cpu():
    """Like with like: the four devices are CPU devices, so the one device here is the CPU."""
    with jax.default_device(jax.devices("cpu")[0]):
        yield


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """What ``tests/helpers/four_devices.py`` saw: ``(folder with <case>.npz, seen.json as a dict)``."""
    out = tmp_path_factory.mktemp("four_devices")
    script = Path(__file__).parent / "helpers" / "four_devices.py"
    done = subprocess.run(
        [sys.executable, str(script), str(out)], env=FOUR_DEVICES, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return out, json.loads((out / "seen.json").read_text())


@functools.cache
def one_device(case: str):
    """The case built here, on this process's one device (once per test session)."""
    seed, n, f, model, constructor, _ = CASES[case]
    return build_ensemble(seed, n, f, model=model, constructor=constructor)


def test_four_devices_with_partitionable_threefry(four):
    _, seen = four
    assert seen["device_count"] == 4
    assert seen["threefry_partitionable"] is True and jax.config.jax_threefry_partitionable is True


def test_each_device_holds_n_over_k_whole_lanes(four):
    cases = four[1]["cases"]
    assert cases["linear_8x4_on_4"]["shard_shapes"] == {"kernel": [[2, 4, 4]] * 4, "bias": [[2, 4]] * 4}
    assert cases["linear_8x4_on_4"]["shard_devices"] == {"kernel": [0, 1, 2, 3], "bias": [0, 1, 2, 3]}
    assert cases["linear_8x5_on_2"]["shard_shapes"] == {"kernel": [[4, 5, 5]] * 2, "bias": [[4, 5]] * 2}
    assert cases["linear_8x5_on_2"]["shard_devices"] == {"kernel": [0, 1], "bias": [0, 1]}
    assert cases["mlp_8x6_on_4"]["shard_shape"] == {
        "hidden.bias": [2, 6],
        "hidden.kernel": [2, 6, 6],
        "out.bias": [2, 6],
        "out.kernel": [2, 6, 6],
    }
    assert cases["linear_64x64_on_4"]["shard_shape"] == {"kernel": [16, 64, 64], "bias": [16, 64]}
    assert cases["loop_8x4_on_4"]["shard_shape"] == {"kernel": [2, 4, 4], "bias": [2, 4]}
    assert all(all(case["split"].values()) for case in cases.values())


@pytest.mark.parametrize("case", list(CASES))
def test_sharded_parameters_are_bit_identical_to_the_one_device_build(four, case):
    sharded = np.load(four[0] / f"{case}.npz")
    expected = flat_params(one_device(case))
    assert sorted(sharded.files) == sorted(expected)
    for name, leaf in expected.items():
        assert sharded[name].dtype == leaf.dtype and sharded[name].shape == leaf.shape
        np.testing.assert_array_equal(sharded[name], np.asarray(leaf), err_msg=f"{case}: {name}")


@pytest.mark.parametrize("case", list(CASES))
def test_diversity_on_shards_equals_the_one_device_numbers(four, case):
    seen = four[1]["cases"][case]
    leaves = flat_params(one_device(case))
    here = lane_diversity(leaves)
    assert seen["hashes"] == [h.hex() for h in lane_hashes(leaves)]  # hashed shard by shard
    for name in EXACT_FIELDS:
        assert seen["diversity"][f"diversity/{name}"] == getattr(here, name), name
    for name in PAIRWISE_FIELDS:
        assert seen["diversity"][f"diversity/{name}"] == pytest.approx(getattr(here, name), rel=1e-6, abs=1e-7)
    np.testing.assert_allclose(seen["nearest_l2"], here.nearest_l2, rtol=1e-6)
    # and both agree with brute force in float64
    distinct, min_l2, mean_l2, max_cos = numpy_reference(leaves)
    assert seen["diversity"]["diversity/distinct_lanes"] == distinct
    assert seen["diversity"]["diversity/min_pairwise_l2"] == pytest.approx(min_l2, rel=1e-4)
    assert seen["diversity"]["diversity/mean_pairwise_l2"] == pytest.approx(mean_l2, rel=1e-4)
    assert seen["diversity"]["diversity/max_abs_cosine"] == pytest.approx(max_cos, rel=1e-4, abs=1e-6)


def test_the_forward_pass_runs_on_the_shards(four):
    seen = four[1]["cases"]["linear_8x4_on_4"]["forward"]
    here = forward_check(one_device("linear_8x4_on_4"), 4)
    assert seen["forward/shape"] == [8, 32, 4] and seen["forward/finite"] is True
    assert seen["forward/spread"] == pytest.approx(here["forward/spread"], rel=1e-6)


def test_a_job_on_four_devices_records_the_one_device_numbers(four):
    seen = four[1]["job"]
    here = measure(SweeperConfig(seed=2, num_inits=64, features=16))
    metrics = here.record["metrics"]
    assert seen["metrics"]["sharding/devices"] == 4 and metrics["sharding/devices"] == 1
    for key in ("count", "shape/kernel", "shape/bias", "forward/shape", "forward/finite", "memory/param_bytes"):
        assert seen["metrics"][key] == metrics[key], key
    for name in EXACT_FIELDS:
        assert seen["metrics"][f"diversity/{name}"] == metrics[f"diversity/{name}"], name
    for key in [f"diversity/{name}" for name in PAIRWISE_FIELDS] + ["forward/spread"]:
        assert seen["metrics"][key] == pytest.approx(metrics[key], rel=1e-6, abs=1e-7), key
    assert seen["sample"] == here.kernel_sample.tolist()  # the same kernel values, exactly
    assert [row["lane"] for row in seen["lanes"]] == list(range(64))
    for key in ("kernel_mean", "kernel_std", "nearest_l2"):
        np.testing.assert_allclose([r[key] for r in seen["lanes"]], [r[key] for r in here.lanes], rtol=1e-5, atol=1e-7)


def test_compiled_once_per_shape_and_device_count_with_the_seed_traced(four):
    assert four[1]["compile_once"] == {"misses": 1, "hits": 2, "distinct_seeds": 3}


def test_build_and_gram_matrix_stay_in_shards(four):
    memory = four[1]["memory"]
    # N = 64, F = 64: each of 4 devices draws and holds a quarter of what one device would
    assert memory["builder_four"] * 4 <= memory["builder_one"] * 1.01
    # the Gram matrix: an all-to-all to coordinate slices and an all-reduce of (N, N); no all-gather
    assert memory["collectives"] == ["all-reduce", "all-to-all"]
    assert memory["stats_four"] < 4 * 64 * (64 * 64 + 64)
    assert memory["measure_four"] < 4 * 64 * (64 * 64 + 64)  # the job's one measuring executable, per device


def test_n_not_divisible_is_refused_in_one_line(four):
    seen = four[1]
    not_divisible = (
        "num_inits=10 is not divisible by sharding.devices=4: choose a multiple of 4, "
        "or sharding.devices=null for the largest device count that divides it"
    )
    assert seen["errors"]["not_divisible"] == not_divisible
    assert seen["errors"]["builder"] == seen["errors"]["loop"] == not_divisible.replace("=10", "=6")
    assert seen["errors"]["too_many"] == (
        "sharding.devices=5: only 4 device(s) available; use sharding.devices=null for all of them"
    )
    # null: the largest device count that divides N
    assert seen["resolved"] == {"1": 1, "6": 3, "7": 1, "8": 4}


@ONE_DEVICE
def test_one_device_is_no_sharding():
    assert resolve_devices(None, 8) == 1 and resolve_devices(1, 7) == 1
    with pytest.raises(ShardingError, match=r"^sharding.devices=2: only 1 device\(s\) available"):
        resolve_devices(2, 8)
    leaves = flat_params(build_ensemble(0, 8, 4))
    assert sharding_metrics(leaves, 1) == {"sharding/devices": 1, "sharding/shard_shape": [8, 4, 4]}


def test_the_config_key_and_its_rule():
    with composed() as cfg:
        assert job_settings(cfg).sharding.devices is None
    with composed(["sharding.devices=4"]) as cfg:
        assert job_settings(cfg).sharding.devices == 4
    for bad in ("0", "-2"):
        with composed([f"sharding.devices={bad}"]) as cfg, pytest.raises(ConfigError) as err:
            job_settings(cfg)
        assert str(err.value).startswith(f"sharding.devices={bad}: must be an integer >= 1")
    for bad in (True, "two", 1.5):  # what the command line's preflight sees before Hydra types it
        with pytest.raises(ConfigError, match=r"^sharding.devices=.*: must be an integer >= 1"):
            check("sharding.devices", bad)
    assert check("sharding.devices", None) is None and check("sharding.devices", 3) == 3


@ONE_DEVICE
def test_a_job_records_its_sharding_and_refuses_missing_devices(tmp_path):
    record = run_in_process(["num_inits=8", "features=4", "wandb.mode=disabled"], tmp_path / "one")
    metrics = record["metrics"]
    assert record["status"] == "ok" and record["config"]["sharding_devices"] is None
    assert metrics["sharding/devices"] == 1 and metrics["sharding/shard_shape"] == [8, 4, 4]
    assert metrics["memory/estimated_peak_bytes_per_device"] == metrics["memory/estimated_peak_bytes"]
    record = run_in_process(["num_inits=8", "features=4", "sharding.devices=2", "wandb.mode=disabled"], tmp_path / "b")
    assert record["status"] == "failed"
    assert record["error"] == (
        "ShardingError: sharding.devices=2: only 1 device(s) available; use sharding.devices=null for all of them"
    )


@pytest.mark.slow
def test_the_sweeper_command_shards_over_four_devices(tmp_path):
    args = ["sharding.devices=4", "num_inits=8", "features=4", "wandb.mode=disabled"]
    done = subprocess.run([SWEEPER, *args], cwd=tmp_path, env=FOUR_DEVICES, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [result] = tmp_path.glob("outputs/**/result.json")
    record = json.loads(result.read_text())
    metrics = record["metrics"]
    assert record["status"] == "ok" and record["config"]["sharding_devices"] == 4
    assert metrics["sharding/devices"] == 4
    assert metrics["sharding/shard_shape"] == [2, 4, 4]
    assert metrics["shape/kernel"] == [8, 4, 4] and metrics["diversity/distinct_lanes"] == 8
    # 4 * (8 * 4 * 4 + 8 * 4) parameter bytes: a quarter, three times, per device; N x N and activations
    assert metrics["memory/estimated_peak_bytes_per_device"] == 3 * 160 + 6 * 4 * 8 * 8 + 3 * 4 * 2 * 32 * 4
    assert metrics["memory/estimated_peak_bytes"] == 4 * metrics["memory/estimated_peak_bytes_per_device"]
    assert record["env"]["device_count"] == 4
