"""Depth 1: every config group and preset composes, and validation names key and value.

Bad input is checked here, in-process, through the functions the command calls before any
job starts; ``test_cli.py`` and ``test_import_rules.py`` run the command itself on a few.
"""

import inspect
import re
from dataclasses import fields, is_dataclass

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from sweeper.cli.grid import typed_grid
from sweeper.cli.preflight import check_overrides, command_line_overrides
from sweeper.config import MAX_SEED, ConfigError, SweeperConfig, check, job_settings, record_config
from sweeper.core import catalog, ensemble, models

from .helpers.compose import composed


def test_defaults_compose_to_the_schema_defaults():
    with composed() as cfg:
        settings = job_settings(cfg)
    assert settings == SweeperConfig()
    assert record_config(settings) == {
        "seed": 0,
        "num_inits": 8,
        "features": 16,
        "param_dtype": "float32",
        "constructor": "vmap",
        "model": "linear",
        "model_factory": None,
        "forward_batch": 32,
        "diversity_budget": 2**37,
        "memory_budget_gb": None,
        "sharding_devices": None,
    }
    assert OmegaConf.to_container(cfg.wandb) == {
        "mode": "offline",
        "project": "sweeper",
        "entity": None,
        "group": None,
        "tags": [],
        "job_type": "ensemble",
    }


def test_the_core_builds_exactly_the_choices_the_config_offers():
    assert set(ensemble.CONSTRUCTORS) == set(catalog.CONSTRUCTORS)
    assert set(models.MODELS) == set(catalog.MODELS)
    with composed():
        loader = GlobalHydra.instance().config_loader()
        assert loader.get_group_options("constructor") == sorted(catalog.CONSTRUCTORS)
        assert loader.get_group_options("model") == sorted([*catalog.MODELS, catalog.CUSTOM_MODEL])


def test_every_key_of_the_schema_says_what_it_is():
    # the schema is where a key's meaning is written: a comment on its line, as Hydra's structured configs do
    for schema in (SweeperConfig, *(type(getattr(SweeperConfig(), f.name)) for f in fields(SweeperConfig))):
        if not is_dataclass(schema):
            continue
        lines = inspect.getsource(schema).splitlines()
        for f in fields(schema):
            [line] = [line for line in lines if line.strip().startswith(f"{f.name}:")]
            assert "  # " in line, f"{schema.__name__}.{f.name} has no comment"


@pytest.mark.parametrize("name", ["vmap", "loop", "pitfall_broadcast", "pitfall_no_split"])
def test_every_constructor_option(name):
    with composed([f"constructor={name}"]) as cfg:
        assert job_settings(cfg).constructor.name == name


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_builtin_models(name):
    with composed([f"model={name}"]) as cfg:
        settings = job_settings(cfg)
    assert settings.model.name == name and settings.model.factory is None and settings.model.spec == name


def test_custom_model_needs_an_import_path():
    with composed(["model=custom", "model.factory=sweeper.core.models:mlp"]) as cfg:
        settings = job_settings(cfg)
    assert (settings.model.name, settings.model.factory, settings.model.spec) == (
        "custom",
        "sweeper.core.models:mlp",
        "sweeper.core.models:mlp",
    )
    with (
        composed(["model=custom", "model.factory=not_a_path"]) as cfg,
        pytest.raises(ConfigError, match=re.escape("model.factory='not_a_path'")),
    ):
        job_settings(cfg)


@pytest.mark.parametrize(
    ("preset", "jobs", "params"),
    [
        ("smoke", 2, {"seed": "0", "num_inits": "1,4", "features": "8"}),
        ("default", 12, {"seed": "0,1", "num_inits": "1,8,64", "features": "16,64"}),
        ("reference", 36, {"seed": "0,1,2", "num_inits": "1,8,64,512", "features": "16,64,256"}),
        ("es", 100, {"seed": "range(0,100)", "num_inits": "256", "features": "64"}),
    ],
)
def test_sweep_presets_set_the_grid(preset, jobs, params):
    with composed([f"sweep={preset}"], return_hydra_config=True) as cfg:
        assert {k: str(v) for k, v in cfg.hydra.sweeper.params.items()} == params
        assert typed_grid(cfg).jobs == jobs


def test_command_line_sweeps_override_the_preset_grid():
    with composed(["sweep=reference"], return_hydra_config=True) as cfg:
        OmegaConf.set_readonly(cfg.hydra, False)
        cfg.hydra.overrides.task = ["sweep=reference", "seed=0,1", "num_inits=2"]
        assert typed_grid(cfg).jobs == 2 * 1 * 3


def test_outputs_go_under_outputs_in_numbered_job_dirs():
    with composed(return_hydra_config=True) as cfg:
        assert cfg.hydra.run.dir.startswith("outputs/runs/")
        assert cfg.hydra.sweep.dir.startswith("outputs/multiruns/")
        assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.num}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("num_inits=0", "num_inits=0: must be an integer >= 1"),
        ("num_inits=-3", "num_inits=-3: must be an integer >= 1"),
        ("features=0", "features=0: must be an integer >= 1"),
        ("seed=-1", f"seed=-1: must be an integer in [0, {MAX_SEED}]"),
        (f"seed={2**32}", f"seed={2**32}: must be an integer in [0, {MAX_SEED}]"),
        ("forward_batch=0", "forward_batch=0: must be an integer >= 1"),
        ("wandb.mode=cloud", "wandb.mode='cloud': must be one of offline, online, disabled"),
        ("+typo=4", "typo=4: unknown key"),
        ("+wandb.typo=x", "wandb.typo='x': unknown key"),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_key_and_value(override, message):
    with composed([override]) as cfg, pytest.raises(ConfigError) as err:
        job_settings(cfg)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_the_job_count_follows_hydra_when_a_key_is_given_twice():
    # the command line's seed=5,6 replaces the preset's seed=0,1,2: 2 jobs, not 6
    assert check_overrides(["seed=0,1,2", "features=4", "seed=5,6"]) == 2


def test_a_sweep_the_basic_sweeper_cannot_enumerate_is_left_to_its_sweeper():
    assert check_overrides(["seed=3", "forward_batch=interval(1,64)"]) is None
    with pytest.raises(ConfigError, match=re.escape("num_inits=0: must be an integer >= 1")):
        check_overrides(["num_inits=0", "forward_batch=interval(1,64)"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-m", "num_inits=1,2,-3"], "num_inits=-3: must be an integer >= 1"),
        (["-m", "seed=range(0,90)", "features=8,0"], "features=0: must be an integer >= 1"),
        (["num_inits=2.5"], "num_inits=2.5: must be an integer >= 1"),
        (["num_inits=abc"], "num_inits='abc': must be an integer >= 1"),
        (["features=0"], "features=0: must be an integer >= 1"),
        (["seed=-1"], f"seed=-1: must be an integer in [0, {MAX_SEED}]"),
        ([f"seed={2**63}"], f"seed={2**63}: must be an integer in [0, {MAX_SEED}]"),
        (["+typo=4"], "typo=4: unknown key"),
        (["-m", "+typo=4,5"], "typo=4: unknown key"),
        (["constructor=nope"], f"constructor='nope': must be one of {', '.join(sorted(catalog.CONSTRUCTORS))}"),
        (["model=nope"], f"model='nope': must be one of {', '.join(sorted([*catalog.MODELS, 'custom']))}"),
        (["constructor.name=nope"], f"constructor.name='nope': must be one of {', '.join(catalog.CONSTRUCTORS)}"),
        (["sweep=nope"], "sweep='nope': must be one of default, es, none, reference, smoke"),
        (["-m", "hydra/launcher=nope"], "hydra/launcher='nope': must be one of basic,"),
        (["num_inits=[1,2"], "num_inits=[1,2: "),
        (["-m", "hydra.sweep.subdir=../x"], "hydra.sweep.subdir='../x': a job's directory must stay inside"),
        (["resume=maybe"], "resume='maybe': must be true or false"),
        (["memory_budget_gb=0"], "memory_budget_gb=0: must be a positive number of GB"),
        (["-m", "--cfg", "job"], "--multirun and --cfg: only one of --run, --multirun, --cfg, --info, --shell-c"),
    ],
)
def test_a_bad_command_line_is_refused_in_one_line_naming_key_and_value(argv, message):
    with pytest.raises(ConfigError) as err:
        check_overrides(command_line_overrides(argv))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_the_whole_grid_is_checked_including_the_preset(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "bad.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      num_inits: 4,0\n"
    )
    overrides = ["sweep=bad", f"hydra.searchpath=[file://{tmp_path}]"]
    with composed(overrides, return_hydra_config=True) as cfg, pytest.raises(ConfigError) as err:
        check_overrides([axis.input_line for axis in typed_grid(cfg).axes])
    assert str(err.value) == "num_inits=0: must be an integer >= 1"


@pytest.mark.parametrize(
    ("project", "tags"),
    [
        ("sweeper", ["a", "b"]),
        ("a/b", []),
        ("a\\b", []),
        ("a#b", []),
        ("a?b", []),
        ("a%b", []),
        ("a:b", []),
        ("p" * 128, []),
        ("p" * 129, []),
        ("sweeper", ["t" * 64]),
        ("sweeper", ["t" * 65]),
        ("sweeper", [""]),
        ("sweeper", []),
    ],
)
def test_the_w_and_b_rules_are_w_and_bs_own(project, tags):
    # the preflight copies the two rules W&B checks at run start: this fails if W&B's move
    import wandb

    try:
        wandb.Settings(project=project, run_tags=tags)
        w_and_b_refuses = False
    except Exception:
        w_and_b_refuses = True
    try:
        check("wandb.project", project), check("wandb.tags", tags)
        sweeper_refuses = False
    except ConfigError:
        sweeper_refuses = True
    assert sweeper_refuses == w_and_b_refuses


def test_a_jobs_name_leaves_out_exactly_the_sweep_level_keys_of_the_schema():
    from sweeper.config import sweep_level_keys

    with composed(return_hydra_config=True) as cfg:
        excluded = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert sorted(excluded) == sorted({"sweep"} | sweep_level_keys())
