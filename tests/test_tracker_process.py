"""The W&B tracker process: runs started, logged and finished beside the sweep, failures kept."""

import json

import pytest

from sweeper.records import write_record
from sweeper.tracking import process as tracker_process
from sweeper.tracking.wandb_run import Run, TrackerSettings

from .helpers.wandb_files import inspect_run

pytestmark = pytest.mark.slow


@pytest.fixture
def tracker():
    yield tracker_process.start()
    tracker_process.stop()


def _settings(tmp_path, mode="offline"):
    return TrackerSettings(mode=mode, project="p", entity=None, group="g", dir=str(tmp_path))


def _job(tmp_path, tracker, name, lanes):
    record = {"status": "ok", "config": {}, "metrics": {"diversity/lanes": 2}, "error": None, "env": {}}
    with tracker_process.open_run(_settings(tmp_path), name, {"seed": 0}) as run:
        assert isinstance(run, tracker_process.RemoteRun)
        record["wandb"] = run.path
        write_record(tmp_path / name, record)
        run.log_job(record, lanes, None, str(tmp_path / name))
        run.succeed()
    return record


def test_runs_are_logged_and_finished_by_the_tracker(tmp_path, tracker):
    record = _job(tmp_path, tracker, "good", [{"lane": 0, "x": 1.0}, {"lane": 1, "x": 2.0}])
    tracker.drain()
    run = inspect_run(record["wandb"])
    assert run["exit_code"] == 0
    assert run["summary"]["diversity/lanes"] == 2
    assert json.loads((tmp_path / "good" / "result.json").read_text())["status"] == "ok"


def test_a_wandb_failure_fails_the_job_and_its_record_says_so(tmp_path, tracker):
    record = _job(tmp_path, tracker, "bad", [{"lane": 0, "x": 1.0}, {"lane": 1, "x": "text"}])  # W&B refuses the table
    tracker.drain()
    written = json.loads((tmp_path / "bad" / "result.json").read_text())
    assert written["status"] == "failed"
    assert written["error"].startswith("W&B: TypeError: Data row contained incompatible types")
    assert inspect_run(record["wandb"])["exit_code"] == 1


def test_a_run_that_cannot_start_raises_and_the_tracker_goes_on(tmp_path, tracker):
    run = tracker_process.open_run(_settings(tmp_path, mode="nonsense"), "x", {})
    with pytest.raises(tracker_process.TrackerError, match=r"^W&B: "), run:
        run.path  # noqa: B018 - the run's directory is where a failed start surfaces
    assert tracker.alive
    assert inspect_run(_job(tmp_path, tracker, "after", [])["wandb"])["exit_code"] == 0


def test_without_a_tracker_runs_stay_in_process(tmp_path):
    assert tracker_process.current() is None
    assert isinstance(tracker_process.open_run(_settings(tmp_path), "x", {}), Run)
