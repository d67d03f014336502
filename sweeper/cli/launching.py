"""A faster basic launcher: each job's config composed once per config *structure*, and
run without Hydra's redundant copies.

Hydra's basic sweeper composes every job's config to validate it, and its basic launcher
composes it again to run it: each composition rebuilds the defaults tree and reloads
every YAML file (~80 ms here), for jobs that differ only in a few values. Here a job's
config is composed by Hydra once per *structure* (its group choices and ``hydra.*``
overrides); the other jobs of that structure copy it and apply their value overrides
with the same ``OmegaConf.update`` call Hydra uses. The result equals Hydra's own
composition (``tests/test_launching.py`` compares them key by key), and every job still
gets its output directory, ``.hydra`` record, logging and callbacks as from Hydra's
``run_job`` under the basic launcher (:func:`run_job`).

Hydra loads plugins only from the ``hydra_plugins`` package: the sweeper and launcher
that use this live in ``hydra_plugins/sweeper_plugins``.
"""

from __future__ import annotations

import copy
import functools
import gc
import logging
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    _flush_loggers,
    _save_config,
    configure_log,
    env_override,
    filter_overrides,
    setup_globals,
)
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf._utils import get_omega_conf_dumper

log = logging.getLogger(__name__)


def _is_plain_value(override: Override, master: DictConfig) -> bool:
    """``key=value`` on a key the config already has, outside ``hydra``: no recomposition needed."""
    key = override.key_or_group
    if override.is_delete() or override.is_add() or override.is_force_add() or override.package is not None:
        return False
    if key.split(".")[0] == "hydra" or key in master.hydra.runtime.choices:
        return False  # Hydra's own settings and config group choices change the structure
    return OmegaConf.select(master, key, default="<absent>") != "<absent>"


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
    """Compose job configs as ``config_loader.load_sweep_config`` does, reusing one composition per structure."""

    def __init__(self, config_loader: Any, master: DictConfig):
        self.config_loader, self.master = config_loader, master
        self.parser = OverridesParser.create(config_loader=config_loader)
        self.templates: dict[tuple, Template] = {}
        self.parsed: dict[tuple, tuple] = {}  # validation, then launch: each job's overrides parsed once

    def _parse(self, overrides: Sequence[str]) -> tuple[list[Override], list[Override], tuple]:
        """All overrides, the plain values among them, and the structure they leave."""
        if (key := tuple(overrides)) not in self.parsed:
            self.parsed[key] = self._parse_now(overrides)
        return self.parsed[key]

    def _parse_now(self, overrides: Sequence[str]) -> tuple[list[Override], list[Override], tuple]:
        parsed = self.parser.parse_overrides(list(overrides))
        plain = [_is_plain_value(o, self.master) for o in parsed]
        values = [o for o, is_value in zip(parsed, plain, strict=True) if is_value]
        structure = tuple(o.key_or_group if v else o.input_line for o, v in zip(parsed, plain, strict=True))
        return parsed, values, structure

    def _template(self, overrides: Sequence[str], structure: tuple) -> Template:
        if structure not in self.templates:
            self.templates[structure] = Template(self.config_loader.load_sweep_config(self.master, list(overrides)))
        return self.templates[structure]

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


def _job_fields(parsed: list[Override], config: DictConfig) -> dict[str, Any]:
    """The Hydra fields that tell a structure's jobs apart, before the launcher numbers them."""
    task = [o for o in parsed if not o.is_hydra_override()]
    settings = config.hydra.job.config.override_dirname
    dirname = get_overrides_dirname(
        overrides=task, kv_sep=settings.kv_sep, item_sep=settings.item_sep, exclude_keys=list(settings.exclude_keys)
    )
    return {"overrides.task": [o.input_line for o in task], "job.override_dirname": dirname}


def _set_values(config: DictConfig, values: list[Override]) -> None:
    for override in values:  # as Hydra's ConfigLoaderImpl._apply_overrides_to_config
        OmegaConf.update(config, override.key_or_group, override.value(), merge=True)


_composers: dict[int, Composer] = {}


def composer_for(config_loader: Any, master: DictConfig) -> Composer:
    key = id(master)  # one sweep: its sweeper and launcher share the compositions
    if key not in _composers:
        _composers.clear()
        _composers[key] = Composer(config_loader, master)
    return _composers[key]


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    """Hydra's ``BasicLauncher.launch``, with configs from the shared :class:`Composer` and :func:`run_job`."""
    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    log.info(f"Launching {len(job_overrides)} jobs locally")
    compose = composer_for(context.config_loader, config)
    gc.freeze()  # start-up's objects (JAX, Flax, Hydra) live on: full collections between jobs skip them (~0.1 s each)
    runs = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        job = compose.job(overrides)
        job.set_hydra({"job.id": idx, "job.num": idx})
        runs.append(run_job(context.callbacks, launcher.task_function, job))
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    return runs


def _set_hydra_config(job: ComposedJob) -> None:
    """What ``HydraConfig.instance().set_config(job.config)`` does, its copy already made by the composer."""
    for root in (job.config, job.hydra_config):
        OmegaConf.set_readonly(root.hydra, True)
    job.hydra_config.hydra._set_parent(job.config)  # interpolations from hydra into the job's config resolve
    HydraConfig.instance().cfg = job.hydra_config


def run_job(callbacks: Any, task_function: Callable, job: ComposedJob) -> JobReturn:
    """Hydra's ``hydra.core.utils.run_job`` for a sweep's job, without its redundant work.

    Hydra sets the Hydra config twice (each a deep copy of the ``hydra`` node), deep-copies
    the whole config and the Hydra config once more each, and dumps the whole Hydra config
    to YAML. Here the composer has made each copy from a pickled template, the job's output
    directory is written into the config and its Hydra config alike, the JobReturn keeps the
    job's own Hydra config object, and ``hydra.yaml`` reuses the text its structure's jobs share.
    The rest is Hydra's, in Hydra's order: output directory, ``chdir``, logging, the three
    ``.hydra`` files, ``env_set``, callbacks.
    """
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
        ret.overrides = OmegaConf.to_container(config.hydra.overrides.task)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        chdir = bool(hydra_cfg.hydra.job.chdir)  # Hydra's own default since 1.2: False
        if chdir:
            os.chdir(output_dir)
        ret.working_dir = output_dir if chdir else os.getcwd()
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
            _save_config(task_cfg, "config.yaml", hydra_output)
            (hydra_output / "hydra.yaml").write_text(job.hydra_yaml(hydra_cfg), encoding="utf-8")
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        with env_override(hydra_cfg.hydra.job.env_set):
            callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        callbacks.on_job_end(config=config, job_return=ret)
        return ret
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg
        if chdir:
            os.chdir(old_cwd)
