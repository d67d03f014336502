"""Hydra's ``run_job`` for one of a sweep's jobs, its config copies made by the composer (see README.md here).

It follows Hydra's main-branch ``run_job`` (1.4) on 1.3 and 1.4 alike: ``env_set`` resolved
before the Hydra config is kept, a failure written to the job's log file, and ``on_job_end``
called when a KeyboardInterrupt or SystemExit ends the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig

# Private, on purpose: Hydra's run_job writes its .hydra files and flushes its loggers with these two;
# the copy does the same. tests/test_hydra_api.py fails if they move; composing.py then falls back
# to Hydra's own launcher.
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, _flush_loggers, _save_config, env_override
from hydra.core.utils import configure_log as hydras_configure_log
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, read_write

try:  # Hydra 1.4: targets chosen by config (logging handlers too) obey the app's execution whitelist
    from hydra.utils import execution_whitelist
except ImportError:  # Hydra 1.3 has no whitelist
    execution_whitelist = None

if TYPE_CHECKING:
    from ._core import ComposedJob

log = logging.getLogger(__name__)


def configure_log(context: HydraContext, log_config: DictConfig, verbose: Any) -> None:
    """Hydra's ``configure_log``, under the sweep's execution whitelist where Hydra has one."""
    if execution_whitelist is None:
        hydras_configure_log(log_config, verbose)
    else:
        hydras_configure_log(log_config, verbose, execution_whitelist=context.execution_whitelist)


def _whitelisted(context: HydraContext) -> contextlib.AbstractContextManager:
    if execution_whitelist is None:
        return contextlib.nullcontext()
    return execution_whitelist(context.execution_whitelist, reset=True)


def _log_failure_to_files() -> None:
    """The running exception, to the job's log files only (the console has its own report), as Hydra 1.4 does."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "Job failed", (), sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)


def _set_hydra_config(job: ComposedJob) -> None:
    """What ``HydraConfig.instance().set_config(job.config)`` does, its copy already made by the composer."""
    for root in (job.config, job.hydra_config):
        OmegaConf.set_readonly(root.hydra, True)
    job.hydra_config.hydra._set_parent(job.config)  # as set_config: interpolations from hydra into the config resolve
    HydraConfig.instance().cfg = job.hydra_config


def run_job(context: HydraContext, task_function: TaskFunction, job: ComposedJob) -> JobReturn:
    """Hydra's ``hydra.core.utils.run_job`` for a sweep's job, without its redundant work.

    Hydra sets the Hydra config twice (each a deep copy of the ``hydra`` node), deep-copies
    the whole config and the Hydra config once more each, and dumps the whole Hydra config
    to YAML. Here the composer has made each copy from a pickled template, the job's output
    directory is written into the config and its Hydra config alike, the JobReturn keeps the
    job's own Hydra config object, and ``hydra.yaml`` reuses the text its structure's jobs share.
    The rest is Hydra's, in Hydra's order: output directory, ``chdir``, logging, the three
    ``.hydra`` files, ``env_set``, callbacks.
    """
    with _whitelisted(context):
        return _run_job(context, task_function, job)


def _run_job(context: HydraContext, task_function: TaskFunction, job: ComposedJob) -> JobReturn:
    config, task_cfg, hydra_cfg = job.config, job.task, job.hydra_config
    old_cwd = os.getcwd()
    orig_hydra_cfg = HydraConfig.instance().cfg
    _set_hydra_config(job)
    output_dir = os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir))
    job.set_hydra({"runtime.output_dir": os.path.abspath(output_dir)})
    chdir = False
    try:
        ret = JobReturn()
        ret.cfg, ret.hydra_cfg = task_cfg, hydra_cfg
        env_set = hydra_cfg.hydra.job.env_set
        with read_write(env_set):
            OmegaConf.resolve(env_set)
        ret.overrides = OmegaConf.to_container(config.hydra.overrides.task)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        chdir = bool(hydra_cfg.hydra.job.chdir)  # Hydra's own default since 1.2: False
        if chdir:
            os.chdir(output_dir)
        ret.working_dir = output_dir if chdir else os.getcwd()
        configure_log(context, config.hydra.job_logging, config.hydra.verbose)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            _save_config(task_cfg, "config.yaml", hydra_output)
            (hydra_output / "hydra.yaml").write_text(job.hydra_yaml(hydra_cfg), encoding="utf-8")
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        ret.task_name = JobRuntime.instance().get("name")
        _run_task(context, task_function, config, task_cfg, hydra_cfg, ret)
        return ret
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg
        if chdir:
            os.chdir(old_cwd)


def _run_task(context, task_function, config, task_cfg, hydra_cfg, ret: JobReturn) -> None:
    """The callbacks around the task; a KeyboardInterrupt or SystemExit still reaches ``on_job_end``, then goes on."""
    started = False
    try:
        with env_override(hydra_cfg.hydra.job.env_set):
            started = True
            context.callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
                _log_failure_to_files()
    except BaseException as e:
        ret.return_value = e
        ret.status = JobStatus.FAILED
        raise
    finally:
        _flush_loggers()
        if started:
            context.callbacks.on_job_end(config=config, job_return=ret)
