"""Custom model factories that are wrong in the ways users get them wrong."""

import jax.numpy as jnp
from flax import nnx


def returns_an_array(features, rngs):
    return jnp.zeros((features, features))


def returns_a_module_without_parameters(features, rngs):
    return nnx.Dropout(0.5)


NOT_CALLABLE = 3


def nan_parameters(features, rngs):
    """A model whose weights are NaN: its job fails on that, whatever W&B makes of the values."""
    model = nnx.Linear(features, features, rngs=rngs)
    model.kernel.value = jnp.full_like(model.kernel.value, jnp.nan)
    return model
