"""The names of the built-in constructors and models: what the config offers, what the core builds.

JAX-free on purpose: :mod:`sweeper.config` reads these names to offer the ``constructor`` and
``model`` choices (and ``sweeper --help`` lists them) without loading JAX. The core keys its
implementations by the same names (``tests/test_config.py`` checks that the two agree).
To add a constructor or a model: one line here, its implementation in
:mod:`sweeper.core.ensemble` or :mod:`sweeper.core.models`.
"""

CONSTRUCTORS: dict[str, str] = {
    "vmap": "the recipe: nnx.split_rngs(splits=N) over nnx.vmap(in_axes=(0,)), compiled once per shape",
    "loop": "baseline: N models built one by one with nnx.Rngs(seed + i), then stacked; cost grows with N",
    "pitfall_broadcast": "deliberately broken: vmap(in_axes=(None,), axis_size=N), no split_rngs: N identical lanes",
    "pitfall_no_split": "deliberately broken: vmap(in_axes=(0,)) without split_rngs; today's Flax refuses it",
    "pitfall_average": "deliberately broken: the recipe, then every parameter averaged over the lanes: one model",
}

MODELS: dict[str, str] = {
    "linear": "nnx.Linear(F, F): kernel (N, F, F), bias (N, F)",
    "mlp": "Linear(F, F) -> ReLU -> Linear(F, F)",
}

CUSTOM_MODEL = "custom"  # model=custom model.factory=pkg.module:function, your own (features, rngs) -> nnx.Module

PARAM_DTYPES = ("float32", "bfloat16", "float16")  # param_dtype=<one>: passed to the model (float32: as it is)
