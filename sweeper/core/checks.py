"""Shape checks: every parameter leaf carries the lane axis, returned as plain data."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from flax import nnx

from sweeper.core.models import Factory, resolve_model
from sweeper.core.tree import flat_params


def leaf_shapes(tree) -> dict[str, tuple[int, ...]]:
    """``{"hidden.kernel": (N, F, F), ...}`` for every parameter of an NNX Module."""
    return {path: tuple(leaf.shape) for path, leaf in flat_params(tree).items()}


def expected_shapes(model: str | Factory, n: int, features: int) -> dict[str, tuple[int, ...]]:
    """What an N-lane ensemble must hold: N prepended to one model's leaf shapes.

    The single model is only traced (``nnx.eval_shape``), never allocated. For the
    Linear model the answer is spelled out: kernel ``(N, F, F)``, bias ``(N, F)``.
    """
    if model == "linear":
        return {"bias": (n, features), "kernel": (n, features, features)}
    return {path: (n, *shape) for path, shape in _single_shapes(model, features)}


@functools.lru_cache(maxsize=64)
def _single_shapes(model: str | Factory, features: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    single = nnx.eval_shape(lambda: resolve_model(model)(features, nnx.Rngs(0)))
    return tuple(leaf_shapes(single).items())


def check_shapes(ensemble: nnx.Module, model: str | Factory, n: int, features: int) -> list[dict]:
    """One record per leaf: ``{"leaf", "expected", "found", "ok"}``.

    A leaf that is expected but missing, or found but unexpected, fails its record.
    """
    return compare_shapes(leaf_shapes(ensemble), expected_shapes(model, n, features))


def compare_shapes(found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]]) -> list[dict]:
    """:func:`check_shapes` on shapes already read: one record per leaf of either."""
    records = []
    for leaf in sorted(expected.keys() | found.keys()):
        want, got = expected.get(leaf), found.get(leaf)
        records.append(
            {
                "leaf": leaf,
                "expected": None if want is None else list(want),
                "found": None if got is None else list(got),
                "ok": want is not None and want == got,
            }
        )
    return records


def shape_metrics(records: list[dict]) -> dict:
    """Flat metrics: ``shape/ok``, ``shape/leading`` and the first kernel and bias shapes."""

    def first(suffix: str):
        return next((r["found"] for r in records if r["leaf"].split(".")[-1] == suffix), None)

    kernel = first("kernel")
    return {
        "shape/ok": all(r["ok"] for r in records),
        "shape/leading": kernel[0] if kernel else None,
        "shape/kernel": kernel,
        "shape/bias": first("bias"),
        "shape/failed_leaves": [r["leaf"] for r in records if not r["ok"]],
    }


def shape_verdict(records: list[dict]) -> str:
    """One line on what failed, or ``""``: a missing lane axis is named as such."""
    failed = [r for r in records if not r["ok"]]
    if not failed:
        return ""
    first = failed[0]
    want, got = first["expected"], first["found"]
    if want is None or got is None:
        detail = f"{first['leaf']} {'is unexpected' if want is None else 'is missing'}"
    else:
        detail = f"{first['leaf']} is {tuple(got)}, expected {tuple(want)}"
        if got == want[1:]:
            detail += f": the lane axis of {want[0]} is gone (were the lanes averaged or summed into one model?)"
    return f"shape check failed for {', '.join(r['leaf'] for r in failed)}: {detail}"
