"""Strict numerics for every test: no silent dtype or rank promotion."""

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
