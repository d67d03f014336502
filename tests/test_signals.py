"""SIGTERM and SIGINT at any moment of a sweep: the running job recorded as interrupted, the summary of
what ran written, exit 128 + signal, no traceback. Moments are chosen by the sweep's own files, never by
the clock, so a loaded machine moves them but cannot break the test."""

import csv
import json
import os
import random
import signal
import time

import pytest

from .helpers.processes import descendants, start_sweeper, wait_for, wait_gone

pytestmark = pytest.mark.slow

JOBS = 24
GRID = ("-m", f"seed=range(0,{JOBS})", "num_inits=2", "features=4", "hydra.sweep.dir=s")


def _moment(rng: random.Random, sweep):
    """A file whose appearance marks the moment: a job's start, its record, or the summary."""
    kind = rng.choice(["job start", "job start", "job record", "summary"])
    job = rng.randrange(JOBS)
    if kind == "summary":
        return sweep / "summary.csv"
    return sweep / str(job) / (".hydra/config.yaml" if kind == "job start" else "result.json")


@pytest.mark.parametrize("trial", range(8))
def test_a_signal_at_a_random_moment_records_the_running_job_and_writes_the_summary(tmp_path, trial):
    rng = random.Random(trial)
    signum = signal.SIGINT if trial % 3 == 2 else signal.SIGTERM
    sweep = tmp_path / "s"
    process = start_sweeper(tmp_path, *GRID)
    wait_for(sweep / "0" / ".hydra" / "config.yaml", process)  # the first job has started
    marker = _moment(rng, sweep)
    while not marker.exists() and process.poll() is None:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.02))
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # Ctrl-C: the whole process group, the W&B process too
    else:
        process.send_signal(signum)
    out, err = process.communicate(timeout=600)
    assert "Traceback" not in out + err and "Fatal Python error" not in err, err

    job_dirs = sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    records = [json.loads((d / "result.json").read_text()) for d in job_dirs]  # every job that started has one
    statuses = [r["status"] for r in records]
    if process.returncode != 128 + signum:  # the signal came after the summary's last line: the sweep is whole
        assert process.returncode in (0, -signum), err
        assert f"sweep: {sweep.name} (" in out and statuses == ["ok"] * JOBS
    else:
        assert err.count(f"interrupted by {signal.Signals(signum).name}") >= 1, err
        assert set(statuses[:-1]) <= {"ok"} and statuses[-1] in ("ok", "interrupted"), statuses
    with open(sweep / "summary.csv") as f:
        assert [row["status"] for row in csv.DictReader(f)] == statuses


def test_sigterm_under_joblib_ends_its_workers_and_their_w_and_b_processes_and_writes_the_summary(tmp_path):
    sweep = tmp_path / "s"
    process = start_sweeper(tmp_path, *GRID, "hydra/launcher=joblib")
    wait_for(sweep / "1" / ".hydra" / "config.yaml", process)  # workers are running jobs
    wait_for_w_and_b = time.monotonic() + 600
    while not any("wandb-core" in cmd for cmd in descendants(process.pid).values()):
        assert time.monotonic() < wait_for_w_and_b and process.poll() is None
        time.sleep(0.05)
    started = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in out + err
    assert wait_gone(started) == [], {pid: started[pid] for pid in wait_gone(started)}  # no orphans
    job_dirs = [p for p in sweep.iterdir() if p.name.isdigit()]
    statuses = [json.loads((d / "result.json").read_text())["status"] for d in job_dirs]
    assert "interrupted" in statuses and set(statuses) <= {"ok", "interrupted"}
    with open(sweep / "summary.csv") as f:
        assert sorted(row["status"] for row in csv.DictReader(f)) == sorted(statuses)
