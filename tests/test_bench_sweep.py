"""The sweep benchmark end to end on its --quick grid, as a user runs it: a consistent table
backed by the sweeps both apps really ran. No timing thresholds: only arithmetic and files."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

QUICK_JOBS = 2 * 2 * 1  # seed=0,1 x num_inits=1,4 x features=4


@pytest.mark.slow
def test_quick_sweep_bench_runs_both_apps_cold_and_warm(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sweeper.bench", "sweep", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| grid | app | run |" in out.stdout
    assert (tmp_path / "bench_sweep.md").read_text().startswith("| grid | app | run |")

    payload = json.loads((tmp_path / "bench_sweep.json").read_text())
    rows = {(r["app"], r["run"]): r for r in payload["rows"]}
    assert sorted(rows) == sorted((app, run) for app in ("sweeper", "plain") for run in ("cold", "warm"))
    assert len(payload["rows"]) == 4

    for (app, run), r in rows.items():
        assert r["grid"] == "quick" and r["rc"] == 0
        assert r["jobs"] == r["expected_jobs"] == QUICK_JOBS
        assert math.isfinite(r["wall_s"]) and r["wall_s"] > 0
        assert math.isclose(r["plain/sweeper"], rows["plain", run]["wall_s"] / rows["sweeper", run]["wall_s"])
        assert math.isclose(r["jobs/s"], QUICK_JOBS / r["wall_s"])

        job_dirs = sorted(p for p in Path(r["sweep_dir"]).iterdir() if p.name.isdigit())
        assert [p.name for p in job_dirs] == [str(i) for i in range(QUICK_JOBS)]
        if app == "sweeper":
            records = [json.loads((d / "result.json").read_text()) for d in job_dirs]
            assert all(rec["status"] == "ok" and Path(rec["wandb"]).is_dir() for rec in records)
            keys = ("compile_s", "build_s", "checks_s", "diversity_s", "forward_s")
            work = sum(rec["metrics"][f"time/{k}"] for rec in records for k in keys)
            assert (Path(r["sweep_dir"]) / "summary.csv").exists()
        else:
            works = [json.loads((d / "work.json").read_text()) for d in job_dirs]
            assert all(len(list(d.glob("wandb/offline-run-*"))) == 1 for d in job_dirs)
            work = sum(w["build_s"] + w["measure_s"] for w in works)
        assert math.isclose(r["work_s"], work)
        assert math.isclose(r["overhead_ms/job"], 1000 * (r["wall_s"] - work) / QUICK_JOBS)

    # each sweeper sweep's profile: the phases add up to its wall time, the W&B/launcher split to its parent
    # (up to float rounding of epoch-second file times, ~1e-7 s)
    assert sorted(payload["profiles"]) == ["quick cold", "quick warm"]
    for name, phases in payload["profiles"].items():
        on_wall = {phase: s for phase, s in phases.items() if not phase.startswith("(other core)")}
        top = [s for phase, s in on_wall.items() if not phase.startswith(" ") and phase != "total (wall)"]
        sub = [s for phase, s in on_wall.items() if phase.startswith(" ")]
        assert len(sub) == 2
        assert math.isclose(sum(top), phases["total (wall)"], abs_tol=1e-5)
        assert math.isclose(sum(sub), phases["launcher + W&B hand-overs"], abs_tol=1e-5)
        assert math.isclose(phases["total (wall)"], rows["sweeper", name.split()[1]]["wall_s"], abs_tol=0.05)
        # the W&B process reported its own busy time: four runs started, logged and finished
        busy = {phase: s for phase, s in phases.items() if phase.startswith("(other core)")}
        assert len(busy) == 5 and all(s > 0 for s in busy.values()), busy
        assert math.isclose(sum(busy.values()) / 2, busy["(other core) W&B process, busy"], rel_tol=0.01)
