"""Flat views of an NNX Module's parameters: ``{"hidden.kernel": array, ...}``."""

from __future__ import annotations

import math
from typing import Any

import jax
from flax import nnx


def flat_params(tree: Any) -> dict[str, jax.Array]:
    """The ``nnx.Param`` leaves of a Module or State, keyed by dotted path.

    Works on real Modules and on abstract ones from ``nnx.eval_shape`` (whose leaves
    are ``jax.ShapeDtypeStruct``).
    """
    state = nnx.state(tree, nnx.Param)
    return {
        ".".join(map(str, path)): (var.get_value() if isinstance(var, nnx.Variable) else var)
        for path, var in nnx.to_flat_state(state)
    }


def param_bytes(tree: Any) -> int:
    """Bytes held by the parameters, without touching their values."""
    return leaf_bytes(flat_params(tree))


def leaf_bytes(leaves: dict[str, Any]) -> int:
    """:func:`param_bytes` of leaves already flattened by :func:`flat_params`."""
    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in leaves.values())


def kernels(leaves: dict[str, Any]) -> dict[str, Any]:
    """The leaves named ``kernel`` (``"kernel"``, ``"hidden.kernel"``, ...), in order."""
    return {path: leaf for path, leaf in leaves.items() if path.split(".")[-1] == "kernel"}
