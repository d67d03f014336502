"""JAX's persistent compilation cache, on by default under ``outputs/``.

A second sweep, or another process of the same sweep, then loads each shape's
executables from disk instead of compiling them again. JAX keeps only compilations that
took over a second by default; most of a sweep's take less, so every one is kept here.
``SWEEPER_COMPILATION_CACHE`` moves the cache; set it to an empty string to turn it off.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DIR = "outputs/jax_cache"
_enabled: str | None = None


def enable_compilation_cache() -> str | None:
    """Point JAX at the cache directory (once per process); returns it, or None when off."""
    global _enabled
    directory = os.environ.get("SWEEPER_COMPILATION_CACHE", DEFAULT_DIR)
    if not directory or _enabled == directory:
        return _enabled
    import jax

    path = Path(directory).resolve()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    _enabled = directory
    return directory
