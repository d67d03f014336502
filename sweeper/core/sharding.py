"""Sharded ensembles: the lane axis (axis 0 of every leaf) split over a 1-D device mesh.

An N-lane ensemble on k devices holds N / k whole lanes per device, so an ensemble larger
than one device's memory is built directly in its shards. With JAX's partitionable
threefry (the default), the sharded build is bit-identical to the one-device build.

N must be a multiple of k. An explicit ``sharding.devices=k`` that does not divide N is
refused in one line (padding would add lanes every metric must then mask, and
replication would give up the memory it is for); ``sharding.devices=null`` takes the
largest device count that divides N, so N = 1 or an odd N still runs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from sweeper.core.tree import kernels

LANES = "lanes"  # the mesh axis the lanes are split over


class ShardingError(ValueError):
    """An impossible split, reported in one line naming num_inits and sharding.devices."""


def check_lanes(n: int, devices: int) -> None:
    """Refuse a split that is not ``devices`` equal shards of whole lanes."""
    available = jax.device_count()
    if devices > available:
        raise ShardingError(
            f"sharding.devices={devices}: only {available} device(s) available; "
            "use sharding.devices=null for all of them"
        )
    if n % devices:
        raise ShardingError(
            f"num_inits={n} is not divisible by sharding.devices={devices}: choose a multiple of {devices}, "
            "or sharding.devices=null for the largest device count that divides it"
        )


def resolve_devices(requested: int | None, n: int) -> int:
    """The device count a job shards N lanes over; queries JAX, so call it inside the job.

    ``None``: the largest count <= ``jax.device_count()`` that divides N (all of them
    when N is a multiple). ``k``: exactly k, or :class:`ShardingError`.
    """
    if requested is None:
        return max(d for d in range(1, jax.device_count() + 1) if n % d == 0)
    check_lanes(n, requested)
    return requested


@functools.lru_cache(maxsize=16)
def lane_mesh(devices: int) -> Mesh:
    """The first ``devices`` devices as a 1-D mesh with axis ``lanes``.

    Auto axes: XLA propagates the shardings and inserts the collectives itself.
    """
    return jax.make_mesh((devices,), (LANES,), axis_types=(AxisType.Auto,), devices=jax.devices()[:devices])


def lane_sharding(mesh: Mesh) -> NamedSharding:
    """Axis 0 split over ``lanes``, the other axes whole: a prefix for leaves of any rank."""
    return NamedSharding(mesh, PartitionSpec(LANES))


def coordinate_sharding(mesh: Mesh) -> NamedSharding:
    """``(N, P)`` split along P: every device holds all lanes, a slice of the coordinates."""
    return NamedSharding(mesh, PartitionSpec(None, LANES))


def mesh_of(array: Any) -> Mesh | None:
    """The lane mesh ``array`` is split over, or None when its lanes are not split."""
    sharding = getattr(array, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.spec and sharding.spec[0] == LANES:
        return sharding.mesh if sharding.mesh.shape[LANES] > 1 else None
    return None


def shard_shape(array: Any) -> tuple[int, ...]:
    """The shape of one device's shard: ``(N / k, ...)`` for N lanes over k devices."""
    sharding = getattr(array, "sharding", None)
    return tuple(sharding.shard_shape(array.shape)) if sharding is not None else tuple(array.shape)


def sharding_metrics(leaves: Mapping[str, Any], devices: int) -> dict[str, Any]:
    """``sharding/devices`` and ``sharding/shard_shape`` (the first kernel leaf's shard, as a list)."""
    kernel = next(iter(kernels(leaves).values()), None)
    return {
        "sharding/devices": devices,
        "sharding/shard_shape": None if kernel is None else list(shard_shape(kernel)),
    }
