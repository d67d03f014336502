"""The composing launcher gives every job exactly the config Hydra's basic launcher would."""

import functools
from pathlib import Path

import hydra
import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

import sweeper.cli.app  # noqa: F401 - registers the schema
from hydra_plugins.sweeper_plugins._core import Composer

pytestmark = pytest.mark.next_hydra  # CI runs these on Hydra 1.4 too

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


HYDRA_13 = hydra.__version__.startswith("1.3.")  # its run_job lacks the three fixes of Hydra's main branch (1.4)


class Recorder:
    """What Hydra's ``Callbacks`` is asked while a job runs."""

    def __init__(self):
        self.events = []

    def on_job_start(self, config, task_function):
        self.events.append("start")

    def on_job_end(self, config, job_return):
        self.events.append(("end", job_return.status.name, type(job_return._return_value).__name__))


def _launched(run, task):
    """Run one job the given way; what the task function saw, what came back, what was written."""
    from hydra.core.hydra_config import HydraConfig

    seen = {}

    def recording_task(cfg):
        seen.update(
            task=OmegaConf.to_yaml(cfg), struct=OmegaConf.is_struct(cfg), hydra=OmegaConf.to_yaml(HydraConfig.get())
        )
        return task(cfg)

    ret = run(recording_task)
    output_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)
    files = {p.name: p.read_text() for p in (output_dir / ".hydra").iterdir()}
    returned = (repr(ret._return_value), ret.status, ret.overrides, ret.task_name, OmegaConf.to_yaml(ret.cfg))
    return seen, returned, OmegaConf.to_yaml(ret.hydra_cfg), files


@pytest.fixture
def launchers(loader_and_master, tmp_path):
    """One job through this plugin's run_job, and through Hydra's: each ``run(overrides, idx, task, callbacks)``."""
    from hydra.core.utils import run_job as hydras_run_job
    from hydra.core.utils import setup_globals
    from hydra.types import HydraContext

    from hydra_plugins.sweeper_plugins._core import run_job

    loader = loader_and_master[0]
    ours_dir, hydras_dir = tmp_path / "ours", tmp_path / "hydras"
    compose, hydras_master = Composer(loader, _master(loader, ours_dir)), _master(loader, hydras_dir)
    setup_globals()

    def ours(overrides, idx, task, callbacks):
        job = compose.job(overrides)
        job.set_hydra({"job.id": str(idx), "job.num": idx})
        context = HydraContext(config_loader=loader, callbacks=callbacks)
        return str(_launched(lambda task: run_job(context, task, job), task)).replace(str(ours_dir), str(hydras_dir))

    def hydras(overrides, idx, task, callbacks):
        config = loader.load_sweep_config(hydras_master, overrides)
        with open_dict(config):
            config.hydra.job.id, config.hydra.job.num = str(idx), idx
            if HYDRA_13:  # Hydra's main branch resolves env_set before it keeps the Hydra config; ours does too
                OmegaConf.resolve(config.hydra.job.env_set)
        context = HydraContext(config_loader=loader, callbacks=callbacks)
        keys = {"job_dir_key": "hydra.sweep.dir", "job_subdir_key": "hydra.sweep.subdir"}
        run = functools.partial(hydras_run_job, hydra_context=context, config=config, **keys)
        return str(_launched(lambda task: run(task_function=task), task))

    return ours, hydras


CHDIR = ["seed=11", "num_inits=1", "features=2", "hydra.job.chdir=true"]


def test_run_job_does_what_hydras_run_job_does(launchers):
    """Same task config, Hydra config, JobReturn and .hydra files, byte for byte, for every structure."""
    for idx, overrides in enumerate([*GRID, CHDIR] * 2):  # the second round reuses every structure's template
        ours, hydras = (run(overrides, idx, lambda cfg: cfg.seed, Recorder()) for run in launchers)
        assert ours == hydras, overrides


def _boom(cfg):
    raise ValueError(f"boom in job {cfg.seed}")


@pytest.mark.parametrize("overrides", [GRID[0], CHDIR])
def test_a_failing_task_is_returned_as_hydra_returns_it_and_written_to_the_jobs_log(launchers, tmp_path, overrides):
    cwd = Path.cwd()
    recorders = Recorder(), Recorder()
    ours, hydras = (run(overrides, 0, _boom, recorder) for run, recorder in zip(launchers, recorders, strict=True))
    assert ours == hydras
    assert "FAILED" in ours and "boom in job" in ours
    assert recorders[0].events == recorders[1].events == ["start", ("end", "FAILED", "ValueError")]
    assert Path.cwd() == cwd
    ours_log, hydras_log = (next((tmp_path / side).rglob("job.log")).read_text() for side in ("ours", "hydras"))
    assert "Job failed" in ours_log and "ValueError: boom in job" in ours_log
    assert ("ValueError: boom in job" in hydras_log) == (not HYDRA_13)  # the first of the three fixes


def _interrupt(cfg):
    raise KeyboardInterrupt


@pytest.mark.parametrize("overrides", [GRID[0], CHDIR])
def test_a_keyboard_interrupt_reaches_on_job_end_and_goes_on_up(launchers, overrides):
    """As in Hydra's main branch (1.4): on_job_end sees the interrupted job; directory and Hydra config restored."""
    from hydra.core.hydra_config import HydraConfig

    cwd, hydra_config = Path.cwd(), HydraConfig.instance().cfg
    recorders = Recorder(), Recorder()
    for run, recorder in zip(launchers, recorders, strict=True):
        with pytest.raises(KeyboardInterrupt):
            run(overrides, 0, _interrupt, recorder)
        assert Path.cwd() == cwd and HydraConfig.instance().cfg is hydra_config
    interrupted = ["start", ("end", "FAILED", "KeyboardInterrupt")]
    assert recorders[0].events == interrupted
    assert recorders[1].events == (["start"] if HYDRA_13 else interrupted)  # the second of the three fixes


class Value:
    """A job's return value, weakly referable, so a test can see whether anything still holds it."""


def test_a_launch_keeps_no_completed_jobs_return_value(loader_and_master, tmp_path):
    """A long sweep's process stays flat: a completed job's return value (its record) is let go once the
    callbacks have seen it; a failed job's exception is kept, for the sweeper to raise."""
    import gc
    import weakref

    from hydra.core.utils import JobStatus
    from hydra.types import HydraContext

    from hydra_plugins.sweeper_plugins._core import launch

    loader = loader_and_master[0]
    master = _master(loader, tmp_path)
    recorder, values = Recorder(), []

    def task(cfg):
        if cfg.seed == 2:
            raise ValueError("boom")
        values.append(weakref.ref(value := Value()))
        return value

    context = HydraContext(config_loader=Composer(loader, master), callbacks=recorder)
    jobs = [[f"seed={seed}", "num_inits=1", "features=2"] for seed in range(4)]
    try:
        runs = launch(context, task, master, jobs, 0, start_tracker=False)
    finally:
        gc.unfreeze()  # the launcher freezes what lives before its first job: this test's process goes on
    assert [e for e in recorder.events if e != "start"] == [("end", "COMPLETED", "Value")] * 2 + [
        ("end", "FAILED", "ValueError"),
        ("end", "COMPLETED", "Value"),
    ]
    assert [r.status for r in runs] == [JobStatus.COMPLETED] * 2 + [JobStatus.FAILED, JobStatus.COMPLETED]
    assert len(values) == 3 and all(ref() is None for ref in values)
    with pytest.raises(ValueError, match="boom"):
        _ = runs[2].return_value  # as Hydra's basic sweeper reads it
