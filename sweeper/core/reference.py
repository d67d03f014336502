"""The reference model: one model of the plain factory, keyed independently of every lane.

The lanes of a healthy ensemble are N independent draws of the factory's own
initialization; the reference is one more draw. :mod:`sweeper.core.fidelity` holds each
lane to it, whatever the initializer, and tells a deterministic initializer (the reference
equals the lanes) from a shared key (it does not).
"""

from __future__ import annotations

import functools

import jax
from flax import nnx

from sweeper.core.models import Factory, resolve_model, with_param_dtype
from sweeper.core.tree import flat_params

REFERENCE_STREAM = 0x5EED_0F_1  # folded into the seed: the reference model's key, independent of every lane's


def reference_key(seed) -> jax.Array:
    """The key of the reference model, independent of the ensemble's lanes; ``seed`` may be traced."""
    return jax.random.fold_in(jax.random.key(seed), REFERENCE_STREAM)


def reference_params(key: jax.Array, features: int, model: str | Factory, param_dtype: str) -> dict[str, jax.Array]:
    """One model built by the plain factory with ``key``, flattened; traceable (``key`` may be traced)."""
    return flat_params(with_param_dtype(resolve_model(model), param_dtype)(features, nnx.Rngs(key)))


@functools.lru_cache(maxsize=64)
def _compiled_reference(model: str | Factory, features: int, param_dtype: str):
    return jax.jit(lambda key: reference_params(key, features, model, param_dtype))


def reference_model(
    seed: int, features: int, model: str | Factory = "linear", param_dtype: str = "float32"
) -> dict[str, jax.Array]:
    """:func:`reference_params` for ``seed``: what the lanes of a healthy ensemble are independent draws of."""
    return _compiled_reference(model, int(features), param_dtype)(reference_key(seed))
