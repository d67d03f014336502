"""Does the launcher's copy of Hydra's ``run_job`` still pay for itself?

``python -m sweeper.bench.run_job_copy`` launches the same one-structure jobs (a task that
does nothing) through the composing launcher, and through Hydra's public ``run_job`` fed by
the same composition cache, in alternating rounds, and prints the launcher's time per job.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

import hydra
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import run_job, setup_globals
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, open_dict

import sweeper.cli.app  # noqa: F401 - registers the schema
from hydra_plugins.sweeper_plugins import _core
from sweeper.cli.hydra_compat import VERSION_BASE


class NoCallbacks:
    def on_job_start(self, **kwargs) -> None:
        pass

    def on_job_end(self, **kwargs) -> None:
        pass


def _sweep(loader) -> tuple[HydraContext, DictConfig]:
    master = loader.load_configuration("config", [f"hydra.sweep.dir={tempfile.mkdtemp()}"], RunMode.MULTIRUN)
    return HydraContext(config_loader=_core.Composer(loader, master), callbacks=NoCallbacks()), master


def with_the_copy(loader, jobs: list[list[str]]) -> float:
    context, master = _sweep(loader)
    start = time.perf_counter()
    _core.launch(context, lambda cfg: None, master, jobs, 0, start_tracker=False)
    return (time.perf_counter() - start) / len(jobs)


def with_hydras_run_job(loader, jobs: list[list[str]]) -> float:
    context, master = _sweep(loader)
    setup_globals()
    start = time.perf_counter()
    for idx, overrides in enumerate(jobs):
        config = context.config_loader.load_sweep_config(master, overrides)
        with open_dict(config):
            config.hydra.job.id, config.hydra.job.num = str(idx), idx
        keys = {"job_dir_key": "hydra.sweep.dir", "job_subdir_key": "hydra.sweep.subdir"}
        run_job(hydra_context=context, task_function=lambda cfg: None, config=config, **keys)
    return (time.perf_counter() - start) / len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    jobs = [[f"seed={i}", "num_inits=2", "features=4"] for i in range(args.jobs)]
    times: dict[str, list[float]] = {"the copy": [], "Hydra's run_job": []}
    logging.disable(logging.CRITICAL)
    with initialize_config_module(config_module="sweeper.conf", **VERSION_BASE):
        loader = GlobalHydra.instance().config_loader()
        for _ in range(args.rounds):
            times["the copy"].append(with_the_copy(loader, jobs) * 1000)
            times["Hydra's run_job"].append(with_hydras_run_job(loader, jobs) * 1000)
    print(f"hydra-core {hydra.__version__}: launcher ms per job, {args.rounds} rounds of {args.jobs} jobs")
    for name, ms in times.items():
        print(f"  {name:16s} median {statistics.median(ms):6.1f}   range {min(ms):.1f}-{max(ms):.1f}")


if __name__ == "__main__":
    main()
