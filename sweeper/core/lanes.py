"""Telling lanes apart by their bytes: probes on the device, hashes and digests on the host.

- :func:`probe` reads a few 32-bit words of each lane, per leaf: lanes whose probes differ
  differ. Only when some agree are the lanes' bytes hashed on the host (:func:`lane_hashes`).
- :func:`checksum` folds every 32-bit word of a lane, position-salted, into one word on the
  device; with the probes and the leaves' shapes it makes a lane's digest (:func:`lane_digests`),
  kept by each job so that the sweep can find a lane built by two jobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.dtypes import itemsize_bits as dtype_bits


def _lane_blocks(leaf) -> Iterator[tuple[int, np.ndarray]]:
    """``(first lane, (lanes, P) host array)`` per block of whole lanes, one shard at a time.

    A replicated shard is yielded once; a leaf not split into whole lanes comes whole.
    """
    shards = getattr(leaf, "addressable_shards", None)
    if not shards or any(s.data.shape[1:] != leaf.shape[1:] for s in shards):
        yield 0, np.ascontiguousarray(np.asarray(leaf)).reshape(leaf.shape[0], -1)
        return
    seen = set()
    for shard in shards:
        start = shard.index[0].start or 0
        if start not in seen:
            seen.add(start)
            yield start, np.ascontiguousarray(np.asarray(shard.data)).reshape(shard.data.shape[0], -1)


def lane_hashes(leaves: Mapping[str, jax.Array]) -> list[bytes]:
    """One digest per lane over the bytes of every leaf: equal digests, equal lanes.

    The host holds one shard at a time, never the whole ensemble.
    """
    n = next(iter(leaves.values())).shape[0]
    hashers = [hashlib.blake2b(digest_size=16) for _ in range(n)]
    for leaf in leaves.values():
        for start, block in _lane_blocks(leaf):
            for hasher, row in zip(hashers[start : start + len(block)], block, strict=True):
                hasher.update(row.view(np.uint8))  # bytes of any dtype, bfloat16 included
    return [hasher.digest() for hasher in hashers]


_UINTS = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}  # 8 bytes: two uint32 words
PROBE_WORDS = 8  # words read per lane and leaf to tell lanes apart


def _lane_words(leaf: jax.Array) -> jax.Array | None:
    """``(N, P')`` uint32 words of each lane's bytes; None for a dtype left to the byte hash."""
    dtype = jnp.dtype(leaf.dtype)
    if dtype == jnp.bool_:
        return jnp.reshape(leaf, (leaf.shape[0], -1)).astype(jnp.uint32)
    numeric = jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    if not numeric or dtype.itemsize not in _UINTS or dtype.itemsize * 8 != dtype_bits(dtype):
        return None  # complex, int4, ...
    words = jax.lax.bitcast_convert_type(leaf, _UINTS[dtype.itemsize]).astype(jnp.uint32)
    return jnp.reshape(words, (leaf.shape[0], -1))


def probe(leaves: Sequence[jax.Array]) -> jax.Array:
    """``(N, W)``: up to :data:`PROBE_WORDS` evenly spaced 32-bit words of each lane, per leaf.

    A function of the lane's bytes alone, so lanes whose probes differ differ; random lanes
    differ in their first word. Lanes whose probes agree are left to the byte hash.
    """
    columns = []
    for leaf in leaves:
        words = _lane_words(leaf)
        if words is not None and words.shape[1]:
            columns.append(words[:, np.unique(np.linspace(0, words.shape[1] - 1, PROBE_WORDS).astype(int))])
    return jnp.concatenate(columns, axis=1) if columns else jnp.zeros((leaves[0].shape[0], 1), jnp.uint32)


def checksum(leaves: Sequence[jax.Array]) -> jax.Array:
    """``(N,)`` uint32: every word of each lane, salted with its position and mixed, summed mod 2**32."""
    total = None
    offset = 0
    for leaf in leaves:
        words = _lane_words(leaf)
        if words is None or not words.shape[1]:
            continue
        position = jnp.arange(offset, offset + words.shape[1], dtype=jnp.uint32)
        offset += words.shape[1]
        h = (words ^ (position * jnp.uint32(0x27D4EB2F))[None, :]) * jnp.uint32(0x9E3779B1)
        h = (h ^ (h >> 15)) * jnp.uint32(0x85EBCA77)
        part = jnp.sum(h ^ (h >> 13), axis=1, dtype=jnp.uint32)
        total = part if total is None else total + part
    return jnp.zeros((leaves[0].shape[0],), jnp.uint32) if total is None else total


def lane_digests(leaves: Mapping[str, jax.Array], probes: np.ndarray, sums: np.ndarray) -> list[str]:
    """One hex digest per lane from its probe words, its checksum and the leaves' names, shapes and dtypes.

    Equal lanes have equal digests; distinct random lanes differ in their probes.
    """
    layout = repr([(k, tuple(v.shape[1:]), str(v.dtype)) for k, v in leaves.items()]).encode()
    rows = np.concatenate([np.asarray(probes, np.uint32), np.asarray(sums, np.uint32)[:, None]], axis=1)
    return [hashlib.blake2b(layout + row.tobytes(), digest_size=16).hexdigest() for row in rows]


def _groups(rows: np.ndarray) -> np.ndarray:
    """``(N,)`` ids, equal for equal rows of ``rows`` (compared as bytes)."""
    rows = np.ascontiguousarray(rows)
    return np.unique(rows.view(np.dtype((np.void, rows[0].nbytes))).reshape(-1), return_inverse=True)[1]
