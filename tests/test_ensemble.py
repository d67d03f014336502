"""The builders: the recipe, its compiled form, the baseline and the pitfalls."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sweeper.core import ensemble as ens
from sweeper.core.checks import check_shapes, shape_verdict
from sweeper.core.ensemble import PitfallError, batched_init_count, build_ensemble, compiled_builder, timed_build
from sweeper.core.models import MLP, linear
from sweeper.core.tree import flat_params, param_bytes


def eager_recipe(seed, n, f, param_dtype=jnp.float32):
    """The recipe exactly as the docs write it, run eagerly."""

    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make_model(rngs):
        return nnx.Linear(f, f, param_dtype=param_dtype, rngs=rngs)

    return make_model(nnx.Rngs(seed))


@pytest.mark.parametrize(("seed", "n", "f"), [(0.0, 4.0, 8.0), (3.0, 1.0, 5.0), (7.9, 2.0, 3.0), (1234.0, 64.0, 2.0)])
def test_batched_init_count_from_floats(seed, n, f):
    out = batched_init_count(seed, n, f)
    assert out.shape == (3,)
    assert jnp.issubdtype(out.dtype, jnp.integer)
    assert out.tolist() == [int(n), int(f), int(n)]


@pytest.mark.parametrize(("n", "f"), [(1, 1), (1, 7), (3, 4), (16, 8), (64, 32), (256, 64)])
@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1, 4294967295])
def test_compiled_build_is_bit_identical_to_the_eager_recipe(seed, n, f):
    expected = eager_recipe(seed, n, f)
    got = build_ensemble(seed, n, f)
    assert got.kernel.shape == (n, f, f)
    assert got.bias.shape == (n, f)
    np.testing.assert_array_equal(np.asarray(got.kernel[...]), np.asarray(expected.kernel[...]))
    np.testing.assert_array_equal(np.asarray(got.bias[...]), np.asarray(expected.bias[...]))


def test_each_shape_is_traced_and_compiled_once(monkeypatch):
    traces = []

    def counting_linear(features, rngs):  # runs once per trace, never per seed
        traces.append(features)
        return nnx.Linear(features, features, rngs=rngs)

    compiles = []
    real_jit = jax.jit
    monkeypatch.setattr(ens.jax, "jit", lambda fn: compiles.append(fn) or real_jit(fn))
    builds = [build_ensemble(seed, 8, 4, model=counting_linear) for seed in range(5)]
    assert len(compiles) == 1
    assert traces == [4, 4]  # one abstract trace (shapes, memory guard) and one for jit
    assert compiled_builder.cache_info().hits == 4
    # and the seed really is an input: five seeds, five different ensembles
    assert len({np.asarray(b.kernel[...]).tobytes() for b in builds}) == 5
    build_ensemble(0, 8, 5, model=counting_linear)
    assert traces == [4, 4, 5, 5] and len(compiles) == 2


def test_n_equals_one():
    one = build_ensemble(5, 1, 6)
    assert one.kernel.shape == (1, 6, 6) and one.bias.shape == (1, 6)
    np.testing.assert_array_equal(np.asarray(one.kernel[...]), np.asarray(eager_recipe(5, 1, 6).kernel[...]))


def test_loop_baseline_stacks_n_separately_seeded_models():
    stacked = build_ensemble(10, 3, 4, constructor="loop")
    assert stacked.kernel.shape == (3, 4, 4) and stacked.bias.shape == (3, 4)
    for lane in range(3):
        single = nnx.Linear(4, 4, rngs=nnx.Rngs(10 + lane))
        np.testing.assert_array_equal(np.asarray(stacked.kernel[lane]), np.asarray(single.kernel[...]))


def test_pitfall_broadcast_builds_identical_lanes():
    broken = build_ensemble(0, 4, 3, constructor="pitfall_broadcast")
    assert broken.kernel.shape == (4, 3, 3)
    kernel = np.asarray(broken.kernel[...])
    for lane in range(1, 4):
        np.testing.assert_array_equal(kernel[lane], kernel[0])


def test_pitfall_no_split_raises_a_clear_error():
    with pytest.raises(PitfallError, match=r"constructor=pitfall_no_split: .*nnx.split_rngs"):
        build_ensemble(0, 4, 3, constructor="pitfall_no_split")


def test_unknown_constructor_and_model_name_the_value():
    with pytest.raises(ValueError, match="constructor='nope'"):
        build_ensemble(0, 2, 2, constructor="nope")
    with pytest.raises(ValueError, match="model='resnet'"):
        build_ensemble(0, 2, 2, model="resnet")
    with pytest.raises(ValueError, match=re.escape("model='no_such_pkg.mod:f'")):
        build_ensemble(0, 2, 2, model="no_such_pkg.mod:f")


def test_mlp_and_import_path_factories_are_stacked_generically():
    mlp = build_ensemble(0, 5, 6, model="mlp")
    assert isinstance(mlp, MLP)
    assert {k: v.shape for k, v in flat_params(mlp).items()} == {
        "hidden.bias": (5, 6),
        "hidden.kernel": (5, 6, 6),
        "out.bias": (5, 6),
        "out.kernel": (5, 6, 6),
    }
    by_path = build_ensemble(0, 5, 6, model="sweeper.core.models:linear")
    np.testing.assert_array_equal(np.asarray(by_path.kernel[...]), np.asarray(build_ensemble(0, 5, 6).kernel[...]))
    assert build_ensemble(0, 2, 3, model=linear).kernel.shape == (2, 3, 3)


def test_timed_build_separates_compile_from_run():
    first = timed_build(0, 4, 8)
    again = timed_build(1, 4, 8)
    assert first.compile_s > 0 and first.build_s > 0
    # the second seed of a shape pays no compile, only a cache lookup
    assert again.compile_s < first.compile_s
    assert compiled_builder.cache_info().misses == 1


def test_abstract_shapes_and_bytes_without_allocating():
    builder = compiled_builder("linear", "vmap", 1024, 64)
    assert {k: v.shape for k, v in flat_params(builder.abstract).items()} == {
        "bias": (1024, 64),
        "kernel": (1024, 64, 64),
    }
    assert param_bytes(builder.abstract) == 4 * (1024 * 64 * 64 + 1024 * 64)
    assert param_bytes(builder.abstract) == param_bytes(builder(0))


@pytest.mark.parametrize("param_dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(("seed", "n", "f"), [(0, 1, 3), (7, 16, 8), (4294967295, 64, 32)])
def test_narrow_param_dtypes_are_bit_identical_to_the_recipe_with_that_dtype(seed, n, f, param_dtype):
    expected = eager_recipe(seed, n, f, jnp.dtype(param_dtype))
    got = build_ensemble(seed, n, f, param_dtype=param_dtype)
    for leaf in ("kernel", "bias"):
        want, have = np.asarray(getattr(expected, leaf)[...]), np.asarray(getattr(got, leaf)[...])
        assert have.dtype == want.dtype == jnp.dtype(param_dtype)
        np.testing.assert_array_equal(have.view(np.uint16), want.view(np.uint16))


def test_param_dtype_is_part_of_the_compiled_builders_key():
    kernels = {dt: build_ensemble(0, 4, 4, param_dtype=dt).kernel[...] for dt in ("float32", "bfloat16", "float16")}
    assert compiled_builder.cache_info().misses == 3
    assert [k.dtype for k in kernels.values()] == [jnp.float32, jnp.bfloat16, jnp.float16]
    build_ensemble(1, 4, 4, param_dtype="bfloat16")
    assert compiled_builder.cache_info().misses == 3
    loop = build_ensemble(0, 3, 4, constructor="loop", param_dtype="bfloat16")
    assert loop.kernel.dtype == jnp.bfloat16 and param_bytes(loop) == 2 * (3 * 4 * 4 + 3 * 4)


def test_a_factory_without_param_dtype_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^param_dtype=bfloat16: the factory no_dtype takes no param_dtype keyword\n"):
        build_ensemble(0, 2, 3, model="tests.helpers.factories:no_dtype", param_dtype="bfloat16")
    assert build_ensemble(0, 2, 3, model="tests.helpers.factories:no_dtype").kernel.dtype == jnp.float32


def test_pitfall_average_is_one_model_the_mean_of_the_recipes_lanes():
    averaged = build_ensemble(3, 4, 5, constructor="pitfall_average")
    recipe = eager_recipe(3, 4, 5)
    assert averaged.kernel.shape == (5, 5) and averaged.bias.shape == (5,)
    np.testing.assert_allclose(np.asarray(averaged.kernel[...]), np.asarray(recipe.kernel[...]).mean(0), rtol=1e-6)
    records = check_shapes(averaged, "linear", 4, 5)
    assert shape_verdict(records) == (
        "shape check failed for bias, kernel: bias is (5,), expected (4, 5): the lane axis of 4 is gone "
        "(were the lanes averaged or summed into one model?)"
    )
    assert shape_verdict(check_shapes(recipe, "linear", 4, 5)) == ""
