"""Hydra's launcher plugins (extras parallel, slurm, ray): the same sweep leaves the same files.

Each test runs the installed `sweeper` command as a multirun under one launcher, the way a
user types it, and reads back what the basic launcher leaves: a result.json per job, the
rebuilt summary.csv, one finished W&B run per job plus the sweep's own, the progress line in
each job's log, and the exit status. A plugin that is not installed skips its tests.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers.compose import composed
from .helpers.wandb_files import inspect_run, runs_under

SWEEPER = str(Path(sys.executable).with_name("sweeper"))
GRID = ("-m", "seed=0,1", "num_inits=2", "features=4")
JOB_NAMES = ["features=4,num_inits=2,seed=0", "features=4,num_inits=2,seed=1"]


def sweep(tmp_path, *arguments, grid=GRID, env=None):
    done = subprocess.run(
        [SWEEPER, *grid, "hydra.sweep.dir=outputs/grid", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    return done, tmp_path / "outputs" / "grid"


def assert_as_under_the_basic_launcher(done, sweep_dir):
    assert done.returncode == 0, done.stdout + done.stderr
    records = {int(p.parent.name): json.loads(p.read_text()) for p in sweep_dir.glob("*/result.json")}
    assert sorted(records) == [0, 1]
    assert [records[i]["config"]["seed"] for i in (0, 1)] == [0, 1]
    assert all(r["status"] == "ok" and r["metrics"]["shape/kernel"] == [2, 4, 4] for r in records.values())
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["status"]) for r in rows] == [("0", "ok"), ("1", "ok")]
    assert "2 of 2 jobs ok" in done.stdout

    runs = {}
    for run_dir in runs_under(sweep_dir):
        run = inspect_run(run_dir)
        assert run["name"] not in runs  # one run per job, none twice
        runs[run["name"]] = run
    assert sorted(runs) == [*JOB_NAMES, "outputs_grid"]  # the sweep's own run, named after the sweep
    assert all(run["state"] == "finished" and run["exit_code"] == 0 for run in runs.values())
    assert runs["outputs_grid"]["summary"]["jobs"] == 2
    for number, name in enumerate(JOB_NAMES):
        assert runs[name]["summary"]["diversity/distinct_lanes"] == 2
        # the job's progress line, written wherever the job ran, is in its own log
        assert f"[{number + 1}/2] {name}: ok" in (sweep_dir / str(number) / "job.log").read_text()


@pytest.mark.slow
def test_joblib_runs_jobs_in_parallel_processes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    done, sweep_dir = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert_as_under_the_basic_launcher(done, sweep_dir)
    # the workers share the console: both progress lines are there, in the order the jobs ended
    assert {line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("[")} == {
        f"[1/2] {JOB_NAMES[0]}",
        f"[2/2] {JOB_NAMES[1]}",
    }


@pytest.mark.slow
def test_a_failed_job_under_joblib_makes_the_command_exit_non_zero(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    grid = ("-m", "constructor=vmap,pitfall_broadcast", "num_inits=8", "features=4", "seed=0")
    done, sweep_dir = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", grid=grid)
    assert done.returncode != 0
    assert "1 of 2 jobs ok" in done.stdout
    assert "job 1 failed: all 8 lanes identical" in done.stdout
    with open(sweep_dir / "summary.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok", "failed"]
    exit_codes = sorted(inspect_run(r)["exit_code"] for r in runs_under(sweep_dir))
    assert exit_codes == [0, 1, 1]  # vmap ok; the pitfall and the sweep's own run failed


@pytest.mark.slow
def test_stop_on_failure_in_a_worker_leaves_the_summary_to_the_launching_process(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    grid = ("-m", "constructor=pitfall_broadcast,vmap,vmap", "num_inits=8", "features=4", "seed=0")
    grid += ("stop_on_failure=true",)
    done, sweep_dir = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", grid=grid)
    assert done.returncode != 0
    assert "stop_on_failure=true stops the default launcher only" in done.stdout
    assert "2 of 3 jobs ok" in done.stdout  # every job, in one summary, written once
    with open(sweep_dir / "summary.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["failed", "ok", "ok"]
    names = sorted(inspect_run(r)["name"] for r in runs_under(sweep_dir))
    assert names.count("outputs_grid") == 1  # the sweep's own run, named after the sweep


@pytest.mark.slow
def test_each_job_gets_the_xla_settings_in_its_own_process_before_jax_starts(tmp_path):
    # hydra.job.env_set, where config.yaml sets XLA_PYTHON_CLIENT_PREALLOCATE; XLA_FLAGS is
    # read when JAX starts, as that is, and shows in the job's device count
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    flags = "+hydra.job.env_set.XLA_FLAGS='--xla_force_host_platform_device_count=2'"
    done, sweep_dir = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", flags)
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/result.json"))]
    assert [r["env"]["device_count"] for r in records] == [2, 2]


@pytest.mark.parametrize(("exported", "in_the_job"), [(None, "false"), ("true", "true")])
def test_jobs_take_gpu_memory_as_needed_unless_the_user_exported_otherwise(monkeypatch, exported, in_the_job):
    if exported is None:
        monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    else:
        monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", exported)
    with composed(return_hydra_config=True) as cfg:
        assert cfg.hydra.job.env_set["XLA_PYTHON_CLIENT_PREALLOCATE"] == in_the_job


@pytest.mark.slow
def test_submitit_local_runs_each_job_as_a_submitted_process(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    done, sweep_dir = sweep(
        tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1"
    )
    assert_as_under_the_basic_launcher(done, sweep_dir)
    # a submitted job's console is its .submitit log, not the launching command's
    logs = "".join(p.read_text() for p in sweep_dir.glob(".submitit/*/*_log.out"))
    assert f"[1/2] {JOB_NAMES[0]}: ok" in logs and f"[2/2] {JOB_NAMES[1]}: ok" in logs


@pytest.mark.slow
def test_ray_runs_jobs_on_a_local_ray_it_starts(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    done, sweep_dir = sweep(tmp_path, "hydra/launcher=ray", "+hydra.launcher.ray.init.include_dashboard=false")
    assert_as_under_the_basic_launcher(done, sweep_dir)


@pytest.mark.slow
def test_the_slurm_example_submits_one_array_task_per_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    # no Slurm here: a stand-in sbatch keeps the script it is given, then refuses it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "sbatch").write_text('#!/bin/sh\ncp "$1" "$SBATCH_SCRIPT"\necho "sbatch: not a cluster" >&2\nexit 1\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = tmp_path / "sweep.sbatch"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SBATCH_SCRIPT": str(script)}
    done, sweep_dir = sweep(tmp_path, "hydra/launcher=slurm_example", env=env)
    assert done.returncode != 0 and "sbatch: not a cluster" in done.stderr
    assert not list(sweep_dir.glob("*/result.json"))
    lines = script.read_text().splitlines()
    for option in ("array=0-1%2", "partition=gpu", "gpus-per-node=1", "cpus-per-task=4", "mem=32GB", "time=30"):
        assert f"#SBATCH --{option}" in lines
    assert any(line.startswith('echo "sweeper job $SLURM_ARRAY_JOB_ID') for line in lines)  # the setup lines
