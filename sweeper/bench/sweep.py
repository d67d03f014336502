"""Sweep benchmark: ``sweeper -m sweep=<grid>`` against the plain app, on the same grid.

Run ``python -m sweeper.bench sweep``. For each grid it runs four sweeps, one after the
other, each a subprocess typed the way a user types it:

- ``sweeper -m sweep=<grid>`` (the installed console script);
- ``python sweeper/bench/plain/plain_app.py -m <the preset's params>``: what a user writes
  instead (eager recipe, a pairwise distance, one offline W&B run per job);

each ``cold`` (fresh sweep directory, empty JAX compilation cache) then ``warm`` (right
after: new sweep directory, the same cache). Work is what the jobs time themselves
(sweeper: compile + build + checks + diversity + forward; plain: build + measure);
overhead per job = (wall - work) / jobs. The sweeper sweeps are also split by phase from
the timestamps of the files they write (see :func:`profile`).
"""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from sweeper.cli.preflight import check_overrides
from sweeper.records import job_dirs, read_record

APPS = ("sweeper", "plain")
RUNS = ("cold", "warm")
QUICK_PARAMS = ["seed=0,1", "num_inits=1,4", "features=4"]  # 4 jobs, seconds
PLAIN_APP = Path(__file__).with_name("plain") / "plain_app.py"
SWEEPER_WORK = ("time/compile_s", "time/build_s", "time/checks_s", "time/diversity_s", "time/forward_s")
SPEEDUP_TARGETS = {"reference": 4.0, "es": 3.0}  # plain wall / sweeper wall, cold
OVERHEAD_TARGET_MS = 40.0  # sweeper's per-job overhead
COLUMNS = (
    "grid",
    "app",
    "run",
    "wall_s",
    "jobs",
    "jobs/s",
    "work_s",
    "overhead_ms/job",
    "plain/sweeper",
    "cache_files",
    "load_1m",
)


def preset_params(grid: str) -> list[str]:
    """``conf/sweep/<grid>.yaml``'s ``hydra.sweeper.params`` as overrides: the plain app's grid."""
    text = (importlib.resources.files("sweeper.conf") / "sweep" / f"{grid}.yaml").read_text()
    params = OmegaConf.create(text).hydra.sweeper.params
    return [f"{key}={value}" for key, value in params.items()]


def commands(grid: str, sweep_dir: Path) -> dict[str, list[str]]:
    """Both apps' command lines for one grid (``quick``: a tiny grid given on the command line)."""
    params = QUICK_PARAMS if grid == "quick" else preset_params(grid)
    sweeper = str(Path(sys.executable).with_name("sweeper"))
    where = f"hydra.sweep.dir={sweep_dir}"
    return {
        "sweeper": [sweeper, "-m", *(params if grid == "quick" else [f"sweep={grid}"]), where],
        "plain": [sys.executable, str(PLAIN_APP), "-m", *params, where],
    }


def launch(command: list[str], log: Path, cache: Path) -> dict:
    """Run one sweep to the end; its wall time and its start and end on the file clock."""
    env = os.environ | {
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "SWEEPER_COMPILATION_CACHE": str(cache),
        "SWEEPER_TRACKER_PROFILE": str(tracker_profile(log)),  # what W&B cost the W&B process
    }
    with open(log, "w") as fh:
        t0, start = time.time(), time.perf_counter()
        rc = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode
        wall, t1 = time.perf_counter() - start, time.time()
    return {"wall_s": wall, "t0": t0, "t1": t1, "rc": rc, "load_1m": os.getloadavg()[0]}


def tracker_profile(log: Path) -> Path:
    return log.with_suffix(".tracker.json")


TRACKER_OPS = {  # the W&B process's requests, as the profile names them
    "start": "run starts",
    "log": "metrics, tables, histograms",
    "finish": "run finishes",
    "report_sweep": "plots + the sweep's run",
}


def tracker_phases(path: Path) -> dict[str, float]:
    """The W&B process's busy seconds by request, if it wrote them: W&B's cost, off the sweep's wall."""
    if not path.exists():
        return {}
    busy = json.loads(path.read_text())["busy_s"]
    phases = {"(other core) W&B process, busy": sum(busy.values())}
    return phases | {f"(other core)   {label}": busy.get(op, 0.0) for op, label in TRACKER_OPS.items()}


def job_work(app: str, sweep_dir: Path) -> list[float]:
    """Seconds of work of each job that left its record."""
    if app == "sweeper":
        records = [read_record(d) for d in job_dirs(sweep_dir)]
        return [sum(r["metrics"].get(k) or 0.0 for k in SWEEPER_WORK) for r in records if r]
    work = [json.loads(p.read_text()) for d in job_dirs(sweep_dir) if (p := d / "work.json").exists()]
    return [w["build_s"] + w["measure_s"] for w in work]


def profile(sweep_dir: Path, t0: float, t1: float) -> dict[str, float]:
    """A sweeper sweep's wall time by phase, in seconds; the top-level phases add up to the wall.

    Per job i: ``c`` = its ``.hydra/config.yaml`` mtime (the launcher starts the job),
    ``l`` = ``job.log`` mtime (its last line is the callback's progress line), ``T`` =
    ``time/total_s``. W&B runs start, log and finish in the W&B process, on the other core
    (which also writes the final ``result.json``); what the sweep itself spends on them is
    the hand-overs, read off these marks with Hydra's part of the job: l - c - T; launcher =
    c(i+1) - l(i). Estimates, to file-time resolution.
    """
    done = [(d, record) for d in job_dirs(sweep_dir) if (record := read_record(d))]
    if not done:
        return {}
    dirs, metrics = [d for d, _ in done], [record["metrics"] for _, record in done]
    c = [(d / ".hydra" / "config.yaml").stat().st_mtime for d in dirs]
    r = [(d / "result.json").stat().st_mtime for d in dirs]
    log = [d / "job.log" for d in dirs]
    end = [p.stat().st_mtime if p.exists() else ri for p, ri in zip(log, r, strict=True)]  # no log: the record
    total = [m.get("time/total_s") or 0.0 for m in metrics]

    def summed(*keys: str) -> float:
        return sum(m.get(k) or 0.0 for m in metrics for k in keys)

    steps = summed(*SWEEPER_WORK)
    return {
        "start-up (process start -> job 0 starts)": c[0] - t0,
        "compile (time/compile_s)": summed("time/compile_s"),
        "build (time/build_s)": summed("time/build_s"),
        "metrics (checks + diversity + forward)": summed("time/checks_s", "time/diversity_s", "time/forward_s"),
        "job other (time/total_s outside the steps)": sum(total) - steps,
        "launcher + W&B hand-overs": end[-1] - c[0] - sum(total),
        "  job start -> job end, outside time/total_s (.hydra files, W&B hand-overs, record, progress line)": sum(
            li - ti - ci for li, ti, ci in zip(end, total, c, strict=True)
        ),
        "  launcher (job end -> next job starts)": sum(ci - li for ci, li in zip(c[1:], end, strict=False)),
        "end (W&B runs drained, summary, plots, sweep W&B run, exit)": t1 - end[-1],
        "total (wall)": t1 - t0,
    }


def sweep_row(
    grid: str, app: str, run: str, command: list[str], sweep_dir: Path, result: dict, expected: int, cache: Path
) -> dict:
    """One line of the table: wall time, jobs done, their work, the overhead per job."""
    work = job_work(app, sweep_dir) if sweep_dir.exists() else []
    wall, jobs = result["wall_s"], len(work)
    return {
        "grid": grid,
        "app": app,
        "run": run,
        "wall_s": wall,
        "jobs": jobs,
        "expected_jobs": expected,
        "jobs/s": jobs / wall,
        "work_s": sum(work),
        "overhead_ms/job": 1000 * (wall - sum(work)) / jobs if jobs else None,
        "cache_files": sum(1 for p in cache.rglob("*") if p.is_file()),  # entries JAX wrote to the persistent cache
        "rc": result["rc"],
        "load_1m": result["load_1m"],  # other processes on the machine, at the sweep's end
        "sweep_dir": str(sweep_dir),
        "command": command,
    }


def run_grid(grid: str, root: Path) -> tuple[list[dict], dict[str, dict]]:
    """The four sweeps of one grid: a row each, and the sweeper sweeps' profiles."""
    expected = check_overrides(QUICK_PARAMS if grid == "quick" else preset_params(grid))
    rows, profiles = [], {}
    for app in APPS:
        with tempfile.TemporaryDirectory(prefix=f"bench-{grid}-{app}-jax-cache-") as cache:
            for run in RUNS:
                sweep_dir = (root / grid / f"{app}-{run}").resolve()
                command = commands(grid, sweep_dir)[app]
                print(f"[{grid}] {app} {run}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
                result = launch(command, root / grid / f"{app}-{run}.log", Path(cache))
                rows.append(sweep_row(grid, app, run, command, sweep_dir, result, expected, Path(cache)))
                if result["rc"]:
                    print(f"[{grid}] {app} {run}: exit status {result['rc']}", file=sys.stderr, flush=True)
                if app == "sweeper" and sweep_dir.exists():
                    phases = profile(sweep_dir, result["t0"], result["t1"])
                    profiles[f"{grid} {run}"] = phases | tracker_phases(
                        tracker_profile(root / grid / f"{app}-{run}.log")
                    )
    walls = {(r["app"], r["run"]): r["wall_s"] for r in rows}
    for r in rows:
        r["plain/sweeper"] = walls["plain", r["run"]] / walls["sweeper", r["run"]]
    return rows, profiles


def _complete(r: dict) -> bool:
    return r["jobs"] == r["expected_jobs"]


def verdicts(rows: list[dict]) -> list[str]:
    """The targets as PASS/MISS lines (a MISS is reported, never an error); no verdict on an incomplete sweep."""
    lines = []
    by = {(r["grid"], r["app"], r["run"]): r for r in rows}
    for grid, target in SPEEDUP_TARGETS.items():
        if (grid, "sweeper", "cold") not in by:
            continue
        pair = [by[grid, app, "cold"] for app in APPS]
        if not all(_complete(r) for r in pair):
            runs = ", ".join(f"{r['app']} {r['jobs']}/{r['expected_jobs']} jobs, exit status {r['rc']}" for r in pair)
            lines.append(f"NO RESULT {grid}: a cold sweep did not run every job ({runs})")
            continue
        ratio = pair[0]["plain/sweeper"]
        lines.append(
            f"{'PASS' if ratio >= target else 'MISS'} {grid}: sweeper {ratio:.2f}x faster than plain, "
            f"cold (target >= {target:g}x)"
        )
    for r in rows:
        if r["app"] == "sweeper" and _complete(r):
            ok = r["overhead_ms/job"] <= OVERHEAD_TARGET_MS
            lines.append(
                f"{'PASS' if ok else 'MISS'} {r['grid']} {r['run']}: sweeper per-job overhead "
                f"{r['overhead_ms/job']:.0f} ms (target <= {OVERHEAD_TARGET_MS:g} ms)"
            )
    return lines


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "-" if value is None else str(value)


def markdown(rows: list[dict], profiles: dict[str, dict], lines: list[str]) -> str:
    """The table, the verdicts and one profile table per sweeper sweep."""
    out = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if c in ("grid", "app", "run") else "---:" for c in COLUMNS) + "|",
    ]
    out += ["| " + " | ".join(_cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    out += ["", *lines]
    jobs = {f"{r['grid']} {r['run']}": r["jobs"] for r in rows if r["app"] == "sweeper"}
    for name, phases in profiles.items():
        wall = phases.get("total (wall)") or float("nan")
        out += [
            "",
            f"sweeper profile, {name} ({jobs[name]} jobs):",
            "",
            "| phase | s | ms/job | % wall |",
            "|---|---:|---:|---:|",
        ]
        out += [
            f"| {phase} | {s:.2f} | {1000 * s / max(jobs[name], 1):.0f} | {100 * s / wall:.0f} |"
            for phase, s in phases.items()
        ]
    return "\n".join(out)


def run(grids: list[str], out: Path, quick: bool = False) -> dict:
    """Benchmark ``grids`` (or the quick grid), write ``bench_sweep.{json,md}`` to ``out``, print the table."""
    root = out / "sweep_runs" / time.strftime("%Y-%m-%d_%H-%M-%S")
    for grid in ["quick"] if quick else grids:
        (root / grid).mkdir(parents=True, exist_ok=True)
    # read the libraries once, untimed, so the first timed sweep does not pay for a cold disk cache
    subprocess.run([sys.executable, "-c", "import jax, flax.nnx, hydra, wandb, matplotlib.pyplot"], check=True)
    rows, profiles = [], {}
    for grid in ["quick"] if quick else grids:
        grid_rows, grid_profiles = run_grid(grid, root)
        rows += grid_rows
        profiles |= grid_profiles
    lines = verdicts(rows)
    text = markdown(rows, profiles, lines)
    meta = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "runs_dir": str(root)}
    payload = {"rows": rows, "profiles": profiles, "verdicts": lines, "meta": meta}
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sweep.json").write_text(json.dumps(payload, indent=2))
    (out / "bench_sweep.md").write_text(text + "\n")
    print(text)
    print(f"\nwrote {out}/bench_sweep.{{json,md}}; sweeps under {root}", file=sys.stderr)
    return payload
