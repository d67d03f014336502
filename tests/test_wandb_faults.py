"""W&B refusals, a dead W&B process, a failing end of sweep: every result kept, the exit status the truth."""

import csv
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from .helpers.cli import SWEEPER, sweeper
from .helpers.processes import start_and_wait_for_job, w_and_b_process, wait_for
from .helpers.wandb_files import inspect_run
from .helpers.wandb_server import free_port

pytestmark = pytest.mark.slow


def _records(sweep):
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep.glob("*/result.json")}


def test_a_refusal_never_crashes_at_exit(tmp_path):
    for _ in range(30):  # the crash at exit it guards against came about 1 run in 10
        done = subprocess.run(
            [SWEEPER, "-m", "seed=-1"], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        assert done.returncode == 1
        assert done.stderr == "sweeper: seed=-1: must be an integer in [0, 4294967295] (nothing was run)\n"
        assert "Fatal Python error" not in done.stdout


def test_a_w_and_b_refusal_at_run_start_fails_the_jobs_but_keeps_their_results(tmp_path):
    # an online server that is not there: W&B refuses each run as it starts (what can be checked up front is)
    unreachable = {"WANDB_BASE_URL": f"http://127.0.0.1:{free_port()}", "WANDB_API_KEY": "x" * 40}
    env = os.environ | unreachable | {"WANDB_INIT_TIMEOUT": "3"}
    args = ("-m", "seed=0,1", "num_inits=2", "features=4", "wandb.mode=online", "hydra.sweep.dir=s")
    done = sweeper(*args, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    records = _records(tmp_path / "s")
    assert sorted(records) == [0, 1]
    for record in records.values():
        assert record["status"] == "failed" and record["wandb_finished"] is False
        assert record["metrics"]["diversity/distinct_lanes"] == 2  # computed, and kept
        assert record["wandb_error"].startswith("W&B: "), record
        assert record["error"] == record["wandb_error"]  # the job itself went well: the refusal is its only error
    assert done.stderr.count("failed in W&B after all: W&B: ") == 2  # its progress line had said ok
    assert "W&B: the sweep's run is not online" in done.stdout  # not "off"
    with open(tmp_path / "s" / "summary.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["failed", "failed"]


def test_a_w_and_b_setting_refused_as_its_process_starts_is_a_jobs_error_not_a_dead_process(tmp_path):
    env = os.environ | {"WANDB_CONSOLE": "not-a-console-mode"}  # W&B's own setting, refused by W&B's setup
    done = sweeper("-m", "seed=0", "num_inits=2", "features=4", "hydra.sweep.dir=s", cwd=tmp_path, env=env)
    assert "Traceback" not in done.stdout + done.stderr
    assert "the W&B process died" not in done.stderr
    record = _records(tmp_path / "s")[0]
    assert record["metrics"]["diversity/distinct_lanes"] == 2
    if record["status"] != "ok":  # W&B refuses the first run's start, or only its own setup
        assert record["wandb_error"].startswith("W&B: ValidationError: 1 validation error for Settings")
        assert done.returncode == 1


def test_a_value_w_and_b_would_refuse_is_refused_before_any_job(tmp_path):
    done = sweeper("-m", "seed=0,1", "wandb.project=a/b", "hydra.sweep.dir=s", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "sweeper: wandb.project='a/b': W&B refuses the characters '/' in a project name (nothing was run)\n"
    )
    assert not (tmp_path / "s").exists()


def test_a_job_that_fails_on_its_own_keeps_its_diagnosis_whatever_w_and_b_says(tmp_path):
    # NaN weights: W&B refused their histogram ("autodetected range of [nan, nan] is not finite") over the job's error
    repo = Path(__file__).resolve().parents[1]
    env = os.environ | {"PYTHONPATH": str(repo)}
    factory = "model.factory=tests.helpers.bad_factories:nan_parameters"
    done = sweeper(
        "-m",
        "seed=0,1",
        "num_inits=2",
        "features=4",
        "model=custom",
        factory,
        "hydra.sweep.dir=s",
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    records = _records(tmp_path / "s")
    assert sorted(records) == [0, 1]
    for record in records.values():
        assert record["status"] == "failed"
        assert "non-finite" in record["error"] and "W&B" not in record["error"], record["error"]
        assert record["wandb_finished"] is True and record["wandb_error"] is None  # W&B recorded the failed job
        assert inspect_run(record["wandb"])["exit_code"] == 1
    with open(tmp_path / "s" / "summary.csv") as f:
        assert all("non-finite" in r["error"] for r in csv.DictReader(f))
    assert "W&B" not in done.stdout


# job 1 is large enough (N=2048, F=256) to be running when its W&B process is killed
GRID = ("-m", "seed=0", "num_inits=2,2048,3", "features=256", "hydra.sweep.dir=s")


def test_a_dead_w_and_b_process_is_reported_its_open_run_is_redone_and_the_other_jobs_go_on(tmp_path):
    process = start_and_wait_for_job(tmp_path, "s", 1, *GRID)
    os.kill(w_and_b_process(process.pid), signal.SIGKILL)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 1, err
    assert err.count("sweeper: the W&B process died") == 1, err
    assert "Traceback" not in out + err
    records = _records(tmp_path / "s")
    assert records[1]["status"] == "failed" and records[1]["wandb_finished"] is False
    assert records[1]["metrics"]["diversity/distinct_lanes"] == 2048  # its results are kept
    assert records[1]["wandb_error"].startswith("W&B: the W&B process could not finish run")
    for job in (0, 2):  # before, and after: in a new W&B process
        assert records[job]["status"] == "ok" and records[job]["wandb_finished"] is True
        assert inspect_run(records[job]["wandb"])["exit_code"] == 0

    done = sweeper(*GRID, "resume=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done in an earlier run: skipped") == 2
    assert _records(tmp_path / "s")[1]["status"] == "ok"


def test_a_failing_end_of_sweep_fails_the_command_in_one_line_and_w_and_b_leaves_nothing_in_home(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "WANDB_DATA_DIR"} | {"HOME": str(home)}
    command = [SWEEPER, "-m", "seed=0", "num_inits=2", "features=4", "hydra.sweep.dir=s"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(tmp_path / "s" / "sweep.json", process)  # claimed: a stray file now reaches the end of the sweep
    (tmp_path / "s" / "5").mkdir()
    (tmp_path / "s" / "5" / "result.json").write_text('{"not": "a record"}')  # not this sweep's
    out, err = process.communicate(timeout=600)
    assert process.returncode != 0
    assert err.count("sweeper: the end of the sweep failed:") == 1, err
    assert "Traceback" not in out + err
    record = _records(tmp_path / "s")[0]
    assert record["status"] == "ok"  # the job's own result is kept
    assert inspect_run(record["wandb"])["summary"]["lanes"]  # a table: W&B staged its file
    assert not [p for p in home.rglob("*") if p.is_file() and "staging" in p.parts]
    assert list((tmp_path / "s" / "wandb").rglob("staging/*"))  # with the runs: `wandb sync` reads them back
