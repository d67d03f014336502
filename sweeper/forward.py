"""Apply every lane of an ensemble to one shared input batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


@nnx.jit
def ensemble_forward(ensemble: nnx.Module, x: jax.Array) -> jax.Array:
    """Shared input ``x: (B, F)`` -> outputs ``(N, B, F_out)``, one row block per lane."""

    @nnx.vmap(in_axes=(0, None))
    def apply(model, x):
        return model(x)

    return apply(ensemble, x)


def prediction_spread(outputs: jax.Array) -> jax.Array:
    """Standard deviation across lanes, averaged over batch and features: ``(N, B, F) -> ()``.

    Exactly zero when every lane predicts the same thing, as a collapsed ensemble does:
    the std is taken of the offsets from lane 0, which are then exactly zero.
    """
    return jnp.mean(jnp.std(outputs - outputs[:1], axis=0))


def forward_check(ensemble: nnx.Module, features: int, batch: int = 32, seed: int = 0) -> dict:
    """Run the forward pass on a fixed random batch and return plain metrics."""
    x = jax.random.normal(jax.random.key(seed), (batch, features))
    outputs = jax.block_until_ready(ensemble_forward(ensemble, x))
    return {
        "forward/shape": list(outputs.shape),
        "forward/spread": float(prediction_spread(outputs)),
        "forward/finite": bool(jnp.all(jnp.isfinite(outputs))),
    }
