"""The plain app: what a user writes instead of sweeper. The baseline of ``python -m sweeper.bench sweep``.

Per job: build an N-lane ensemble of ``nnx.Linear(F, F)`` eagerly with Flax's recipe
(``split_rngs`` over ``vmap``, no jit), compute the mean pairwise L2 distance between
lanes, log one offline W&B run. It imports nothing from sweeper. Its one piece of
benchmark instrumentation is ``work.json`` in the job directory: the seconds spent
building and measuring, so the benchmark can tell work from overhead.

    python sweeper/bench_plain/plain_app.py -m seed=0,1,2 num_inits=1,8,64,512 features=16,64,256
"""

import json
import time
from pathlib import Path

import hydra
import jax
import jax.numpy as jnp
import wandb
from flax import nnx
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from sweeper.cli.hydra_compat import VERSION_BASE


def build(seed: int, n: int, features: int) -> nnx.Linear:
    """N stacked ``nnx.Linear(F, F)``: kernel ``(N, F, F)``, bias ``(N, F)``."""

    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs: nnx.Rngs) -> nnx.Linear:
        return nnx.Linear(features, features, rngs=rngs)

    return make(nnx.Rngs(seed))


def mean_pairwise_l2(model: nnx.Module) -> float:
    """Mean L2 distance over the N * (N - 1) ordered pairs of lanes, from the Gram matrix."""
    x = jnp.concatenate([jnp.reshape(p, (p.shape[0], -1)) for p in jax.tree.leaves(nnx.state(model, nnx.Param))], 1)
    n = x.shape[0]
    if n < 2:
        return 0.0
    sq = jnp.sum(x * x, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    d2 = jnp.where(jnp.eye(n, dtype=bool), 0.0, d2)
    return float(jnp.sum(jnp.sqrt(d2)) / (n * (n - 1)))


@hydra.main(config_path="conf", config_name="config", **VERSION_BASE)
def main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    with wandb.init(mode="offline", dir=out, config=OmegaConf.to_container(cfg)) as run:
        start = time.perf_counter()
        model = build(cfg.seed, cfg.num_inits, cfg.features)
        jax.block_until_ready(nnx.state(model))
        built = time.perf_counter()
        distance = mean_pairwise_l2(model)
        measured = time.perf_counter()
        run.summary["mean_pairwise_l2"] = distance
    work = {"build_s": built - start, "measure_s": measured - built, "mean_pairwise_l2": distance}
    (out / "work.json").write_text(json.dumps(work) + "\n")


if __name__ == "__main__":
    main()
