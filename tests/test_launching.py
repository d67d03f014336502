"""The composing launcher gives every job exactly the config Hydra's basic launcher would."""

from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

import sweeper.cli.app  # noqa: F401 - registers the schema
from sweeper.cli.launching import Composer

GRID = [
    ["seed=0", "num_inits=1", "features=4"],
    ["seed=1", "num_inits=8", "features=4"],
    ["seed=2", "num_inits=8", "features=16", "constructor=loop"],
    ["seed=3", "num_inits=2", "features=16", "constructor=loop"],
    ["seed=4", "num_inits=2", "features=3", "model=mlp", "wandb.tags=[a,b]"],
    ["seed=5", "num_inits=3", "features=3", "model=mlp", "wandb.tags=[c]"],
    ["seed=6", "num_inits=3", "features=3", "model=custom", "model.factory=sweeper.core.models:mlp"],
    ["seed=7", "num_inits=1", "features=2", "model=custom", "model.factory=sweeper.core.models:linear"],
    ["seed=8", "num_inits=1", "features=2", "+hydra.job.env_set.FOO=1"],
    ["seed=9", "num_inits=1", "features=2", "+hydra.job.env_set.FOO=2"],
    ["num_inits=5", "seed=10", "features=2", "wandb.group=g"],
]


@pytest.fixture(scope="module")
def loader_and_master():
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path("pkg://sweeper.conf"))
    master = loader.load_configuration("config", overrides=["hydra.sweep.dir=/tmp/x"], run_mode=RunMode.MULTIRUN)
    return loader, master


@pytest.mark.parametrize("job", range(len(GRID)))
def test_composed_config_equals_hydras_own(loader_and_master, job):
    loader, master = loader_and_master
    compose = Composer(loader, master)
    for earlier in GRID[:job]:  # templates of the same structure come from earlier jobs
        compose(earlier)
    ours = compose(GRID[job])
    hydras = loader.load_sweep_config(master, GRID[job])
    assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras)
    assert OmegaConf.to_container(ours, resolve=False) == OmegaConf.to_container(hydras, resolve=False)
    assert OmegaConf.is_readonly(ours) == OmegaConf.is_readonly(hydras)
    assert OmegaConf.is_struct(ours) == OmegaConf.is_struct(hydras)


def test_one_composition_per_structure(loader_and_master, monkeypatch):
    loader, master = loader_and_master
    calls = []
    real = loader.load_sweep_config
    monkeypatch.setattr(loader, "load_sweep_config", lambda m, o: calls.append(o) or real(m, o))
    compose = Composer(loader, master)
    for overrides in GRID:
        compose(overrides)
    # structures: plain; loop; mlp+tags; custom+factory; env_set=1; env_set=2; plain + wandb.group
    assert len(calls) == 7


def test_a_type_error_is_still_caught(loader_and_master):
    loader, master = loader_and_master
    compose = Composer(loader, master)
    compose(["seed=0"])
    with pytest.raises(Exception, match=r"seed"):
        compose(["seed=abc"])


def test_validating_first_then_launching_still_gives_hydras_config(loader_and_master):
    loader, master = loader_and_master
    compose = Composer(loader, master)
    for overrides in GRID:  # what the sweeper does before the launcher starts
        compose(overrides, fresh=False)
    for overrides in GRID:
        ours = compose(overrides)
        assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(loader.load_sweep_config(master, overrides))


def test_hydras_plugin_scan_loads_the_plugin_module_first(tmp_path):
    """From the repository root `hydra_plugins/` is on the path, and Hydra's scan executes it before any import."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    code = "from sweeper.cli.preflight import check_overrides; print(check_overrides(['seed=0,1', 'sweep=smoke']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"


def _master(loader, sweep_dir):
    return loader.load_configuration("config", overrides=[f"hydra.sweep.dir={sweep_dir}"], run_mode=RunMode.MULTIRUN)


def _launched(run):
    """Run one job the given way; what the task function saw, what came back, what was written."""
    from hydra.core.hydra_config import HydraConfig

    seen = {}

    def task(cfg):
        seen.update(
            task=OmegaConf.to_yaml(cfg), struct=OmegaConf.is_struct(cfg), hydra=OmegaConf.to_yaml(HydraConfig.get())
        )
        return cfg.seed

    ret = run(task)
    files = {p.name: p.read_text() for p in (Path(ret.hydra_cfg.hydra.runtime.output_dir) / ".hydra").iterdir()}
    returned = (ret.return_value, ret.status, ret.overrides, ret.task_name, OmegaConf.to_yaml(ret.cfg))
    return seen, returned, OmegaConf.to_yaml(ret.hydra_cfg), files


def test_run_job_does_what_hydras_run_job_does(loader_and_master, tmp_path):
    """Same task config, Hydra config, JobReturn and .hydra files, byte for byte, for every structure."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.utils import run_job as hydras_run_job
    from hydra.core.utils import setup_globals
    from hydra.types import HydraContext

    from sweeper.cli import launching

    loader = loader_and_master[0]
    ours_dir, hydras_dir = tmp_path / "ours", tmp_path / "hydras"
    compose = Composer(loader, _master(loader, ours_dir))
    hydras_master, context = _master(loader, hydras_dir), HydraContext(config_loader=loader, callbacks=Callbacks())
    setup_globals()
    chdir = ["seed=11", "num_inits=1", "features=2", "hydra.job.chdir=true"]
    for idx, overrides in enumerate([*GRID, chdir] * 2):  # the second round reuses every structure's template
        job = compose.job(overrides)
        config = loader.load_sweep_config(hydras_master, overrides)
        job.set_hydra({"job.id": idx, "job.num": idx})
        with open_dict(config):
            config.hydra.job.id = config.hydra.job.num = idx
        ours = _launched(lambda task, job=job: launching.run_job(Callbacks(), task, job))
        hydras = _launched(
            lambda task, config=config: hydras_run_job(
                hydra_context=context,
                task_function=task,
                config=config,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            ),
        )
        assert str(ours).replace(str(ours_dir), str(hydras_dir)) == str(hydras), overrides
