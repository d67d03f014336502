"""SIGKILL of a sweep at random moments: every ok record has a finished, successful W&B run, or says its
run was not finished, and resume redoes exactly those. Moments are chosen by the sweep's own files."""

import json
import random
import time

import pytest

from .helpers.cli import sweeper
from .helpers.processes import start_sweeper, w_and_b_process, wait_for, wait_gone
from .helpers.wandb_files import inspect_run

pytestmark = pytest.mark.slow

JOBS = 12
GRID = ("-m", f"seed=range(0,{JOBS})", "num_inits=2", "features=4", "hydra.sweep.dir=s")


@pytest.mark.parametrize("trial", range(4))
def test_after_sigkill_records_and_runs_agree_and_resume_redoes_the_unfinished(tmp_path, trial):
    rng = random.Random(trial)
    sweep = tmp_path / "s"
    process = start_sweeper(tmp_path, *GRID)
    wait_for(sweep / "0" / ".hydra" / "config.yaml", process)
    w_and_b = w_and_b_process(process.pid)
    marker = sweep / str(rng.randrange(1, JOBS)) / rng.choice([".hydra/config.yaml", "result.json"])
    while not marker.exists() and process.poll() is None:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.02))
    process.kill()
    process.communicate(timeout=60)
    assert wait_gone([w_and_b]) == []  # the W&B process finishes what it had open, then ends

    records = {int(p.parent.name): json.loads(p.read_text()) for p in sweep.glob("*/result.json")}
    done = {job for job, r in records.items() if r["status"] == "ok" and r.get("wandb_finished")}
    for job in done:
        run = inspect_run(records[job]["wandb"])
        assert run["exit_code"] == 0, (job, run)
    for job, record in records.items():
        if job not in done:  # its record says so: resume redoes it
            assert record["status"] != "ok" or record["wandb_finished"] is False, record

    resumed = sweeper(*GRID, "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("done in an earlier run: skipped") == len(done)
    final = [json.loads((sweep / str(job) / "result.json").read_text()) for job in range(JOBS)]
    assert all(r["status"] == "ok" and r["wandb_finished"] for r in final)
