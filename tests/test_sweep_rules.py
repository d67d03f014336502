"""Sweep safety rules, in-process: the grid typed, its size, its paths, its directory's claim."""

import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from sweeper.cli.grid import choose_preset
from sweeper.cli.preflight import check_overrides
from sweeper.cli.start import DryRun, prepare_sweep
from sweeper.cli.sweep_dir import CLAIM, claim, grid_difference
from sweeper.config import ConfigError
from sweeper.core.catalog import CONSTRUCTORS

from .helpers.compose import multirun_config


def prepared(tmp_path, *overrides, name="s"):
    config = multirun_config([f"hydra.sweep.dir={tmp_path / name}", *choose_preset(list(overrides))])
    jobs, first_line = prepare_sweep(config)
    return config, jobs, first_line


# --- 3. the grid that runs is the grid typed ---


def test_a_command_line_that_sweeps_runs_exactly_its_axes(tmp_path):
    config, jobs, first_line = prepared(tmp_path, "seed=range(0,5)")
    assert jobs == 5
    assert first_line == f"sweeper: 5 jobs (seed=range(0,5)) -> {tmp_path / 's'}"
    assert config.hydra.sweeper.params == {}  # what the sweeper runs, and what multirun.yaml records
    _, jobs, _ = prepared(tmp_path, "seed=0,1", "num_inits=4,8", name="t")
    assert jobs == 4  # not x features=16,64 from the default preset


def test_no_grid_runs_the_default_preset_and_a_chosen_preset_takes_command_line_values(tmp_path):
    _, jobs, first_line = prepared(tmp_path)
    assert jobs == 12 and "(sweep=default: seed=0,1 num_inits=1,8,64 features=16,64)" in first_line
    _, jobs, first_line = prepared(tmp_path, "sweep=reference", "seed=0,1", "num_inits=2", name="t")
    assert jobs == 2 * 1 * 3 and "(sweep=reference: seed=0,1 features=16,64,256)" in first_line
    _, jobs, _ = prepared(tmp_path, "features=32", name="u")  # a plain value: still the default preset
    assert jobs == 2 * 3


def test_the_sweeps_record_says_which_grid_ran(tmp_path):
    prepared(tmp_path, "seed=0,1", "forward_batch=7")
    grid = json.loads((tmp_path / "s" / CLAIM).read_text())["grid"]
    assert (grid["axes"], grid["preset"], grid["jobs"]) == ("seed=0,1", None, 2)
    assert grid["space"]["seed"] == ["0", "1"] and grid["space"]["forward_batch"] == ["7"]


def test_dry_run_lists_the_jobs_and_writes_nothing(tmp_path, capsys):
    with pytest.raises(DryRun, match=re.escape("3 jobs (seed=0,1,2)")):
        prepared(tmp_path, "seed=0,1,2", "num_inits=2", "dry_run=true")
    assert capsys.readouterr().out.splitlines() == [
        "#0 seed=0 num_inits=2",
        "#1 seed=1 num_inits=2",
        "#2 seed=2 num_inits=2",
    ]
    assert not (tmp_path / "s").exists()


def test_a_grid_over_the_limit_is_refused_at_once(tmp_path):
    started = time.process_time()
    with pytest.raises(ConfigError, match=re.escape("4294967295 jobs (seed=range(0,4294967295)): more than max_jobs")):
        prepared(tmp_path, "seed=range(0,4294967295)")
    with pytest.raises(ConfigError, match=re.escape("more than max_jobs=10")):
        prepared(tmp_path, "seed=range(0,11)", "max_jobs=10")
    assert time.process_time() - started < 30  # enumerating 2**32 values would take minutes of CPU
    assert check_overrides(["seed=range(0,100000)", "num_inits=range(1,100000)"]) == 100000 * 99999


# --- 5. preflight refuses in one line ---


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["~seed"], "~seed: sweeper's settings cannot be deleted"),
        (["+seed=1"], "+seed=1: seed is already in the config: drop the '+'"),
        (["seed=range(0,10,0)"], "seed=range(0,10,0): a range's step must not be 0"),
        (["seed=glob(*)"], "seed=glob(*): glob() selects options of a config group, and seed is not one"),
        (["hydra.sweeper.max_batch_size=0"], "hydra.sweeper.max_batch_size=0: must be a positive number"),
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0: must be a positive number"),
        (["seed=range(3,3)"], "seed=range(3,3): sweeps no value, so the grid is empty"),
        ([f"num_inits={2**63}"], f"num_inits={2**63}: must be less than 2**63"),
        ([f"features=1,{2**63}"], f"features={2**63}: must be less than 2**63"),
        (["model.factory=os:getcwd"], "model.factory is used with model=custom only: add model=custom"),
        (["wandb.project=a/b"], "wandb.project='a/b': W&B refuses the characters '/' in a project name"),
        ([f"wandb.project={'p' * 129}"], f"wandb.project='{'p' * 129}': must be a W&B project name of 1 to 128"),
        ([f"wandb.tags=[a,{'t' * 65}]"], f"wandb.tags=['a', '{'t' * 65}']: W&B takes tags of 1 to 64 characters"),
        (["wandb.tags=a"], "wandb.tags='a': must be a list of tags, as in wandb.tags=[a,b]"),
    ],
)
def test_preflight_refuses_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        check_overrides(overrides)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_config_group_glob_is_counted():
    assert check_overrides(["constructor=glob(*)", "seed=0,1"]) == len(CONSTRUCTORS) * 2
    with pytest.raises(ConfigError, match="typo=4: unknown key"):
        check_overrides(["+typo=4"])


def test_an_unset_environment_variable_is_refused_before_a_sweep(tmp_path, monkeypatch):
    monkeypatch.delenv("SWEEPER_UNSET", raising=False)
    with pytest.raises(ConfigError, match=re.escape("seed=${oc.env:SWEEPER_UNSET}: cannot be resolved (the env")):
        prepared(tmp_path, "seed=${oc.env:SWEEPER_UNSET}", "num_inits=1,2")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("swept", "message"),
    [
        (
            "seed=1,${oc.env:SWEEPER_UNSET}",
            "seed=${oc.env:SWEEPER_UNSET}: cannot be resolved (the environment variable",
        ),
        ("seed=${oc.env:SWEEPER_SECRET},1", "seed=${oc.env:SWEEPER_SECRET}: cannot be resolved (its value is not of"),
        ("wandb.mode=offline,${oc.env:SWEEPER_SECRET}", "wandb.mode=${oc.env:SWEEPER_SECRET}: must be one of offline,"),
    ],
)
def test_an_interpolation_among_swept_values_is_checked_before_a_sweep_quoted_as_typed(
    tmp_path, monkeypatch, swept, message
):
    monkeypatch.delenv("SWEEPER_UNSET", raising=False)
    monkeypatch.setenv("SWEEPER_SECRET", "sk-swept-secret-42")
    with pytest.raises(ConfigError) as err:
        prepared(tmp_path, swept, "num_inits=1,2")
    assert str(err.value).startswith(message), str(err.value)
    assert "sk-swept-secret-42" not in str(err.value)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ("hydra:\n  sweeper:\n    max_batch_size: 0\n", "hydra.sweeper.max_batch_size=0: must be a positive number"),
        ("hydra:\n  launcher:\n    n_jobs: 0\n", "hydra.launcher.n_jobs=0: must be a positive number of parallel"),
        ("seed: -1\n", "seed=-1: must be an integer in [0, 4294967295]"),
        ("wandb:\n  tags: ['{}']\n".format("t" * 65), "wandb.tags=['tttt"),
    ],
)
def test_a_bad_value_in_a_preset_is_refused_before_a_sweep(tmp_path, preset, message):
    presets = tmp_path / "conf" / "sweep"
    presets.mkdir(parents=True)
    (presets / "mine.yaml").write_text("# @package _global_\n" + preset)
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    with pytest.raises(ConfigError) as err:
        prepared(tmp_path, searchpath, "sweep=mine", "hydra/launcher=joblib", "num_inits=1,2")
    assert str(err.value).startswith(message), str(err.value)
    assert not (tmp_path / "s").exists()


# --- 1. a sweep directory belongs to one sweep ---


def test_a_named_directory_is_claimed_once(tmp_path):
    record = {"id": "a", "command": [], "grid": {"space": {"seed": ["0"]}}}
    assert claim(tmp_path / "s", record, named=True, resume=False) == tmp_path / "s"
    with pytest.raises(ConfigError, match=re.escape(f"hydra.sweep.dir={tmp_path / 's'}: holds another sweep's files")):
        claim(tmp_path / "s", record, named=True, resume=False)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "0").mkdir()  # a sweep from before claims: not empty, so taken
    with pytest.raises(ConfigError, match="holds another sweep's files"):
        claim(tmp_path / "old", record, named=True, resume=False)


def test_the_default_directory_moves_to_a_fresh_one(tmp_path):
    record = {"id": "a", "command": [], "grid": {"space": {}}}
    taken = [claim(tmp_path / "12-00-00", record, named=False, resume=False) for _ in range(3)]
    assert taken == [tmp_path / "12-00-00", tmp_path / "12-00-00_1", tmp_path / "12-00-00_2"]
    assert all((d / CLAIM).is_file() for d in taken)


def test_a_sweep_moved_to_a_fresh_directory_takes_its_jobs_along(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = multirun_config(["seed=0,1", "sweep=none"])  # Hydra's default directory, to the second
    default = tmp_path / str(config.hydra.sweep.dir)
    default.mkdir(parents=True)
    (default / "another-sweeps-file").write_text("")
    _, first_line = prepare_sweep(config)
    moved = f"{config.hydra.sweep.dir}"
    assert moved == f"{os.path.relpath(default, tmp_path)}_1" and first_line.endswith(f"-> {moved}")
    assert list(config.hydra.overrides.hydra)[-1] == f"hydra.sweep.dir='{moved}'"  # into every job's config
    assert (tmp_path / moved / CLAIM).is_file()


def test_resume_refuses_another_grid_saying_what_differs(tmp_path):
    prepared(tmp_path, "seed=0,1", "num_inits=2")
    with pytest.raises(ConfigError, match=re.escape("resume=true: seed differs (0,1 there, 0,1,2 here) from")):
        prepared(tmp_path, "seed=0,1,2", "num_inits=2", "resume=true")
    with pytest.raises(ConfigError, match=re.escape("resume=true: forward_batch differs (32 there, 8 here)")):
        prepared(tmp_path, "seed=0,1", "num_inits=2", "forward_batch=8", "resume=true")
    prepared(tmp_path, "seed=1,0", "num_inits=2", "resume=true")  # the same jobs in another order


def test_a_sweep_from_before_claims_is_resumed_by_the_grid_its_multirun_yaml_ran(tmp_path):
    from omegaconf import OmegaConf

    # as Hydra left it: the sweep's config in multirun.yaml, a job's record, no claim
    config, _, _ = prepared(tmp_path, "seed=0,1", "num_inits=2")
    OmegaConf.save(config, tmp_path / "s" / "multirun.yaml")
    (tmp_path / "s" / CLAIM).unlink()
    (tmp_path / "s" / "0").mkdir()
    record = {"status": "ok", "config": {"seed": 0}, "error": None, "metrics": {}}
    (tmp_path / "s" / "0" / "result.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=re.escape("resume=true: seed differs (0,1 there, 0,1,2 here) from")):
        prepared(tmp_path, "seed=0,1,2", "num_inits=2", "resume=true")
    prepared(tmp_path, "seed=1,0", "num_inits=2", "resume=true")
    assert (tmp_path / "s" / CLAIM).is_file()  # claimed now, for the next resume
    (tmp_path / "s" / "multirun.yaml").unlink()
    (tmp_path / "s" / CLAIM).unlink()
    with pytest.raises(ConfigError, match=re.escape("has no sweep.json nor multirun.yaml, so its grid is unknown")):
        prepared(tmp_path, "seed=1,0", "num_inits=2", "resume=true")


def test_grid_difference_names_the_first_key_that_differs():
    assert grid_difference({"a": ["1"], "b": ["2"]}, {"a": ["1"], "b": ["2"]}) is None
    assert grid_difference({"a": ["1", "2"]}, {"a": ["2", "1"]}) is None
    assert grid_difference({"a": ["1"]}, {"a": ["1"], "b": ["2"]}) == "b differs ((not set) there, 2 here)"


@pytest.mark.parametrize(
    "path",
    [lambda tmp: tmp / "file", lambda tmp: tmp / "file" / "below"],
)
def test_a_sweep_directory_that_is_a_file_is_refused(tmp_path, path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=re.escape(f"hydra.sweep.dir={path(tmp_path)}: ")):
        claim(path(tmp_path), {}, named=True, resume=False)


@contextmanager
def _as_nobody():
    """The filesystem's view of an unprivileged user: root (which runs CI) may write anywhere."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534), os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0), os.setegid(0)


def test_a_read_only_sweep_directory_is_refused(tmp_path):
    shared = Path(tempfile.mkdtemp(dir="/tmp"))  # tmp_path's parents are root's own: nobody could not reach it
    try:
        shared.chmod(0o755)
        read_only = shared / "read-only"
        read_only.mkdir(mode=0o555)
        for target in (read_only, read_only / "below"):
            with _as_nobody(), pytest.raises(ConfigError, match=re.escape(f"hydra.sweep.dir={target}: is not writ")):
                claim(target, {}, named=True, resume=False)
        assert list(read_only.iterdir()) == []
    finally:
        shutil.rmtree(shared)


# --- 2. nothing is written outside the sweep directory; job directories never collide ---


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["hydra.sweep.subdir=${seed}", "seed=0,0"], "hydra.sweep.subdir=${seed}: jobs 0 and 1 would share the dir"),
        (
            ["hydra.sweep.subdir=${seed}", "seed=0,1", "features=4,8"],
            "hydra.sweep.subdir=${seed}: jobs 0 and 1 would share the directory 0",
        ),
        (["hydra.sweep.subdir=."], "hydra.sweep.subdir=.: job 0's directory must be a directory inside"),
        (["hydra.sweep.subdir=${oc.env:HOME}", "seed=0,1"], "hydra.sweep.subdir=${oc.env:HOME}: job 0's directory"),
        (["wandb.project=..", "hydra.sweep.subdir=${wandb.project}"], "hydra.sweep.subdir=${wandb.project}: job 0"),
        (["hydra.output_subdir=/tmp/abs"], "hydra.output_subdir=/tmp/abs: must stay inside the job's directory"),
        (["hydra.output_subdir=../../.."], "hydra.output_subdir=../../..: must stay inside"),
        (["hydra.job_logging.handlers.file.filename=/tmp/x.log"], "hydra.job_logging.handlers.file.filename=/tmp/x"),
        (["hydra.output_subdir=${oc.env:HOME}"], "hydra.output_subdir=${oc.env:HOME}: must stay inside"),
    ],
)
def test_paths_outside_or_shared_are_refused_before_any_write(tmp_path, overrides, message):
    with pytest.raises(ConfigError) as err:
        prepared(tmp_path, *overrides)
    assert str(err.value).startswith(message), str(err.value)
    assert os.environ["HOME"] not in str(err.value)  # the value as typed, not as resolved
    assert not (tmp_path / "s").exists()


def test_a_subdir_per_value_is_fine(tmp_path):
    _, jobs, _ = prepared(tmp_path, "hydra.sweep.subdir=s${seed}_${features}", "seed=0,1", "features=4,8")
    assert jobs == 4
