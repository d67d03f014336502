"""Reading W&B run files back from disk, with W&B's own reader."""

import json
import subprocess
import sys
from pathlib import Path


def inspect_run(run_dir):
    """``wandb leet inspect --summary --json RUN`` as a dict (name, exit_code, summary, config, ...)."""
    wandb_cli = Path(sys.executable).with_name("wandb")
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--summary", "--json", str(run_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def runs_under(directory):
    return sorted(Path(directory).glob("wandb/offline-run-*"))


def run_record(run_dir):
    """The run's own record in its .wandb log: group, job_type, display name, config."""
    wandb_cli = Path(sys.executable).with_name("wandb")
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True, check=True
    )
    records = (json.loads(line) for line in out.stdout.splitlines() if line.strip())
    return next(r["run"] for r in records if r["type"] == "run")
