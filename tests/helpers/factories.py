"""Custom factories with Flax's initializers, as a user writes them (``tests.helpers.factories:he_normal``).

Each builds a two-layer MLP ``Linear(F, F) -> relu -> Linear(F, F)`` whose kernels use one
initializer; every factory takes ``param_dtype`` like the built-in models.
"""

import jax.numpy as jnp
from flax import nnx

init = nnx.initializers


class Net(nnx.Module):
    def __init__(self, features, rngs, kernel_init, bias_init=None, out_init=None, param_dtype=jnp.float32):
        layer = dict(param_dtype=param_dtype, bias_init=bias_init or init.zeros_init(), rngs=rngs)
        self.hidden = nnx.Linear(features, features, kernel_init=kernel_init, **layer)
        self.out = nnx.Linear(features, features, kernel_init=out_init or kernel_init, **layer)

    def __call__(self, x):
        return self.out(nnx.relu(self.hidden(x)))


def lecun_normal(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.lecun_normal(), param_dtype=param_dtype)


def he_normal(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.he_normal(), param_dtype=param_dtype)


def he_uniform(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.he_uniform(), param_dtype=param_dtype)


def glorot_normal(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.glorot_normal(), param_dtype=param_dtype)


def glorot_uniform(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.glorot_uniform(), param_dtype=param_dtype)


def truncated_normal(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.truncated_normal(stddev=0.02), param_dtype=param_dtype)


def orthogonal(features, rngs, param_dtype=jnp.float32):
    return Net(features, rngs, init.orthogonal(), param_dtype=param_dtype)


def zeros(features, rngs, param_dtype=jnp.float32):
    """Every parameter zeros: deterministic, so every lane is the same model."""
    return Net(features, rngs, init.zeros_init(), param_dtype=param_dtype)


def zero_output(features, rngs, param_dtype=jnp.float32):
    """He hidden layer, output kernel zeros and biases ones: constant leaves beside random ones."""
    return Net(features, rngs, init.he_normal(), init.ones_init(), init.zeros_init(), param_dtype=param_dtype)


def no_dtype(features, rngs):
    """A factory that takes no ``param_dtype``."""
    return nnx.Linear(features, features, rngs=rngs)


RANDOM = (
    "lecun_normal",
    "he_normal",
    "he_uniform",
    "glorot_normal",
    "glorot_uniform",
    "truncated_normal",
    "orthogonal",
)[:]
