"""Hydra 1.3 and 1.4 alike: the options ``@hydra.main`` and ``initialize*`` take on each."""

import os
import re

import hydra

ON_HYDRA_13 = hydra.__version__.startswith("1.3.")

# Hydra 1.3 wants version_base (without it: a warning, and 1.1's defaults); 1.4 deprecates it (a warning).
VERSION_BASE: dict = {"version_base": "1.3"} if ON_HYDRA_13 else {}

# Hydra 1.4 instantiates a target a config names (a callback, a logging handler) only from a list
# trusted code gives (without one: a warning, and an error from 1.5 on). sweeper's and Hydra's own
# are on it; a user's callbacks join through the environment, which a config cannot change.
TRUSTED_TARGETS = "SWEEPER_TRUSTED_TARGETS"  # comma-separated: mypkg.*, mypkg.callbacks.Notify
_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\.\*)?")


def trusted_targets() -> list[str]:
    """The execution whitelist: sweeper's, Hydra's, and the user's from ``SWEEPER_TRUSTED_TARGETS``."""
    return ["sweeper.*", "hydra.*", *(p.strip() for p in os.environ.get(TRUSTED_TARGETS, "").split(",") if p.strip())]


def untrusted(target: str) -> bool:
    """Whether Hydra 1.4 would refuse to instantiate ``target`` (never, on 1.3)."""
    if ON_HYDRA_13:
        return False
    return not any(target == p or (p.endswith(".*") and target.startswith(p[:-1])) for p in trusted_targets())


def bad_trusted_target() -> str | None:
    """A pattern of ``SWEEPER_TRUSTED_TARGETS`` Hydra would refuse (``pkg.*`` or a dotted name), if any."""
    return next((p for p in trusted_targets() if not _PATTERN.fullmatch(p)), None)


MAIN_OPTIONS: dict = VERSION_BASE if ON_HYDRA_13 else {"execution_whitelist": trusted_targets()}
