"""The command: ``sweeper`` (and ``python -m sweeper``), a thin ``@hydra.main``.

It turns the composed config into typed values, opens the tracker, calls the core and
writes the job's record. Sweep-level work lives in :mod:`sweeper.callback`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sweeper.config import ConfigError, SweeperConfig, job_settings
from sweeper.records import write_record

log = logging.getLogger("sweeper")
ConfigStore.instance().store(name="sweeper_schema", node=SweeperConfig)


def sweep_id(sweep_dir: str) -> str:
    """``outputs/multiruns/2026-11-24/21-30-05`` -> ``2026-11-24_21-30-05``: the W&B group."""
    return "_".join(Path(sweep_dir).parts[-2:])


def tracker_settings(cfg: DictConfig):
    from sweeper.tracking import TrackerSettings

    hc = HydraConfig.get()
    root = hc.sweep.dir if hc.mode == RunMode.MULTIRUN else hc.run.dir
    return TrackerSettings(
        mode=cfg.wandb.mode,
        project=cfg.wandb.project,
        entity=cfg.wandb.entity,
        group=cfg.wandb.group or sweep_id(root),
        tags=tuple(cfg.wandb.tags),
        job_type=cfg.wandb.job_type,
        dir=root,
    )


def _invalid(cfg: DictConfig, err: ConfigError) -> dict[str, Any]:
    config = {k: OmegaConf.select(cfg, k) for k in ("seed", "num_inits", "features")}
    config.update(constructor=OmegaConf.select(cfg, "constructor.name"), model=OmegaConf.select(cfg, "model.name"))
    return {"status": "failed", "config": config, "metrics": {}, "error": str(err), "env": {}}


def run_configured_job(cfg: DictConfig) -> dict[str, Any]:
    """The job function: validate, run, record, track. Returns the record; never raises."""
    from sweeper.job import environment, one_line, run_job
    from sweeper.tracking import Run

    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    try:
        settings = job_settings(cfg)
    except ConfigError as err:
        record = _invalid(cfg, err)
        write_record(output_dir, record)
        return record
    outcome = run_job(settings)
    record = outcome.record
    if outcome.traceback:
        log.debug("job %s failed:\n%s", hc.job.override_dirname, outcome.traceback)
    write_record(output_dir, record)
    try:
        config = OmegaConf.to_container(cfg, resolve=True) | {"env": environment()}
        with Run(tracker_settings(cfg), hc.job.override_dirname or "default", config) as run:
            run.log_job(record, outcome.lanes, outcome.kernel_sample)
            record["wandb"] = run.path
            if record["status"] == "ok":
                run.succeed()
    except Exception as err:
        record.update(status="failed", error=f"W&B: {one_line(err)}")
    write_record(output_dir, record)
    return record


@hydra.main(version_base="1.3", config_path="pkg://sweeper.conf", config_name="config")
def main(cfg: DictConfig) -> dict[str, Any]:
    return run_configured_job(cfg)
