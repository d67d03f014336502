"""The W&B process: runs started, logged and finished beside the sweep; whatever W&B does, the record is written."""

import json
import os
import signal

import pytest

from sweeper.records import write_record
from sweeper.tracking import process as tracker_process
from sweeper.tracking import worker
from sweeper.tracking.job_run import JobRun
from sweeper.tracking.wandb_run import TrackerSettings

from .helpers.wandb_files import inspect_run

pytestmark = pytest.mark.slow


@pytest.fixture
def pool():
    yield tracker_process.start()
    tracker_process.stop()


def _settings(tmp_path, mode="offline"):
    return TrackerSettings(mode=mode, project="p", entity=None, group="g", dir=str(tmp_path))


def _job(tmp_path, name, lanes, error=None, mode="offline"):
    """What the job function does with its run; returns the record as the W&B side left it on disk."""
    record = {"status": "failed" if error else "ok", "config": {}, "metrics": {"diversity/lanes": 2}, "error": error}
    run = tracker_process.open_run(_settings(tmp_path, mode), name, {"seed": 0})
    write_record(tmp_path / name, record | {"wandb_id": run.id, "wandb_finished": False})
    run.log(record, lanes, None)
    run.finish(record, str(tmp_path / name))
    tracker_process.drain()
    return json.loads((tmp_path / name / "result.json").read_text())


def test_runs_are_logged_and_finished_by_the_w_and_b_process_which_writes_the_final_record(tmp_path, pool):
    record = _job(tmp_path, "good", [{"lane": 0, "x": 1.0}, {"lane": 1, "x": 2.0}])
    assert record["status"] == "ok" and record["wandb_finished"] is True and record["wandb_error"] is None
    assert record["wandb"].endswith(record["wandb_id"])  # the run id the job chose
    run = inspect_run(record["wandb"])
    assert run["exit_code"] == 0
    assert run["summary"]["diversity/lanes"] == 2


def test_a_wandb_failure_fails_the_job_and_its_record_says_so_beside_the_jobs_own_error(tmp_path, pool):
    bad_lanes = [{"lane": 0, "x": 1.0}, {"lane": 1, "x": "text"}]  # W&B refuses the table
    record = _job(tmp_path, "bad", bad_lanes)
    assert record["status"] == "failed"
    assert record["error"] == record["wandb_error"]
    assert record["wandb_error"].startswith("W&B: TypeError: Data row contained incompatible types")
    assert inspect_run(record["wandb"])["exit_code"] == 1

    record = _job(tmp_path, "both", bad_lanes, error="non-finite metrics: diversity/min_pairwise_l2")
    assert record["error"] == "non-finite metrics: diversity/min_pairwise_l2"  # the job's own diagnosis stays
    assert record["wandb_error"].startswith("W&B: TypeError")


@pytest.mark.parametrize("where", ["process", "in-process"])
def test_a_run_w_and_b_refuses_to_start_is_a_failed_job_with_its_record_and_the_next_run_goes_on(tmp_path, where):
    if where == "process":
        tracker_process.start()
    try:
        refused = _job(tmp_path, "refused", [], mode="nonsense")
        assert refused["status"] == "failed" and refused["metrics"] == {"diversity/lanes": 2}
        assert refused["wandb_error"].startswith("W&B: ") and refused["wandb_finished"] is False
        after = _job(tmp_path, "after", [])
        assert after["status"] == "ok" and inspect_run(after["wandb"])["exit_code"] == 0
    finally:
        tracker_process.stop()


def test_a_dead_w_and_b_process_loses_only_its_open_run_and_the_next_job_gets_a_new_one(tmp_path, pool, capfd):
    first = _job(tmp_path, "first", [])
    pid = pool.submit(worker.ready).result()
    record = {"status": "ok", "config": {}, "metrics": {}, "error": None}
    run = tracker_process.open_run(_settings(tmp_path), "open", {})
    tracker_process.drain()  # its run has started
    os.kill(pid, signal.SIGKILL)
    run.finish(record, str(tmp_path / "open"))
    tracker_process.drain()
    lost = json.loads((tmp_path / "open" / "result.json").read_text())
    assert lost["status"] == "failed" and lost["wandb_finished"] is False
    assert lost["wandb_error"].startswith("W&B: the W&B process could not finish run")
    err = capfd.readouterr().err
    assert err.count("sweeper: the W&B process died") == 1, err
    after = _job(tmp_path, "after", [])
    assert after["status"] == "ok" and inspect_run(after["wandb"])["exit_code"] == 0
    assert inspect_run(first["wandb"])["exit_code"] == 0


def test_without_a_w_and_b_process_runs_stay_in_process(tmp_path):
    assert tracker_process.current() is None
    run = tracker_process.open_run(_settings(tmp_path), "x", {})
    assert isinstance(run, JobRun)
    record = {"status": "ok", "config": {}, "metrics": {}, "error": None}
    assert run.finish(record, str(tmp_path / "x"))["wandb_finished"] is True
