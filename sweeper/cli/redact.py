"""Keep secrets out of everything sweeper writes.

A value is redacted when its key looks secret (``*token*``, ``*key*``, ``*secret*``,
``*password*``) or when it came from an environment interpolation (``${oc.env:...}``),
which is how credentials usually reach a config.
"""

from __future__ import annotations

import re
import sys
from typing import Any

REDACTED = "<redacted>"
SECRET_KEY = re.compile(r"token|key|secret|password", re.IGNORECASE)
TYPED_ARGV: list[str] | None = None  # set by sweeper.cli.command before it adds sweep=none to sys.argv


def typed_command() -> list[str]:
    """The command's arguments as the user typed them, the values of secret-looking keys redacted."""
    argv = sys.argv[1:] if TYPED_ARGV is None else TYPED_ARGV
    return [
        f"{arg.split('=')[0]}={REDACTED}" if "=" in arg and SECRET_KEY.search(arg.split("=")[0]) else arg
        for arg in argv
    ]


def env_interpolated(raw: Any, prefix: str = "") -> set[str]:
    """Dotted keys of an unresolved config (nested dicts) whose value reads the environment."""
    keys = set()
    items = raw.items() if isinstance(raw, dict) else enumerate(raw) if isinstance(raw, list) else ()
    for key, value in items:
        if isinstance(value, (dict, list)):
            keys |= env_interpolated(value, f"{prefix}{key}.")
        elif isinstance(value, str) and "oc.env" in value:
            keys.add(f"{prefix}{key}")
    return keys


def redact(container: Any, env_keys: set[str] = frozenset(), prefix: str = "") -> Any:
    """A copy of nested dicts and lists with secret-looking and environment-derived values replaced."""
    if isinstance(container, dict):
        return {
            k: REDACTED
            if SECRET_KEY.search(str(k)) or f"{prefix}{k}" in env_keys
            else redact(v, env_keys, f"{prefix}{k}.")
            for k, v in container.items()
        }
    if isinstance(container, list):
        return [
            REDACTED if f"{prefix}{i}" in env_keys else redact(v, env_keys, f"{prefix}{i}.")
            for i, v in enumerate(container)
        ]
    return container


def job_name(hydra: Any) -> str:
    """A job's name, ``hydra.job.override_dirname`` as typed (``hydra``: the Hydra node of its config).

    Read resolved, the interpolations typed into its overrides (``model.factory=${oc.env:...}``)
    resolve too; Hydra 1.4 makes it a resolver that resolves them, so there it is rebuilt from
    the typed overrides, as that resolver builds it.
    """
    from omegaconf import OmegaConf

    name = OmegaConf.to_container(hydra.job, resolve=False)["override_dirname"]
    if name.startswith("${hydra_override_dirname:"):
        from sweeper.cli.grid import parse

        options = hydra.job.config.override_dirname
        typed = parse(OmegaConf.to_container(hydra.overrides.task, resolve=False))
        kept = (o for o in typed if o.key_or_group not in options.exclude_keys)
        name = options.item_sep.join(
            sorted(f"{o.get_key_element()}{options.kv_sep}{o.get_value_element_as_str()}" for o in kept)
        )
    return name or "default"
