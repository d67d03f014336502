"""Memory, failures, kills, resume, secrets: the `sweeper` command as a user runs it.

Bad input on the command line is tested in-process in test_config.py (and as a command in
test_cli.py and test_import_rules.py).
"""

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest

from .helpers.cli import sweeper
from .helpers.processes import start_and_wait_for_job
from .helpers.wandb_files import inspect_run, runs_under

pytestmark = pytest.mark.slow


def one_line_error(done, starts_with):
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(starts_with), lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_the_memory_guard_refuses_before_allocating(tmp_path):
    done = sweeper("num_inits=1000000", "features=4096", cwd=tmp_path)
    one_line_error(done, "sweeper: job failed: MemoryBudgetError: num_inits=1000000 features=4096: needs an estimated")
    assert "over the memory budget of" in done.stderr and "parameters 6.71e+04 GB" in done.stderr
    # the element count passes 2**62 here: refused, not aborted by XLA
    done = sweeper(f"num_inits={2**31}", "features=65536", cwd=tmp_path)
    one_line_error(done, "sweeper: job failed: MemoryBudgetError")
    done = sweeper("num_inits=8", "features=8", "memory_budget_gb=1e-6", cwd=tmp_path)
    one_line_error(done, "sweeper: job failed: MemoryBudgetError: num_inits=8 features=8")
    assert "(memory_budget_gb)" in done.stderr


@pytest.mark.next_hydra
def test_stop_on_failure_ends_the_sweep_at_the_first_failed_job(tmp_path):
    done = sweeper(
        "-m", "constructor=vmap,pitfall_no_split,vmap", "num_inits=2", "features=2", "seed=0",
        "stop_on_failure=true", "hydra.sweep.dir=outputs/s", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "stopping at the first failure" in done.stdout
    sweep = tmp_path / "outputs" / "s"
    assert sorted(p.parent.name for p in sweep.glob("*/result.json")) == ["0", "1"]
    with open(sweep / "summary.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok", "failed"]


# job 1 is large enough (N=2048, F=256: 0.5 GB of parameters) to be killed while it runs
KILL_GRID = ("-m", "seed=0", "num_inits=2,2048,3", "features=256", "hydra.sweep.dir=outputs/k")


def _statuses(sweep):
    with open(sweep / "summary.csv") as f:
        return [r["status"] for r in csv.DictReader(f)]


@pytest.mark.next_hydra
def test_sigterm_records_the_job_as_interrupted_and_resume_finishes_the_sweep(tmp_path):
    process = start_and_wait_for_job(tmp_path, "outputs/k", 1, *KILL_GRID)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM" in err and "Traceback" not in out + err
    sweep = tmp_path / "outputs" / "k"
    first = json.loads((sweep / "0" / "result.json").read_text())
    assert first["status"] == "ok"
    assert json.loads((sweep / "1" / "result.json").read_text())["status"] == "interrupted"
    assert not (sweep / "2").exists()
    assert _statuses(sweep) == ["ok", "interrupted"]  # the summary of what ran
    exit_codes = {inspect_run(r)["name"]: inspect_run(r)["exit_code"] for r in runs_under(sweep)}
    assert exit_codes["features=256,num_inits=2,seed=0"] == 0
    assert exit_codes["features=256,num_inits=2048,seed=0"] != 0

    done = sweeper(*KILL_GRID, "resume=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[1/3] features=256,num_inits=2,seed=0: ok (done in an earlier run: skipped)" in done.stdout
    assert json.loads((sweep / "0" / "result.json").read_text()) == first  # not recomputed
    assert _statuses(sweep) == ["ok", "ok", "ok"]


@pytest.mark.next_hydra
def test_ctrl_c_reaches_the_whole_process_group_and_every_run_is_still_finished(tmp_path):
    process = start_and_wait_for_job(tmp_path, "outputs/k", 1, *KILL_GRID)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the W&B process gets it too
    out, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGINT
    assert "interrupted by SIGINT" in err and "Traceback" not in out + err
    sweep = tmp_path / "outputs" / "k"
    assert _statuses(sweep) == ["ok", "interrupted"]
    runs = {inspect_run(r)["name"]: inspect_run(r)["exit_code"] for r in runs_under(sweep)}
    assert runs == {"features=256,num_inits=2,seed=0": 0, "features=256,num_inits=2048,seed=0": 1, "outputs_k": 1}


@pytest.mark.next_hydra
def test_sigkill_leaves_the_other_results_intact_and_resume_rebuilds_the_summary(tmp_path):
    process = start_and_wait_for_job(tmp_path, "outputs/k", 1, *KILL_GRID)
    process.kill()
    process.communicate(timeout=60)
    sweep = tmp_path / "outputs" / "k"
    first = json.loads((sweep / "0" / "result.json").read_text())
    assert first["status"] == "ok"
    assert not (sweep / "summary.csv").exists()
    assert not list(sweep.glob("*/.result.json.*"))  # no half-written record left behind
    # the W&B process sees the sweep gone and finishes the killed job's run as failed
    deadline, exit_codes = time.monotonic() + 120, {}
    while len(exit_codes) < 2 or None in exit_codes.values():
        assert time.monotonic() < deadline, exit_codes
        time.sleep(0.5)
        exit_codes = {inspect_run(r)["name"]: inspect_run(r)["exit_code"] for r in runs_under(sweep)}
    assert exit_codes["features=256,num_inits=2,seed=0"] == 0
    assert exit_codes["features=256,num_inits=2048,seed=0"] != 0
    done = sweeper(*KILL_GRID, "resume=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((sweep / "0" / "result.json").read_text()) == first
    assert _statuses(sweep) == ["ok", "ok", "ok"]


def test_metrics_are_finite_json_and_the_prng_settings_are_recorded(tmp_path):
    done = sweeper("-m", "num_inits=1,3", "features=3", "seed=0", "hydra.sweep.dir=outputs/f", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    def refuse(constant):
        raise AssertionError(f"{constant} in result.json")

    for path in (tmp_path / "outputs" / "f").glob("*/result.json"):
        record = json.loads(path.read_text(), parse_constant=refuse)
        assert record["env"]["prng_impl"] == "threefry2x32"
        assert isinstance(record["env"]["threefry_partitionable"], bool)
        if record["config"]["num_inits"] == 1:  # no lane pairs: null, and the record says why
            assert record["metrics"]["diversity/min_pairwise_l2"] is None
            assert record["metrics"]["diversity/pairs"] == 0


def test_secrets_and_environment_values_are_never_written(tmp_path):
    secret = "sk-sweeper-test-0123456789"
    env = {**os.environ, "WANDB_API_KEY": secret, "SWEEPER_TEST_FACTORY": "sweeper.core.models:mlp"}
    done = sweeper(
        "-m", "model=custom", "model.factory=${oc.env:SWEEPER_TEST_FACTORY}", "num_inits=2", "features=3",
        "seed=0", "hydra.sweep.dir=outputs/x", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweep = tmp_path / "outputs" / "x"
    record = json.loads((sweep / "0" / "result.json").read_text())
    assert record["metrics"]["shape/kernel"] == [2, 3, 3]  # the factory from the environment was used
    assert record["config"]["model_factory"] == "<redacted>"
    run = inspect_run(runs_under(sweep)[0])
    assert run["config"]["model"]["factory"] == "<redacted>"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            assert b"sweeper.core.models:mlp" not in data, path


def test_override_values_never_reach_a_path(tmp_path):
    done = sweeper(
        "-m", "wandb.tags=[../../escape]", "num_inits=2", "features=2", "seed=0,1",
        "hydra.sweep.dir=outputs/p", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "outputs" / "p").iterdir() if p.name.isdigit()) == ["0", "1"]
    assert {p.name for p in tmp_path.iterdir()} == {"outputs"}
    assert {p.name for p in (tmp_path / "outputs").iterdir()} == {"p", "jax_cache"}


def test_a_failed_job_is_recorded_and_the_sweep_goes_on(tmp_path):
    done = sweeper(
        "-m", "constructor=pitfall_no_split,vmap", "num_inits=1000000,2", "features=4096", "seed=0",
        "hydra.sweep.dir=outputs/i", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    sweep = tmp_path / "outputs" / "i"
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert len(records) == 4
    errors = [r["error"] for r in records if r["status"] == "failed"]
    assert len(errors) == 3  # every failure reported, not just the first
    assert sum(e.startswith("MemoryBudgetError") for e in errors) == 1
    assert sum(e.startswith("PitfallError") for e in errors) == 2
    assert "1 of 4 jobs ok" in done.stdout
    for r in records:
        if r["status"] == "failed":
            assert f"failed: {r['error']}" in done.stdout
    assert Path(sweep / "summary.csv").exists()
