"""Apply every lane of an ensemble to one shared input batch."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def apply_lanes(ensemble: nnx.Module, x: jax.Array) -> jax.Array:
    """Shared input ``x: (B, F)`` -> outputs ``(N, B, F_out)``, one row block per lane."""

    @nnx.vmap(in_axes=(0, None))
    def apply(model, x):
        return model(x)

    return apply(ensemble, x)


ensemble_forward = nnx.jit(apply_lanes)


@functools.lru_cache(maxsize=64)
def forward_input(features: int, batch: int = 32, seed: int = 0) -> np.ndarray:
    """The fixed random batch ``(B, F)`` every forward check applies; drawn once per (F, B), kept on the host."""
    x = np.asarray(jax.random.normal(jax.random.key(seed), (batch, features)))
    x.flags.writeable = False
    return x


def prediction_spread(outputs: jax.Array) -> jax.Array:
    """Standard deviation across lanes, averaged over batch and features: ``(N, B, F) -> ()``.

    Exactly zero when every lane predicts the same thing, as a collapsed ensemble does:
    the std is taken of the offsets from lane 0, which are then exactly zero.
    """
    return jnp.mean(jnp.std(outputs - outputs[:1], axis=0))


def forward_summary(outputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(spread, all finite)`` of the outputs, traceable."""
    return prediction_spread(outputs), jnp.all(jnp.isfinite(outputs))


def forward_metrics(shape: tuple[int, ...], spread, finite) -> dict:
    return {"forward/shape": list(shape), "forward/spread": float(spread), "forward/finite": bool(finite)}


_summary = jax.jit(forward_summary)


def forward_check(ensemble: nnx.Module, features: int, batch: int = 32, seed: int = 0) -> dict:
    """Run the forward pass on a fixed random batch and return plain metrics."""
    outputs = ensemble_forward(ensemble, forward_input(features, batch, seed))
    return forward_metrics(outputs.shape, *jax.device_get(_summary(outputs)))
