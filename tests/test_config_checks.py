"""Checks of the composed config before any job: interpolations quoted as typed, custom factories tried."""

import pytest

from sweeper.cli.preflight import check_overrides
from sweeper.cli.start import prepare_run
from sweeper.config import ConfigError

from .helpers.compose import composed

SECRET = "sk-sweeper-test-0123456789"


def refusal(overrides) -> str:
    with composed(overrides, return_hydra_config=True) as cfg, pytest.raises(ConfigError) as err:
        prepare_run(cfg)
    message = str(err.value)
    assert "\n" not in message and SECRET not in message
    return message


@pytest.fixture(autouse=True)
def _secret_environment(monkeypatch):
    monkeypatch.setenv("SWEEPER_SECRET", SECRET)
    monkeypatch.setenv("SWEEPER_SECRET_FACTORY", f"{SECRET.replace('-', '_')}:make")
    monkeypatch.delenv("SWEEPER_UNSET", raising=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["seed=${oc.env:SWEEPER_UNSET}"],
            "seed=${oc.env:SWEEPER_UNSET}: cannot be resolved (the environment variable",
        ),
        (["seed=${oc.env:SWEEPER_SECRET}"], "seed=${oc.env:SWEEPER_SECRET}: cannot be resolved (its value is not of"),
        (["wandb.mode=${oc.env:SWEEPER_SECRET}"], "wandb.mode=${oc.env:SWEEPER_SECRET}: must be one of offline,"),
        (["model.factory=sweeper.core.models:mlp"], "model.factory=sweeper.core.models:mlp: is used with model=custom"),
        (
            ["model=custom", "model.factory=${oc.env:SWEEPER_SECRET_FACTORY}"],
            "model.factory=${oc.env:SWEEPER_SECRET_FACTORY}: cannot be imported or is not callable",
        ),
        (["model=custom", "model.factory=sweeper.core.modelz:mlp"], "model.factory=sweeper.core.modelz:mlp: cannot be"),
        (["model=custom", "model.factory=sweeper.core.models:nope"], "model.factory=sweeper.core.models:nope: cannot"),
        (
            ["model=custom", "model.factory=tests.helpers.bad_factories:NOT_CALLABLE"],
            "model.factory=tests.helpers.bad_fact",
        ),
        (
            ["model=custom", "model.factory=os:getcwd"],
            "model.factory=os:getcwd: calling it with (features=16, rngs) rai",
        ),
        (
            ["model=custom", "model.factory=tests.helpers.bad_factories:returns_an_array"],
            "model.factory=tests.helpers.bad_factories:returns_an_array: returned an array, not an nnx.Module",
        ),
        (
            ["model=custom", "model.factory=tests.helpers.bad_factories:returns_a_module_without_parameters"],
            "model.factory=tests.helpers.bad_factories:returns_a_module_without_parameters: returned an nnx.Module",
        ),
    ],
)
def test_refused_before_any_job_quoting_what_was_typed(overrides, message):
    assert refusal(overrides).startswith(message)


def test_a_good_custom_factory_passes():
    with composed(["model=custom", "model.factory=sweeper.core.models:mlp"], return_hydra_config=True) as cfg:
        prepare_run(cfg)


def test_an_interpolated_unknown_key_is_refused_on_the_command_line():
    with pytest.raises(ConfigError, match=r"^\+api_token=\$\{oc.env:SWEEPER_SECRET\}: unknown key"):
        check_overrides(["+api_token=${oc.env:SWEEPER_SECRET}"])
