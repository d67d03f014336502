"""Memory benchmark: does a long sweep hold the main process's memory flat?

``python -m sweeper.bench memory`` runs ``sweeper -m seed=range(0,JOBS) num_inits=2
features=4`` (small shapes: one compile, then jobs of a few milliseconds) and reads each
job's ``memory/process_peak_bytes`` (the sweep process's peak resident memory so far,
measured by the job) from its record. It prints the peak at job ``FROM`` and at the last
job, and the slope between them in bytes per job: exact for the peak, which never falls,
so a growing process shows as a positive slope. It also counts the files W&B left in its
staging directory under the home directory (a fresh one, for this sweep alone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sweeper.records import job_dirs, read_record

PEAK = "memory/process_peak_bytes"


def measure(jobs: int, start: int, out: Path) -> dict:
    sweep_dir = (out / "memory-sweep").resolve()
    home = (out / "memory-home").resolve()  # the sweep's own: nothing else writes W&B's files there meanwhile
    sweeper = str(Path(sys.executable).with_name("sweeper"))
    command = [sweeper, "-m", f"seed=range(0,{jobs})", "num_inits=2", "features=4", f"hydra.sweep.dir={sweep_dir}"]
    env = {k: v for k, v in os.environ.items() if k != "WANDB_DATA_DIR"} | {"HOME": str(home)}
    with open(out / "memory-sweep.log", "w") as log:
        rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False).returncode
    records = [read_record(d) for d in job_dirs(sweep_dir)]
    peaks = [r["metrics"].get(PEAK) for r in records if r and r["status"] == "ok"]
    last = len(peaks) - 1
    if last <= start:
        raise SystemExit(f"only {len(peaks)} jobs ran ok (exit status {rc}): see {out / 'memory-sweep.log'}")
    return {
        "command": command,
        "rc": rc,
        "jobs_ok": len(peaks),
        "from_job": start,
        "to_job": last,
        "peak_bytes_from": peaks[start],
        "peak_bytes_to": peaks[last],
        "slope_bytes_per_job": (peaks[last] - peaks[start]) / (last - start),
        "staging_files_left": sum(1 for p in home.rglob("*") if p.is_file() and "staging" in p.parts),
    }


def run(jobs: int, start: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result = measure(jobs, start, out)
    (out / "bench_memory.json").write_text(json.dumps(result, indent=2))
    mb = 1 / 2**20
    print(
        f"{result['jobs_ok']} jobs ok; the sweep process's peak resident memory: "
        f"{result['peak_bytes_from'] * mb:.1f} MB at job {start}, {result['peak_bytes_to'] * mb:.1f} MB at job "
        f"{result['to_job']}: {result['slope_bytes_per_job'] / 1024:.2f} KB per job; "
        f"W&B staging files left in the home directory: {result['staging_files_left']}"
    )
