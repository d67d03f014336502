"""Independence across the sweep: lanes two jobs of different seeds both built fail the sweep."""

import json

from sweeper.report.shared_lanes import find_shared_lanes, read_lane_digests

from .helpers.cli import sweeper
from .helpers.wandb_files import inspect_run, run_record, runs_under

GRID = ("seed=0,1", "num_inits=4", "features=4")


def summary_run(sweep):
    [run_dir] = [d for d in runs_under(sweep) if run_record(d)["job_type"] == "sweep-summary"]
    return inspect_run(run_dir)


def test_the_loop_baseline_overlaps_across_seeds_and_fails_the_sweep(tmp_path):
    sweep = tmp_path / "loop"
    done = sweeper("-m", "constructor=loop", *GRID, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "2 of 2 jobs ok" in done.stdout  # every job is healthy on its own
    lines = done.stdout.splitlines()
    head = lines.index(
        "shared lanes: 3 lanes built by jobs of different seeds "
        "(the sweep holds fewer independent models than it seems to):"
    )
    assert lines[head + 1 : head + 4] == [
        "  job 0 lane 1 = job 1 lane 0",
        "  job 0 lane 2 = job 1 lane 1",
        "  job 0 lane 3 = job 1 lane 2",
    ]
    assert lines[head + 4].startswith("  fix: ")
    # the digests are in the job directories, one per lane, so any launcher's sweep can be checked again
    assert [len(read_lane_digests(sweep / str(job))) for job in (0, 1)] == [4, 4]
    assert read_lane_digests(sweep / "0")[1:] == read_lane_digests(sweep / "1")[:3]
    assert find_shared_lanes(sweep).count == 3
    run = summary_run(sweep)
    assert run["summary"]["shared_lanes"] == 3 and run["exit_code"] != 0


def test_the_recipe_shares_no_lane_across_seeds_and_passes(tmp_path):
    sweep = tmp_path / "vmap"
    done = sweeper("-m", "constructor=vmap", *GRID, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "shared lanes" not in done.stdout
    assert summary_run(sweep)["summary"]["shared_lanes"] == 0
    records = [json.loads((sweep / str(j) / "result.json").read_text()) for j in (0, 1)]
    assert all(r["metrics"]["diversity/ok"] for r in records)
    assert len({*read_lane_digests(sweep / "0"), *read_lane_digests(sweep / "1")}) == 8
