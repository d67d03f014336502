"""Batched ensembles: N independent models stacked into one NNX Module.

The one way to build an ensemble is :func:`vmap_constructor`, Flax's recipe::

    @nnx.split_rngs(splits=N)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs):
        return factory(F, rngs)

Every parameter leaf gains a leading lane axis of size N; with ``devices=k`` that axis is
split over k devices (:mod:`sweeper.core.sharding`). The other constructors exist only to be
compared with it: ``loop`` is the serial baseline, the ``pitfall_*`` constructors are
the silent mistakes that :mod:`sweeper.core.checks` and :mod:`sweeper.core.diversity` must
catch. Every builder takes ``param_dtype`` (float32, bfloat16, float16), passed to the model.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from sweeper.core.models import Factory, resolve_model, with_param_dtype
from sweeper.core.sharding import check_lanes, lane_mesh, lane_sharding

Make = Callable[[nnx.Rngs], nnx.Module]


class PitfallError(RuntimeError):
    """A deliberately broken constructor that the installed Flax refuses to run."""


def vmap_constructor(factory: Factory, n: int, features: int) -> Make:
    """The recipe: one key per lane from ``split_rngs``, mapped over by ``vmap``."""

    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs: nnx.Rngs) -> nnx.Module:
        return factory(features, rngs)

    return make


def pitfall_broadcast(factory: Factory, n: int, features: int) -> Make:
    """Pitfall: the Rngs broadcast to every lane, so all N lanes draw the same key."""

    @nnx.vmap(in_axes=(None,), out_axes=0, axis_size=n)
    def make(rngs: nnx.Rngs) -> nnx.Module:
        return factory(features, rngs)

    return make


def pitfall_no_split(factory: Factory, n: int, features: int) -> Make:
    """Pitfall: ``in_axes=(0,)`` without ``split_rngs``, so there is no key axis to map."""

    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs: nnx.Rngs) -> nnx.Module:
        return factory(features, rngs)

    return make


def pitfall_average(factory: Factory, n: int, features: int) -> Make:
    """Pitfall: the recipe, then every parameter averaged over the lanes: one model, not N."""
    make = vmap_constructor(factory, n, features)

    def averaged(rngs: nnx.Rngs) -> nnx.Module:
        graphdef, params, rest = nnx.split(make(rngs), nnx.Param, ...)
        mean = jax.tree.map(lambda x: jnp.mean(x, axis=0, dtype=jnp.float32).astype(x.dtype), params)
        return nnx.merge(graphdef, mean, rest)

    return averaged


TRACED_CONSTRUCTORS: dict[str, Callable[[Factory, int, int], Make]] = {
    "vmap": vmap_constructor,
    "pitfall_broadcast": pitfall_broadcast,
    "pitfall_no_split": pitfall_no_split,
    "pitfall_average": pitfall_average,
}
CONSTRUCTORS = (*TRACED_CONSTRUCTORS, "loop")


def compiler_options() -> dict[str, Any]:
    """XLA options for the executables compiled per shape.

    On CPU, LLVM's optimisation level 1 instead of 2 compiles a builder 2-3x faster, runs it
    as fast, and gives the same bits (``tests/test_ensemble.py`` holds every build to the eager
    recipe); for a sweep of many small shapes, compiling is most of the work.
    """
    return {"xla_backend_optimization_level": 1} if jax.default_backend() == "cpu" else {}


@dataclass(frozen=True)
class CompiledBuilder:
    """An ensemble builder compiled once for one (model, constructor, N, F, devices).

    The seed is a traced input, so every further seed of the shape reuses the executable.
    ``abstract`` holds the parameters' shapes and dtypes without allocating them.
    """

    graphdef: Any
    abstract: Any  # nnx.State of jax.ShapeDtypeStruct
    executable: Callable[[jax.Array], Any]
    compile_s: float
    devices: int = 1  # lanes split over this many devices; 1: unsharded

    def __call__(self, seed: int) -> nnx.Module:
        return nnx.merge(self.graphdef, self.executable(jax.random.key(seed)))


def _make(model: str | Factory, constructor: str, n: int, features: int, param_dtype: str) -> Make:
    if constructor not in TRACED_CONSTRUCTORS:
        raise ValueError(f"constructor={constructor!r}: expected one of {list(TRACED_CONSTRUCTORS)}")
    return TRACED_CONSTRUCTORS[constructor](with_param_dtype(resolve_model(model), param_dtype), n, features)


@functools.lru_cache(maxsize=128)
def abstract_ensemble(
    model: str | Factory, constructor: str, n: int, features: int, param_dtype: str = "float32"
) -> nnx.Module:
    """The ensemble traced with ``nnx.eval_shape``: every shape and dtype, no memory.

    ``loop`` stacks the same layout as ``vmap``, so it shares its abstract form.
    """
    make = _make(model, "vmap" if constructor == "loop" else constructor, n, features, param_dtype)
    try:
        return nnx.eval_shape(lambda: make(nnx.Rngs(0)))
    except Exception as err:
        if not constructor.startswith("pitfall_"):
            raise
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise PitfallError(
            f"constructor={constructor}: Flax refused to build it ({type(err).__name__}: "
            f"{first_line[:160]}); wrap the constructor in nnx.split_rngs(splits=N)"
        ) from err


@functools.lru_cache(maxsize=128)
def compiled_builder(
    model: str | Factory, constructor: str, n: int, features: int, devices: int = 1, param_dtype: str = "float32"
) -> CompiledBuilder:
    """Trace and compile the builder for one shape; cached, so each shape pays once.

    With ``devices=k > 1`` every leaf comes out split along its lane axis, N / k lanes per
    device, each device drawing only its own lanes' random bits (``out_shardings``).
    N must be a multiple of k (:class:`sweeper.core.sharding.ShardingError` otherwise).
    """
    start = time.perf_counter()
    if devices > 1:
        check_lanes(n, devices)
    graphdef, abstract = nnx.split(abstract_ensemble(model, constructor, n, features, param_dtype))
    make = _make(model, constructor, n, features, param_dtype)

    def build_state(key: jax.Array) -> Any:
        return nnx.state(make(nnx.Rngs(key)))

    key_spec = jax.eval_shape(jax.random.key, 0)
    sharded = {"out_shardings": lane_sharding(lane_mesh(devices))} if devices > 1 else {}
    executable = jax.jit(build_state, **sharded).lower(key_spec).compile(compiler_options())
    return CompiledBuilder(graphdef, abstract, executable, time.perf_counter() - start, devices)


def loop_build(
    seed: int, n: int, features: int, model: str | Factory = "linear", param_dtype: str = "float32"
) -> nnx.Module:
    """Baseline: N models built one by one with ``nnx.Rngs(seed + i)``, then stacked.

    Same Module layout as the vmapped build, but serial: its cost grows linearly with N.
    Seeds ``s`` and ``s + 1`` share N - 1 lanes; the sweep summary reports them.
    """
    factory = with_param_dtype(resolve_model(model), param_dtype)
    graphdef = None
    states = []
    for i in range(n):
        graphdef, state = nnx.split(factory(features, nnx.Rngs(seed + i)))
        states.append(state)
    return nnx.merge(graphdef, jax.tree.map(lambda *lanes: jnp.stack(lanes), *states))


def shard_lanes(ensemble: nnx.Module, devices: int) -> nnx.Module:
    """An ensemble built on one device, moved into ``devices`` lane shards (the loop baseline)."""
    if devices == 1:
        return ensemble
    graphdef, state = nnx.split(ensemble)
    check_lanes(jax.tree.leaves(state)[0].shape[0], devices)
    return nnx.merge(graphdef, jax.device_put(state, lane_sharding(lane_mesh(devices))))


def build_ensemble(
    seed: int,
    num_inits: int,
    features: int,
    *,
    model: str | Factory = "linear",
    constructor: str = "vmap",
    devices: int = 1,
    param_dtype: str = "float32",
) -> nnx.Module:
    """Build N = ``num_inits`` models of width F = ``features`` as one stacked Module.

    With the default ``constructor="vmap"`` the parameters are bit-identical to the
    recipe run eagerly with ``nnx.Rngs(seed)``; the build is compiled once per shape.
    For ``model="linear"``: kernel ``(N, F, F)``, bias ``(N, F)``. With ``devices=k``
    each device holds a ``(N / k, F, F)`` shard of the kernel, bits unchanged.
    """
    seed, n, features = int(seed), int(num_inits), int(features)
    if constructor == "loop":
        return shard_lanes(loop_build(seed, n, features, model, param_dtype), devices)
    return compiled_builder(model, constructor, n, features, devices, param_dtype)(seed)


def batched_init_count(seed, num_inits, features) -> jax.Array:
    """``[N, F, leading]`` as a ``(3,)`` int array, ``leading`` read off the built kernel."""
    n, f, s = int(num_inits), int(features), int(seed)
    ensemble = build_ensemble(s, n, f)
    leading = ensemble.kernel.shape[0]
    return jnp.array([n, f, leading])


@dataclass(frozen=True)
class TimedBuild:
    ensemble: nnx.Module
    compile_s: float  # trace + compile paid by this call (0.0 when the shape was cached)
    build_s: float  # running the build, synchronised with block_until_ready


def timed_build(
    seed: int,
    n: int,
    features: int,
    *,
    model: str | Factory = "linear",
    constructor: str = "vmap",
    devices: int = 1,
    param_dtype: str = "float32",
) -> TimedBuild:
    """:func:`build_ensemble` with trace+compile time kept apart from run time."""
    start = time.perf_counter()
    if constructor == "loop":
        ensemble = shard_lanes(loop_build(seed, n, features, model, param_dtype), devices)
        jax.block_until_ready(nnx.state(ensemble))
        return TimedBuild(ensemble, 0.0, time.perf_counter() - start)
    builder = compiled_builder(model, constructor, n, features, devices, param_dtype)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    ensemble = builder(seed)
    jax.block_until_ready(nnx.state(ensemble))
    return TimedBuild(ensemble, compile_s, time.perf_counter() - start)
