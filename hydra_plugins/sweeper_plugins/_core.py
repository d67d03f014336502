"""The plugins' work: a composition cache, and Hydra's ``run_job`` without its redundant copies.

The copy of ``run_job`` follows Hydra's main-branch ``run_job`` (1.4) on 1.3 and 1.4 alike:
``env_set`` resolved before the Hydra config is kept, a failure written to the job's log
file, and ``on_job_end`` called when a KeyboardInterrupt or SystemExit ends the job.
Why and which invariants hold: README.md beside this module. Hydra's plugin scan skips this
module (its name starts with ``_``); :mod:`.composing` imports it when a sweep starts.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import logging
import os
import pickle
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

# Private, on purpose (_flush_loggers, _save_config, get_omega_conf_dumper): Hydra's run_job writes its
# .hydra files and flushes its loggers with the first two, as the copy does; the third writes YAML text
# exactly as OmegaConf.to_yaml does, section by section. tests/test_hydra_plugin.py fails if they move;
# composing.py then falls back to Hydra's own launcher.
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    _flush_loggers,
    _save_config,
    env_override,
    filter_overrides,
    setup_globals,
)
from hydra.core.utils import configure_log as hydras_configure_log
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf._utils import get_omega_conf_dumper

from sweeper.interrupts import shielded

try:  # Hydra 1.4: targets chosen by config (logging handlers too) obey the app's execution whitelist
    from hydra.utils import execution_whitelist
except ImportError:  # Hydra 1.3 has no whitelist
    execution_whitelist = None

log = logging.getLogger(__name__)


def without_hydra(config: DictConfig) -> DictConfig:
    """The task's config, as Hydra's ``run_job`` makes it: a copy of the job's, minus ``hydra``."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


def _dump(container: Any) -> str:
    """YAML text exactly as ``OmegaConf.to_yaml`` writes it."""
    return yaml.dump(
        container, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=get_omega_conf_dumper()
    )


JOB_SECTIONS = ("overrides", "job", "runtime")  # the Hydra config's sections that differ between a structure's jobs


def hydra_yaml(hydra_cfg: DictConfig, shared: dict[str, str]) -> str:
    """``OmegaConf.to_yaml(hydra_cfg)``, with the sections a structure's jobs share dumped once into ``shared``.

    Block-style YAML of a mapping is its entries' texts one after another, so each section
    is dumped on its own at its own depth; ``tests/test_launching.py`` holds the result to
    Hydra's own text.
    """
    if not shared:
        hydra = OmegaConf.to_container(hydra_cfg, enum_to_str=True)["hydra"]
        shared.update({key: _dump({"hydra": {key: value}})[len("hydra:\n") :] for key, value in hydra.items()})
    texts = ["hydra:\n"]
    for key, text in shared.items():
        if key in JOB_SECTIONS:
            section = OmegaConf.to_container(hydra_cfg.hydra[key], enum_to_str=True)
            text = _dump({"hydra": {key: section}})[len("hydra:\n") :]
        texts.append(text)
    return "".join(texts)


class Template:
    """One composition per structure, and what each of its jobs copies: frozen by pickle (8x faster than deepcopy)."""

    def __init__(self, config: DictConfig):
        self.config = config
        self.frozen = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
        self.frozen_task = pickle.dumps(without_hydra(config), protocol=pickle.HIGHEST_PROTOCOL)
        # what HydraConfig.set_config makes of a job's config: a root holding a copy of its hydra node
        self.frozen_hydra = pickle.dumps(OmegaConf.masked_copy(config, "hydra"), protocol=pickle.HIGHEST_PROTOCOL)
        self.yaml_sections: dict[str, str] = {}


@dataclass
class ComposedJob:
    config: DictConfig  # the whole config, ``hydra`` included: what callbacks see
    task: DictConfig  # the config without ``hydra``: what the task function gets
    hydra_config: DictConfig  # ``{"hydra": a copy of config.hydra}``: what HydraConfig holds while the job runs
    hydra_yaml: Callable[[DictConfig], str]  # the text of ``.hydra/hydra.yaml`` for the job's Hydra config

    def set_hydra(self, fields: dict[str, Any]) -> None:
        """Set ``hydra.<key>`` to each value, in the config and its Hydra config alike."""
        for root in (self.config, self.hydra_config):
            _set_hydra(root, fields)


def _set_hydra(root: DictConfig, fields: dict[str, Any]) -> None:
    with read_write(root.hydra), open_dict(root.hydra):
        for key, value in fields.items():
            OmegaConf.update(root, f"hydra.{key}", value, merge=False)


class Composer:
    """One sweep's config loader: ``load_sweep_config`` as Hydra's, composing once per structure.

    The sweeper hands it to its launcher as the ``HydraContext``'s ``config_loader``; what
    else a launcher asks of a config loader goes to Hydra's. Pickled (to another launcher's
    worker), it is Hydra's loader again: the cache stays in the launching process.
    """

    def __init__(self, config_loader: Any, master: DictConfig):
        self.config_loader, self.master = config_loader, master
        self.parser = OverridesParser.create(config_loader=config_loader)
        self.templates: dict[tuple, Template] = {}
        self.parsed: dict[tuple, tuple] = {}  # validation, then launch: each job's overrides parsed once

    def __getattr__(self, name: str) -> Any:  # only for names a Composer lacks
        if name == "config_loader":  # not set yet (an unpickled or half-made object)
            raise AttributeError(name)
        return getattr(self.config_loader, name)

    def __reduce__(self) -> tuple:
        return _same, (self.config_loader,)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        if master_config is not self.master:
            return self.config_loader.load_sweep_config(master_config, sweep_overrides)
        return self(sweep_overrides)

    def __call__(self, overrides: Sequence[str], *, fresh: bool = True) -> DictConfig:
        """The job's config; ``fresh=False`` (validation only) may return a shared, reused object."""
        parsed, values, structure = self._parse(overrides)
        template = self._template(overrides, structure)
        config = pickle.loads(template.frozen) if fresh else template.config
        # every value key of the structure is set here, so a reused template keeps no stale value
        _set_values(config, values)
        _set_hydra(config, _job_fields(parsed, config))
        return config

    def job(self, overrides: Sequence[str]) -> ComposedJob:
        """The job's config, its task config (:func:`without_hydra`), its Hydra config and its ``hydra.yaml`` writer."""
        parsed, values, structure = self._parse(overrides)
        template = self._template(overrides, structure)
        config, task = pickle.loads(template.frozen), pickle.loads(template.frozen_task)
        _set_values(config, values)
        _set_values(task, values)
        hydra_yaml_text = functools.partial(hydra_yaml, shared=template.yaml_sections)
        job = ComposedJob(config, task, pickle.loads(template.frozen_hydra), hydra_yaml_text)
        job.set_hydra(_job_fields(parsed, config))
        return job

    def _parse(self, overrides: Sequence[str]) -> tuple[list[Override], list[Override], tuple]:
        """All overrides, the plain values among them, and the structure they leave."""
        if (key := tuple(overrides)) not in self.parsed:
            parsed = self.parser.parse_overrides(list(overrides))
            plain = [_is_plain_value(o, self.master) for o in parsed]
            values = [o for o, is_value in zip(parsed, plain, strict=True) if is_value]
            structure = tuple(o.key_or_group if v else o.input_line for o, v in zip(parsed, plain, strict=True))
            self.parsed[key] = parsed, values, structure
        return self.parsed[key]

    def _template(self, overrides: Sequence[str], structure: tuple) -> Template:
        if structure not in self.templates:
            self.templates[structure] = Template(self.config_loader.load_sweep_config(self.master, list(overrides)))
        return self.templates[structure]


def _same(config_loader: Any) -> Any:
    return config_loader


def _is_plain_value(override: Override, master: DictConfig) -> bool:
    """``key=value`` on a key the config already has, outside ``hydra``: no recomposition needed."""
    key = override.key_or_group
    if override.is_delete() or override.is_add() or override.is_force_add() or override.package is not None:
        return False
    if key.split(".")[0] == "hydra" or key in master.hydra.runtime.choices:
        return False  # Hydra's own settings and config group choices change the structure
    return OmegaConf.select(master, key, default="<absent>") != "<absent>"


def _set_values(config: DictConfig, values: list[Override]) -> None:
    for override in values:  # as Hydra's ConfigLoaderImpl._apply_overrides_to_config
        OmegaConf.update(config, override.key_or_group, override.value(), merge=True)


def _job_fields(parsed: list[Override], config: DictConfig) -> dict[str, Any]:
    """The Hydra fields that tell a structure's jobs apart, before the launcher numbers them."""
    task = [o for o in parsed if not o.is_hydra_override()]
    fields: dict[str, Any] = {"overrides.task": [o.input_line for o in task]}
    if not OmegaConf.is_interpolation(config.hydra.job, "override_dirname"):  # Hydra 1.4 resolves it from the above
        fields["job.override_dirname"] = override_dirname(task, config.hydra.job.config.override_dirname)
    return fields


def override_dirname(task: list[Override], settings: DictConfig) -> str:
    """``hydra.job.override_dirname`` as Hydra 1.3 writes it: the sorted task overrides, minus the excluded keys."""
    lines = sorted(o.input_line for o in task if o.key_or_group not in settings.exclude_keys)
    return re.sub("=", settings.kv_sep, settings.item_sep.join(lines))


# --- Hydra's run_job, for one of a sweep's jobs, its config copies made by the Composer ---


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
    chdir = False
    try:
        with shielded():  # a signal waits until the job is set up: cut mid-update, OmegaConf's own error hides it
            _set_hydra_config(job)
            output_dir = os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir))
            job.set_hydra({"runtime.output_dir": os.path.abspath(output_dir)})
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


def launch(
    context: HydraContext,
    task_function: TaskFunction,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    start_tracker: bool = True,
) -> list[JobReturn]:
    """Hydra's ``BasicLauncher.launch``, with the sweeper's :class:`Composer` and :func:`run_job`."""
    if start_tracker:
        from sweeper.tracking import process as tracker_process

        tracker_process.start()  # W&B on the other core, starting up while the first job is composed
    setup_globals()
    configure_log(context, config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    log.info(f"Launching {len(job_overrides)} jobs locally")
    composer = context.config_loader
    if not isinstance(composer, Composer):  # launched by another sweeper
        composer = Composer(context.config_loader, config)
    gc.freeze()  # start-up's objects (JAX, Flax, Hydra) live on: full collections between jobs skip them (~0.1 s each)
    runs = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        with shielded():  # a signal waits until the job's config is whole (see _run_job)
            job = composer.job(overrides)
            job.set_hydra({"job.id": str(idx), "job.num": idx})
        ret = run_job(context, task_function, job)
        ret.cfg = ret.hydra_cfg = None  # used up by the callbacks: kept, a long sweep would hold every job's configs
        if ret.status == JobStatus.COMPLETED:
            ret.return_value = None  # the job's record: on disk, and used up by the callbacks too
        runs.append(ret)  # the sweeper reads a return value only to raise a failed job's exception: that one stays
        configure_log(context, config.hydra.hydra_logging, config.hydra.verbose)
    return runs
