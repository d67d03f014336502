"""``hydra/sweeper=sweeper`` and ``hydra/launcher=sweeper``: Hydra's basic sweeper and launcher,
composing each job's config once per structure (see :mod:`sweeper.cli.launching`).

Hydra instantiates plugins only from the ``hydra_plugins`` package, hence this module.
Hydra's plugin scan re-executes its core plugin modules, which makes new
``BasicSweeper`` and ``BasicLauncher`` classes; so the subclasses are made by
:func:`register`, after the scan, from the classes the scan left behind.
"""

# No `from __future__ import annotations` here: the scan executes this module outside
# sys.modules, where dataclasses cannot resolve string annotations.
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class ComposingSweeperConf:
    _target_: str = "hydra_plugins.sweeper_plugins.composing.ComposingSweeper"
    max_batch_size: Any = None  # as the basic sweeper's: jobs per batch, None for all at once
    params: Any = None  # the grid: {key: "v1,v2,..."}, as the basic sweeper's


@dataclass
class ComposingLauncherConf:
    _target_: str = "hydra_plugins.sweeper_plugins.composing.ComposingLauncher"


ConfigStore.instance().store(group="hydra/sweeper", name="sweeper", node=ComposingSweeperConf, provider="sweeper")
ConfigStore.instance().store(group="hydra/launcher", name="sweeper", node=ComposingLauncherConf, provider="sweeper")


def _classes():
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from sweeper.cli import launching
    from sweeper.cli.launching import composer_for
    from sweeper.tracking import process as tracker_process

    class ComposingSweeper(BasicSweeper):
        """Hydra's basic sweeper (same grid syntax and order), validating jobs with the shared composer."""

        def validate_batch_is_legal(self, batch) -> None:
            compose = composer_for(self.hydra_context.config_loader, self.config)
            for overrides in batch:
                compose(overrides, fresh=False)

    class ComposingLauncher(BasicLauncher):
        """Hydra's basic launcher, composing with the shared composer and running jobs without redundant copies."""

        def launch(self, job_overrides, initial_job_idx):
            tracker_process.start()  # W&B on the other core, starting up while the first job is composed
            return launching.launch(self, job_overrides, initial_job_idx)

    return ComposingSweeper, ComposingLauncher


def register() -> None:
    """Define the plugins on the scanned base classes and register them with Hydra. Idempotent."""
    from hydra.core.plugins import Plugins

    plugins = Plugins.instance()  # runs Hydra's plugin scan first, if it has not run yet
    if "ComposingSweeper" in globals():
        return
    for cls in _classes():
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
        globals()[cls.__name__] = cls
        plugins.register(cls)
