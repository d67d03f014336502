"""Depth 3: the installed `sweeper` command as a user types it, and the files it leaves."""

import csv
import json
import os
import sys

import pytest

from .helpers.cli import PNG_MAGIC, install_wheel, sweeper
from .helpers.wandb_files import inspect_run, run_record, runs_under

pytestmark = [pytest.mark.slow, pytest.mark.next_hydra]


def test_multirun_writes_records_summary_plots_and_wandb_runs(tmp_path):
    done = sweeper("-m", "seed=0,1", "num_inits=1,4", "features=4", "hydra.sweep.dir=outputs/grid", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sweep = tmp_path / "outputs" / "grid"
    records = {int(p.parent.name): json.loads(p.read_text()) for p in sweep.glob("*/result.json")}
    assert sorted(records) == [0, 1, 2, 3]
    grid = {(r["config"]["seed"], r["config"]["num_inits"]) for r in records.values()}
    assert grid == {(0, 1), (0, 4), (1, 1), (1, 4)}
    assert all(r["status"] == "ok" and r["config"]["features"] == 4 for r in records.values())
    # one progress line per job, then the table and the verdict
    assert sum(line.startswith(("[1/4]", "[2/4]", "[3/4]", "[4/4]")) for line in done.stdout.splitlines()) == 4
    assert "4 of 4 jobs ok" in done.stdout

    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["job"]) for r in rows] == [0, 1, 2, 3]
    for row in rows:
        record = records[int(row["job"])]
        assert row["status"] == "ok"
        assert int(row["config/num_inits"]) == record["config"]["num_inits"]
        assert float(row["time/build_s"]) == pytest.approx(record["metrics"]["time/build_s"])
    for plot in ("build_time.png", "diversity.png"):
        assert (sweep / plot).read_bytes()[:8] == PNG_MAGIC

    runs = runs_under(sweep)
    assert len(runs) == 5  # one per job, one for the sweep
    by_name = {}
    for run_dir in runs:
        run = inspect_run(run_dir)
        assert run["state"] == "finished" and run["exit_code"] == 0
        by_name[run["name"]] = (run, run_record(run_dir))
    assert {r["run_group"] for _, r in by_name.values()} == {"outputs_grid"}
    summary_run, summary_record = by_name.pop("outputs_grid")  # the sweep's run is named after the sweep
    assert summary_record["job_type"] == "sweep-summary"
    assert summary_run["summary"]["jobs"] == 4 and summary_run["summary"]["jobs_failed"] == 0
    # sweep=none: the command line sweeps its own axes, with no preset's
    assert summary_run["config"]["grid"] == {"seed": "0,1", "num_inits": "1,4", "features": "4", "sweep": "none"}
    assert "charts/diversity/mean_pairwise_l2_per_sqrt_p_table" in summary_run["summary"]  # a native W&B chart
    for record in records.values():
        c = record["config"]
        run, meta = by_name[f"features=4,num_inits={c['num_inits']},seed={c['seed']}"]
        assert meta["job_type"] == "ensemble"
        assert run["summary"]["diversity/distinct_lanes"] == record["metrics"]["diversity/distinct_lanes"]
        assert run["summary"]["time/build_s"] == pytest.approx(record["metrics"]["time/build_s"])


def test_pitfalls_exit_non_zero_and_the_report_names_every_failure(tmp_path):
    done = sweeper(
        "-m", "constructor=vmap,pitfall_broadcast,pitfall_no_split", "num_inits=8", "features=4",
        "seed=0", "hydra.sweep.dir=outputs/pit", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "1 of 3 jobs ok" in done.stdout
    assert "job 1 failed: all 8 lanes identical: was nnx.split_rngs forgotten?" in done.stdout
    assert "job 2 failed: PitfallError: constructor=pitfall_no_split" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    with open(tmp_path / "outputs" / "pit" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "failed", "failed"]
    assert rows[1]["diversity/distinct_lanes"] == "1"  # the failed job's metrics are recorded
    exit_codes = sorted(inspect_run(r)["exit_code"] for r in runs_under(tmp_path / "outputs" / "pit"))
    assert exit_codes == [0, 1, 1, 1]  # vmap ok; two pitfalls and the sweep's own run failed
    # the full traceback of the job that raised is in its log, not on the console
    assert "Traceback" in (tmp_path / "outputs" / "pit" / "2" / "job.log").read_text()


def test_bad_input_is_one_line_on_stderr_and_a_non_zero_exit(tmp_path):
    done = sweeper("num_inits=-3", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["sweeper: num_inits=-3: must be an integer >= 1 (nothing was run)"]


def test_python_dash_m_runs_one_job_under_outputs_runs(tmp_path):
    done = sweeper("num_inits=2", "features=3", cwd=tmp_path, command=(sys.executable, "-m", "sweeper"))
    assert done.returncode == 0, done.stderr
    [result] = (tmp_path / "outputs" / "runs").glob("*/*/result.json")
    assert json.loads(result.read_text())["metrics"]["shape/kernel"] == [2, 3, 3]


def test_the_installed_wheel_carries_its_configs(tmp_path):
    site = install_wheel(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = sweeper(
        "-c", "import sweeper.conf; print(sweeper.conf.__file__)", cwd=tmp_path, env=env, command=(sys.executable,)
    )
    assert where.stdout.strip().startswith(str(site))
    assert sorted(p.name for p in (site / "sweeper" / "conf" / "sweep").glob("*.yaml")) == [
        "default.yaml", "es.yaml", "none.yaml", "reference.yaml", "smoke.yaml",
    ]  # fmt: skip
    done = sweeper(
        "-m",
        "sweep=smoke",
        "hydra.sweep.dir=outputs/wheel",
        cwd=tmp_path,
        env=env,
        command=(sys.executable, "-m", "sweeper"),
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "outputs" / "wheel").glob("*/result.json"))) == 2


def test_compilations_are_cached_under_outputs_unless_turned_off(tmp_path):
    done = sweeper("num_inits=2", "features=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert any((tmp_path / "outputs" / "jax_cache").iterdir())
    off = tmp_path / "off"
    off.mkdir()
    done = sweeper("num_inits=2", "features=3", cwd=off, env={**os.environ, "SWEEPER_COMPILATION_CACHE": ""})
    assert done.returncode == 0, done.stderr
    assert not (off / "outputs" / "jax_cache").exists()
