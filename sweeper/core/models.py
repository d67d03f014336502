"""Single-model factories: ``factory(features, rngs) -> nnx.Module``.

A factory builds *one* model; the constructors in :mod:`sweeper.core.ensemble` turn it into
N stacked lanes. Any NNX module works, so users can pass their own factory as an import
path ``"pkg.module:function"``. That path is the user's own code, imported as given.
A ``param_dtype`` other than float32 is passed to the factory as a keyword.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import jax.numpy as jnp
from flax import nnx

from sweeper.core.catalog import PARAM_DTYPES

Factory = Callable[..., nnx.Module]  # (features, rngs, *, param_dtype=...) -> one model


def linear(features: int, rngs: nnx.Rngs, param_dtype=jnp.float32) -> nnx.Linear:
    """``nnx.Linear(F, F)``: kernel ``(F, F)``, bias ``(F,)``."""
    return nnx.Linear(features, features, param_dtype=param_dtype, rngs=rngs)


class MLP(nnx.Module):
    """Two ``Linear(F, F)`` layers with a ReLU between them (hidden size F)."""

    def __init__(self, features: int, rngs: nnx.Rngs, param_dtype=jnp.float32):
        self.hidden = nnx.Linear(features, features, param_dtype=param_dtype, rngs=rngs)
        self.out = nnx.Linear(features, features, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x):  # (..., F) -> (..., F)
        return self.out(nnx.relu(self.hidden(x)))


def mlp(features: int, rngs: nnx.Rngs, param_dtype=jnp.float32) -> MLP:
    return MLP(features, rngs, param_dtype)


MODELS: dict[str, Factory] = {"linear": linear, "mlp": mlp}


def resolve_model(model: str | Factory) -> Factory:
    """A built-in name, an import path ``"pkg.module:function"``, or a callable."""
    if callable(model):
        return model
    if model in MODELS:
        return MODELS[model]
    module_name, sep, attr = model.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"model={model!r}: expected one of {sorted(MODELS)} or an import path 'pkg.module:function'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"model={model!r}: cannot import it ({err})") from None
    if not callable(factory):
        raise ValueError(f"model={model!r}: {attr} is not callable")
    return factory


def with_param_dtype(factory: Factory, param_dtype: str) -> Factory:
    """``factory`` building its parameters in ``param_dtype`` (float32: the factory as it is)."""
    if param_dtype not in PARAM_DTYPES:
        raise ValueError(f"param_dtype={param_dtype!r}: expected one of {', '.join(PARAM_DTYPES)}")
    if param_dtype == "float32":
        return factory
    dtype = jnp.dtype(param_dtype)

    def typed(features: int, rngs: nnx.Rngs) -> nnx.Module:
        try:
            return factory(features, rngs, param_dtype=dtype)
        except TypeError as err:
            if "param_dtype" not in str(err):
                raise
            name = getattr(factory, "__name__", repr(factory))
            raise ValueError(f"param_dtype={param_dtype}: the factory {name} takes no param_dtype keyword") from None

    return typed
