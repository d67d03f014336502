"""``hydra/sweeper=sweeper`` and ``hydra/launcher=sweeper``: Hydra's basic sweeper and launcher,
composing each job's config once per structure (the work is in ``_core``; see README.md here).

Hydra's plugin scan imports this module at every start, so it stays light; ``_core`` loads
when a sweep starts, and where it cannot (a private name it uses has moved in this Hydra),
Hydra's basic sweeper and launcher run the sweep instead, after one line that says so.
"""

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from types import ModuleType

from hydra import __version__ as hydra_version

# Private, on purpose: Hydra's default sweeper and launcher (their grid syntax, order, batching and
# job loop), which Hydra offers no public way to extend. tests/test_hydra_plugin.py fails if they move.
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

import hydra_plugins.sweeper_plugins.config  # noqa: F401 - stores hydra/sweeper=sweeper and hydra/launcher=sweeper

log = logging.getLogger(__name__)


@functools.cache
def load_core() -> ModuleType | None:
    """The plugins' work, or None (after one line saying so) where it cannot load on this Hydra."""
    try:
        from hydra_plugins.sweeper_plugins import _core
    except ImportError as err:
        log.warning(
            "sweeper: the fast launcher cannot load on hydra-core %s (%s): using Hydra's basic launcher",
            hydra_version,
            err,
        )
        return None
    return _core


class ComposingSweeper(BasicSweeper):
    """Hydra's basic sweeper, composing through a cache that it hands to its launcher.

    The cache goes to the launcher as the ``config_loader`` of the ``HydraContext`` the
    launcher is set up with, so every launcher that composes with ``load_sweep_config``
    (this package's, basic, joblib, submitit, ray) reuses what validation composed.
    """

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        core = load_core()
        self.composer = None if core is None else core.Composer(hydra_context.config_loader, config)
        if self.composer is not None:
            hydra_context = replace(hydra_context, config_loader=self.composer)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if self.composer is None:
            return super().validate_batch_is_legal(batch)
        for overrides in batch:
            self.composer(overrides, fresh=False)


class ComposingLauncher(Launcher):
    """Hydra's basic launcher (jobs one after another, in this process), on the sweeper's composer."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        core = load_core()
        if core is not None:
            return core.launch(self.hydra_context, self.task_function, self.config, job_overrides, initial_job_idx)
        basic = BasicLauncher()
        basic.setup(hydra_context=self.hydra_context, task_function=self.task_function, config=self.config)
        return basic.launch(job_overrides, initial_job_idx)
