"""The command: ``sweeper`` (and ``python -m sweeper``), a thin ``@hydra.main``.

It turns the composed config into typed values, calls the core, writes the job's
record and hands it to the tracker. Sweep-level work lives in :mod:`sweeper.cli.callback`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sweeper.cli.hydra_compat import MAIN_OPTIONS
from sweeper.cli.redact import env_interpolated, job_name, redact
from sweeper.config import RECORDED, ConfigError, SweeperConfig, job_settings, record_config, register_configs
from sweeper.core.compile_cache import enable_compilation_cache
from sweeper.interrupts import Interrupted, shielded
from sweeper.records import job_record, read_record, write_record
from sweeper.report.shared_lanes import write_lane_digests

log = logging.getLogger("sweeper")
NAMING_KEYS = ("seed", "num_inits", "features", "constructor", "model")  # name a job without valid settings
register_configs()  # the schema and the constructor and model groups


def sweep_id(sweep_dir: str) -> str:
    """``outputs/multiruns/2026-11-24/21-30-05`` -> ``2026-11-24_21-30-05``: the W&B group."""
    return "_".join(Path(sweep_dir).parts[-2:])


def root_dir() -> Path:
    """The sweep directory of a multirun, the run directory of a single run."""
    hc = HydraConfig.get()
    return Path(hc.runtime.cwd, hc.sweep.dir if hc.mode == RunMode.MULTIRUN else hc.run.dir)  # as hydra.job.chdir


def tracker_settings(cfg: DictConfig, root: Path):
    from sweeper.tracking.wandb_run import TrackerSettings

    return TrackerSettings(
        mode=cfg.wandb.mode,
        project=cfg.wandb.project,
        entity=cfg.wandb.entity,
        group=cfg.wandb.group or sweep_id(str(root)),
        tags=tuple(cfg.wandb.tags),
        job_type=cfg.wandb.job_type,
        dir=str(root),
    )


def recorded_config(cfg: DictConfig, settings: SweeperConfig | None) -> dict[str, Any]:
    """A record's ``config``, values read from the environment redacted.

    Without valid settings: the keys that name the job, as given.
    """
    env_keys = env_interpolated(OmegaConf.to_container(cfg, resolve=False))
    secret = {name for name, key in RECORDED.items() if key in env_keys}
    if settings is None:  # as given; what reads the environment is not even resolved
        config = {name: None if name in secret else OmegaConf.select(cfg, RECORDED[name]) for name in NAMING_KEYS}
    else:
        config = record_config(settings)
    return redact(config, secret)


def _already_done(output_dir: Path, root: Path, settings: SweeperConfig) -> dict[str, Any] | None:
    """With ``resume=true``: this job's ok record from before, found by its settings, copied into its directory."""
    from sweeper.cli.sweep_dir import earlier_record

    config = record_config(settings)
    earlier = earlier_record(root, config) if HydraConfig.get().mode == RunMode.MULTIRUN else None
    if earlier is None:
        earlier = read_record(output_dir)
        finished = earlier and earlier.get("wandb_finished", True)  # False: killed before its W&B run was finished
        if not (finished and earlier["status"] == "ok" and earlier["config"] == config):
            return None
    write_record(output_dir, earlier)
    return earlier | {"resumed": True}


def _run_and_track(cfg: DictConfig, settings: SweeperConfig, output_dir: Path, root: Path) -> dict[str, Any]:
    """Run the job, write its record, hand it to W&B. On a signal the job records itself as interrupted."""
    from sweeper.cli.progress import Progress
    from sweeper.job import environment, run_job
    from sweeper.tracking.process import open_run
    from sweeper.tracking.wandb_run import run_id

    hc = HydraConfig.get()
    env_keys = env_interpolated(OmegaConf.to_container(cfg, resolve=False))
    config = redact(OmegaConf.to_container(cfg, resolve=True), env_keys) | {"env": environment()}
    tracking = tracker_settings(cfg, root)
    job = hc.job.num if hc.mode == RunMode.MULTIRUN else None
    group = config["wandb"]["group"] or tracking.group  # null means the sweep's id; a typed one stays as redacted
    config |= {"job": job, "sweep_id": sweep_id(str(root)), "wandb": config["wandb"] | {"group": group}}
    name = job_name(hc)
    run, record = None, None
    try:
        run = open_run(tracking, name, config, run_id=run_id(str(root), "run" if job is None else job))
        with Progress(name) as progress:
            outcome = run_job(settings, progress.phase)
        record = outcome.record
        record["config"] = recorded_config(cfg, settings)
        record |= {"wandb": run.path, "wandb_id": run.id, "wandb_finished": False, "wandb_error": None}
        if outcome.traceback:
            log.debug("job %s failed:\n%s", job_name(hc), outcome.traceback)
        write_lane_digests(output_dir, outcome.lane_digests)  # for the sweep's shared-lanes check
        write_record(output_dir, record)  # results first: safe on disk whatever W&B does next
        run.log(record, outcome.lanes, outcome.kernel_sample)
    except Interrupted as signal:
        record = job_record(recorded_config(cfg, settings), error=f"interrupted by {signal.name}", status="interrupted")
        record |= {"wandb_id": run and run.id, "wandb_finished": False}
        write_record(output_dir, record)
        print(f"sweeper: job {name} interrupted by {signal.name}", file=sys.stderr)
        raise
    finally:
        if run is not None and record is not None:
            with shielded():
                final = run.finish(record, str(output_dir))  # writes the final record: W&B's outcome beside the job's
            record = final or record  # in this process the final record is known now; handed over, it is not yet
    return record


def run_configured_job(cfg: DictConfig) -> dict[str, Any]:
    """The job function: validate, run, record, track. Returns the record; raises only :class:`Interrupted`.

    On SIGTERM or SIGINT (handled from :mod:`sweeper.cli.command` on) the job records itself
    as interrupted, finishes its W&B run with a non-zero exit code, and lets the signal go on
    to the code that owns the job loop, which writes the summary of what ran.
    """
    hc = HydraConfig.get()
    output_dir, root = Path(hc.runtime.output_dir), root_dir()
    if not output_dir.resolve().is_relative_to(root.resolve()):
        error = f"hydra.sweep.subdir: job directory {output_dir} is outside the sweep directory {root}"
        return job_record(recorded_config(cfg, None), error=error)
    try:
        settings = job_settings(cfg)
    except ConfigError as err:
        record = job_record(recorded_config(cfg, None), error=str(err))
        write_record(output_dir, record)
        return record
    if cfg.resume and (earlier := _already_done(output_dir, root, settings)):
        return earlier
    enable_compilation_cache()
    return _run_and_track(cfg, settings, output_dir, root)


@hydra.main(config_path="pkg://sweeper.conf", config_name="config", **MAIN_OPTIONS)
def main(cfg: DictConfig) -> dict[str, Any]:
    return run_configured_job(cfg)
