"""Online mode and ``wandb sync``, end to end against a real W&B-compatible server on loopback.

The server (``openwandb``, test-only) stores each run's config and summary in its SQLite
database; the assertions read that database, i.e. what a user would see in the dashboard.
"""

import os
import sys
from pathlib import Path

import pytest

from .helpers.cli import sweeper
from .helpers.wandb_files import runs_under
from .helpers.wandb_server import API_KEY, openwandb, stored_runs

pytestmark = pytest.mark.slow
GRID = ("-m", "constructor=vmap,pitfall_broadcast", "num_inits=4", "features=4", "seed=0")
JOBS = {"constructor=vmap,features=4,num_inits=4,seed=0": ("vmap", "ok"),
        "constructor=pitfall_broadcast,features=4,num_inits=4,seed=0": ("pitfall_broadcast", "failed")}  # fmt: skip


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "openwandb"
    data.mkdir()
    with openwandb(data) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        yield data, env | {"WANDB_BASE_URL": url, "WANDB_API_KEY": API_KEY}


def assert_jobs_stored(runs, sweep_id):
    assert set(runs) == {*JOBS, sweep_id}  # one run per job, one for the sweep
    for name, (constructor, status) in JOBS.items():
        run = runs[name]
        assert run["state"] == "finished"
        assert run["config"]["constructor"]["name"] == constructor and run["config"]["num_inits"] == 4
        assert run["config"]["sweep_id"] == sweep_id and run["config"]["wandb"]["group"] == sweep_id
        assert run["config"]["job"] in (0, 1)
        summary = run["summary"]
        assert summary["status"] == status and summary["shape/ok"] is True
        assert summary["diversity/distinct_lanes"] == (4 if status == "ok" else 1)
        assert [summary[f"count[{i}]"] for i in range(3)] == [4, 4, 4]  # lists split into numbers
        assert not any(isinstance(v, list) for v in summary.values())
    sweep = runs[sweep_id]
    assert sweep["summary"]["jobs"] == 2 and sweep["summary"]["jobs_failed"] == 1
    assert sweep["config"]["grid"]["constructor"] == "vmap,pitfall_broadcast"
    assert "constructor=vmap,pitfall_broadcast" in sweep["config"]["overrides"]


def test_an_online_sweep_stores_every_job_and_a_rerun_continues_the_same_runs(tmp_path, server):
    data, env = server
    done = sweeper(*GRID, "wandb.mode=online", "hydra.sweep.dir=outputs/on", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert "wandb:" not in done.stdout + done.stderr  # W&B's own lines stay out of the sweep's output
    runs = stored_runs(data)
    assert_jobs_stored(runs, "outputs_on")
    assert f"W&B: {env['WANDB_BASE_URL']}" in done.stdout.splitlines()[-2]  # where to look, before the rerun hint

    again = sweeper(*GRID, "wandb.mode=online", "hydra.sweep.dir=outputs/on", "resume=true", cwd=tmp_path, env=env)
    assert again.returncode == 1, again.stderr
    rerun = stored_runs(data)  # the failed job ran again, into its own run; the sweep kept its one run
    assert_jobs_stored(rerun, "outputs_on")
    assert {name: run["id"] for name, run in rerun.items()} == {name: run["id"] for name, run in runs.items()}


def test_wandb_sync_uploads_an_offline_sweep_and_its_rerun_as_the_same_runs(tmp_path, server):
    data, env = server
    done = sweeper(*GRID, "hydra.sweep.dir=outputs/off", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    sweep = tmp_path / "outputs" / "off"
    assert f"upload: wandb sync {sweep.relative_to(tmp_path)}/wandb/offline-run-*" in done.stdout
    assert stored_runs(data) == {}  # offline: nothing reached the server
    again = sweeper(*GRID, "hydra.sweep.dir=outputs/off", "resume=true", cwd=tmp_path, env=env)
    assert again.returncode == 1, again.stderr  # the failed job and the sweep's run wrote a second attempt each
    assert len(runs_under(sweep)) == 5
    wandb_cli = str(Path(sys.executable).with_name("wandb"))
    synced = sweeper("sync", *map(str, runs_under(sweep)), cwd=tmp_path, env=env, command=(wandb_cli,))
    assert synced.returncode == 0, synced.stderr
    assert_jobs_stored(stored_runs(data), "outputs_off")
