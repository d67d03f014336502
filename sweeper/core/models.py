"""Single-model factories: ``factory(features, rngs) -> nnx.Module``.

A factory builds *one* model; the constructors in :mod:`sweeper.core.ensemble` turn it into
N stacked lanes. Any NNX module works, so users can pass their own factory as an import
path ``"pkg.module:function"``. That path is the user's own code, imported as given.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from flax import nnx

Factory = Callable[[int, nnx.Rngs], nnx.Module]


def linear(features: int, rngs: nnx.Rngs) -> nnx.Linear:
    """``nnx.Linear(F, F)``: kernel ``(F, F)``, bias ``(F,)``."""
    return nnx.Linear(features, features, rngs=rngs)


class MLP(nnx.Module):
    """Two ``Linear(F, F)`` layers with a ReLU between them (hidden size F)."""

    def __init__(self, features: int, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(features, features, rngs=rngs)
        self.out = nnx.Linear(features, features, rngs=rngs)

    def __call__(self, x):  # (..., F) -> (..., F)
        return self.out(nnx.relu(self.hidden(x)))


def mlp(features: int, rngs: nnx.Rngs) -> MLP:
    return MLP(features, rngs)


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
