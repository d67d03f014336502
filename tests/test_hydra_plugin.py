"""The plugins as Hydra meets them: found by its own discovery, in an editable install and a wheel alike,
on the Hydra names they rely on; and a sweep that still runs where the fast launcher cannot load."""

import inspect
import json
import os
import subprocess
import sys

import pytest

from .helpers.cli import install_wheel, sweeper

pytestmark = pytest.mark.next_hydra  # CI runs these on Hydra 1.4 too

DISCOVER = """
import json, sys, warnings
warnings.simplefilter("error")  # Hydra 1.4 warns of an editable namespace it cannot enumerate
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
plugins = Plugins.instance()
found = [f"{c.__module__}.{c.__name__}" for c in plugins.discover(Sweeper) + plugins.discover(Launcher)]
print(json.dumps({
    "ours": sorted(name for name in found if name.startswith("hydra_plugins.sweeper_plugins.")),
    "file": sys.modules["hydra_plugins.sweeper_plugins.composing"].__file__,
    "app_imported": "sweeper.cli.app" in sys.modules,
}))
"""
OURS = [f"hydra_plugins.sweeper_plugins.composing.{name}" for name in ("ComposingLauncher", "ComposingSweeper")]


def _discovered(cwd, env=None):
    command = [sys.executable, "-c", DISCOVER]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_hydra_discovers_the_plugins_of_this_editable_install(tmp_path):
    """From outside the repository: nothing but the install puts ``hydra_plugins/sweeper_plugins`` on the path."""
    found = _discovered(tmp_path)
    assert found["ours"] == OURS
    assert not found["app_imported"]  # no hand registration: Hydra's own discovery found them


@pytest.mark.slow
def test_hydra_discovers_the_plugins_of_an_installed_wheel(tmp_path):
    site = install_wheel(tmp_path)
    found = _discovered(tmp_path, env={**os.environ, "PYTHONPATH": str(site)})
    assert found["ours"] == OURS
    assert found["file"].startswith(str(site))


@pytest.mark.slow
def test_where_the_fast_launcher_cannot_load_hydras_basic_launcher_runs_the_sweep_after_one_line(tmp_path):
    """A private name the fast launcher imports is made to vanish, as a Hydra or OmegaConf release could."""
    moved = "import omegaconf._utils; del omegaconf._utils.get_omega_conf_dumper"
    main = "from sweeper.cli.command import main; import sys; sys.argv[0] = 'sweeper'; main()"
    done = sweeper(
        "-c", f"{moved}; {main}", "-m", "sweep=smoke", "wandb.mode=disabled", "hydra.sweep.dir=outputs/s",
        cwd=tmp_path, command=(sys.executable,),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = [line for line in (done.stdout + done.stderr).splitlines() if "fast launcher" in line]
    assert len(said) == 1 and "get_omega_conf_dumper" in said[0] and "Hydra's basic launcher" in said[0], said
    records = [json.loads(p.read_text()) for p in (tmp_path / "outputs" / "s").glob("*/result.json")]
    assert [r["status"] for r in records] == ["ok", "ok"]


def test_the_private_hydra_names_the_plugins_and_preflight_use_are_where_they_were():
    """Each private name below has its reason beside its import; if this fails, that code needs a look."""
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.utils import create_config_search_path, get_args_parser
    from hydra.core.utils import _flush_loggers, _save_config
    from omegaconf import OmegaConf
    from omegaconf._utils import get_omega_conf_dumper

    setup = ["self", "hydra_context", "task_function", "config"]
    assert list(inspect.signature(BasicSweeper.setup).parameters) == setup
    assert list(inspect.signature(BasicLauncher.setup).parameters) == setup
    assert list(inspect.signature(BasicLauncher.launch).parameters) == ["self", "job_overrides", "initial_job_idx"]
    assert list(inspect.signature(BasicSweeper.split_arguments).parameters) == ["overrides", "max_batch_size"]
    assert list(inspect.signature(_save_config).parameters) == ["cfg", "filename", "output_dir"]
    assert list(inspect.signature(_flush_loggers).parameters) == []
    assert issubclass(get_omega_conf_dumper(), object)
    assert callable(OmegaConf.create({"a": {}}).a._set_parent)  # HydraConfig.set_config's own trick, copied
    repository = ConfigRepository(config_search_path=create_config_search_path("pkg://sweeper.conf"))
    assert repository.group_exists("sweep") and "smoke" in repository.get_group_options("sweep")
    args, _ = get_args_parser().parse_known_args(["-m", "seed=0,1", "sweep=smoke"])
    assert args.multirun and args.overrides == ["seed=0,1", "sweep=smoke"]


def test_the_run_job_copy_benchmark_runs_both_ways(tmp_path):
    command = [sys.executable, "-m", "sweeper.bench.run_job_copy", "--jobs", "2", "--rounds", "1"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("launcher ms per job, 1 rounds of 2 jobs")
    assert [line.split()[:2] for line in lines[1:]] == [["the", "copy"], ["Hydra's", "run_job"]]


CALLBACK = """
from pathlib import Path
from hydra.experimental.callback import Callback

class Touch(Callback):
    def on_multirun_end(self, config, **kwargs):
        Path("touched").write_text("yes")
"""


def test_a_users_callback_runs_once_trusted_from_the_environment(tmp_path):
    from sweeper.cli.hydra_compat import ON_HYDRA_13, TRUSTED_TARGETS

    (tmp_path / "mycb.py").write_text(CALLBACK)
    args = ("-m", "seed=0", "num_inits=2", "features=4", "+hydra.callbacks.touch._target_=mycb.Touch")
    if not ON_HYDRA_13:  # Hydra 1.4 instantiates only trusted targets: refused in one line, before anything runs
        refused = sweeper(*args, "hydra.sweep.dir=s1", cwd=tmp_path)
        assert refused.returncode == 1
        assert refused.stderr == (
            "sweeper: +hydra.callbacks.touch._target_=mycb.Touch: Hydra 1.4 instantiates only trusted targets: "
            f"trust it from the environment, as in {TRUSTED_TARGETS}='mycb.*' (nothing was run)\n"
        )
        assert not (tmp_path / "s1").exists()
    done = sweeper(*args, "hydra.sweep.dir=s2", cwd=tmp_path, env=os.environ | {TRUSTED_TARGETS: "mycb.*"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "touched").read_text() == "yes"


def test_a_trusted_target_that_hydra_would_refuse_is_refused_in_one_line(monkeypatch):
    from sweeper.cli.hydra_compat import TRUSTED_TARGETS
    from sweeper.cli.preflight import check_overrides
    from sweeper.config import ConfigError

    monkeypatch.setenv(TRUSTED_TARGETS, "good.*, my-cb")
    with pytest.raises(ConfigError, match=f"^{TRUSTED_TARGETS}: 'my-cb' is not a dotted name"):
        check_overrides(["seed=0"])
