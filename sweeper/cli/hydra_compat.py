"""Hydra 1.3 and 1.4 alike: the options ``@hydra.main`` and ``initialize*`` take on each."""

import hydra

ON_HYDRA_13 = hydra.__version__.startswith("1.3.")

# Hydra 1.3 wants version_base (without it: a warning, and 1.1's defaults); 1.4 deprecates it (a warning).
VERSION_BASE: dict = {"version_base": "1.3"} if ON_HYDRA_13 else {}

# Hydra 1.4 instantiates a target a config names (the sweep's callback) only from a trusted list
# (without one: a warning, and an error from 1.5 on); Hydra's own callbacks stay allowed.
MAIN_OPTIONS: dict = VERSION_BASE if ON_HYDRA_13 else {"execution_whitelist": ["sweeper.*", "hydra.*"]}
