"""The plugins' configs: ``hydra/sweeper=sweeper`` and ``hydra/launcher=sweeper``."""

# No `from __future__ import annotations`: Hydra's plugin scan executes this module before it
# is in sys.modules, where dataclasses cannot resolve string annotations.
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class ComposingSweeperConf:
    _target_: str = "hydra_plugins.sweeper_plugins.composing.ComposingSweeper"
    # jobs per batch, as the basic sweeper's: None launches the whole grid as one batch
    max_batch_size: Any = None
    # the grid, as the basic sweeper's: {key: "v1,v2,..."}, expanded before the command line's sweeps
    params: Any = None


@dataclass
class ComposingLauncherConf:
    _target_: str = "hydra_plugins.sweeper_plugins.composing.ComposingLauncher"


ConfigStore.instance().store(group="hydra/sweeper", name="sweeper", node=ComposingSweeperConf, provider="sweeper")
ConfigStore.instance().store(group="hydra/launcher", name="sweeper", node=ComposingLauncherConf, provider="sweeper")
