"""Composing sweeper's config the way Hydra does, for tests."""

from contextlib import contextmanager

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

import sweeper.cli.app  # noqa: F401 - registers the schema in the ConfigStore
from sweeper.cli.hydra_compat import VERSION_BASE


@contextmanager
def composed(overrides=(), return_hydra_config=False):
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="sweeper.conf", **VERSION_BASE):
        yield compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)
    GlobalHydra.instance().clear()


def run_in_process(overrides, output_dir):
    """Call the job function as Hydra's launcher would: HydraConfig set, ``hydra`` key removed."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict

    from sweeper.cli.app import run_configured_job

    with composed(overrides, return_hydra_config=True) as cfg:
        OmegaConf.set_readonly(cfg.hydra, False)
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.run.dir = str(output_dir)
        cfg.hydra.job.override_dirname = ",".join(sorted(overrides))
        cfg.hydra.mode = RunMode.RUN
        HydraConfig.instance().set_config(cfg)
        task_cfg = cfg.copy()
        with open_dict(task_cfg):
            del task_cfg["hydra"]
        return run_configured_job(task_cfg)


def multirun_config(overrides=()):
    """The sweep's config as ``sweeper -m ...`` composes it, before the sweeper starts.

    Hydra has no public API to compose a multirun's config (``compose`` refuses sweeps):
    this is the loader its ``multirun`` uses, as in ``tests/test_launching.py``.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.utils import setup_globals
    from hydra.types import RunMode

    setup_globals()  # the ${now:...} resolver of Hydra's default directories
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path("pkg://sweeper.conf"))
    return loader.load_configuration("config", overrides=list(overrides), run_mode=RunMode.MULTIRUN)
