"""Strict numerics for every test: no silent dtype or rank promotion."""

import os
import tempfile

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True)
def _fresh_builder_cache():
    """Tests must not see shapes compiled by other tests, unless they compile them."""
    from sweeper.core.ensemble import compiled_builder

    compiled_builder.cache_clear()
    yield


@pytest.fixture(autouse=True)
def _no_inherited_wandb_service():
    """A test that runs W&B in this process leaves its service's address in ``WANDB_SERVICE``; a ``sweeper``
    started by a later test would inherit it and use this process's W&B service instead of starting its own."""
    os.environ.pop("WANDB_SERVICE", None)
    yield
    os.environ.pop("WANDB_SERVICE", None)


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_under_pytests_own_directory(tmp_path_factory):
    """W&B's temporary files, and every subprocess's, go under this session's pytest directory, not loose in /tmp."""
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("tmp"))
    tempfile.tempdir = None  # tempfile caches the directory it chose
    yield
    if before is None:
        os.environ.pop("TMPDIR")
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
