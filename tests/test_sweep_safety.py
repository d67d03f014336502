"""Sweep safety as a user meets it: the installed `sweeper` command, one directory per sweep."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers.cli import SWEEPER, sweeper

pytestmark = pytest.mark.slow

TINY = ("num_inits=2", "features=4")


def _one_line_refusal(done, starts_with):
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts_with), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def _start(*args, cwd):
    return subprocess.Popen([SWEEPER, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/result.json")}


def test_two_sweeps_started_together_keep_their_own_results(tmp_path):
    sweeps = {f: _start("-m", "sweep=smoke", f"features={f}", cwd=tmp_path) for f in (16, 64)}
    outputs = {f: p.communicate(timeout=600) for f, p in sweeps.items()}
    for f, process in sweeps.items():
        assert process.returncode == 0, outputs[f][1]
        assert "2 of 2 jobs ok" in outputs[f][0]
    dirs = sorted(tmp_path.glob("outputs/multiruns/*/*"))
    assert len(dirs) == 2  # one each, even when both started in the same second
    features = sorted(sorted({r["config"]["features"] for r in _records(d).values()}) for d in dirs)
    assert features == [[16], [64]]
    for d in dirs:
        assert json.loads((d / "sweep.json").read_text())["grid"]["jobs"] == 2


def test_two_sweeps_into_one_named_directory_one_runs_and_one_is_refused(tmp_path):
    sweeps = [
        _start("-m", "seed=0,1", f"features={f}", "num_inits=2", "hydra.sweep.dir=out", cwd=tmp_path) for f in (4, 8)
    ]
    outputs = [p.communicate(timeout=600) for p in sweeps]
    codes = sorted(p.returncode for p in sweeps)
    assert codes[0] == 0 and codes[1] != 0, outputs
    refused = outputs[[p.returncode for p in sweeps].index(codes[1])]
    assert refused[1].strip().startswith("sweeper: hydra.sweep.dir=out: holds another sweep's files"), refused
    features = {r["config"]["features"] for r in _records(tmp_path / "out").values()}
    assert len(features) == 1 and len(_records(tmp_path / "out")) == 2  # the winner's two results, intact
    claim = json.loads((tmp_path / "out" / "sweep.json").read_text())
    winner = features.pop()
    assert claim["command"] == ["-m", "seed=0,1", f"features={winner}", "num_inits=2", "hydra.sweep.dir=out"]  # typed


@pytest.mark.next_hydra
def test_a_named_directory_is_not_reused_and_resume_matches_jobs_by_settings(tmp_path):
    grid = ("-m", "seed=0,1", *TINY, "hydra.sweep.dir=outputs/r")
    done = sweeper(*grid, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "sweeper: 2 jobs (seed=0,1) -> outputs/r"
    before = _records(tmp_path / "outputs" / "r")

    done = sweeper("-m", "seed=0", *TINY, "hydra.sweep.dir=outputs/r", cwd=tmp_path)
    _one_line_refusal(done, "sweeper: hydra.sweep.dir=outputs/r: holds another sweep's files")
    done = sweeper("-m", "seed=0,1,2", *TINY, "hydra.sweep.dir=outputs/r", "resume=true", cwd=tmp_path)
    _one_line_refusal(done, "sweeper: resume=true: seed differs (0,1 there, 0,1,2 here) from the sweep in outputs/r")
    assert _records(tmp_path / "outputs" / "r") == before

    done = sweeper("-m", "seed=1,0", *TINY, "hydra.sweep.dir=outputs/r", "resume=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(done in an earlier run: skipped)") == 2  # matched by settings, not position
    after = _records(tmp_path / "outputs" / "r")
    for job in ("0", "1"):  # each job's record now sits beside its own .hydra files
        overrides = yaml.safe_load((tmp_path / "outputs" / "r" / job / ".hydra" / "overrides.yaml").read_text())
        assert f"seed={after[job]['config']['seed']}" in overrides
    assert sorted(r["metrics"]["diversity/mean_pairwise_l2"] for r in after.values()) == sorted(
        r["metrics"]["diversity/mean_pairwise_l2"] for r in before.values()
    )


def test_the_grid_typed_is_the_grid_run(tmp_path):
    done = sweeper("-m", "seed=range(0,5)", "dry_run=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"#{i} seed={i}" for i in range(5)] + [
        "sweeper: dry run, 5 jobs (seed=range(0,5)): nothing was run"
    ]
    assert not (tmp_path / "outputs").exists()
    done = sweeper("-m", "seed=0,1", "num_inits=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (sweep,) = tmp_path.glob("outputs/multiruns/*/*")
    multirun = yaml.safe_load((sweep / "multirun.yaml").read_text())
    assert multirun["hydra"]["sweeper"]["params"] == {}  # not the default preset's grid
    assert sorted((r["config"]["seed"], r["config"]["features"]) for r in _records(sweep).values()) == [
        (0, 16),
        (1, 16),
    ]


def test_hydra_job_chdir_works(tmp_path):
    done = sweeper("-m", "seed=0,1", *TINY, "hydra.job.chdir=true", "hydra.sweep.dir=outputs/c", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in _records(tmp_path / "outputs" / "c").values()] == ["ok", "ok"]
    done = sweeper(*TINY, "hydra.job.chdir=true", "hydra.run.dir=outputs/one", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "outputs" / "one" / "result.json").read_text())["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "seed=range(0,4294967295)"], "sweeper: 4294967295 jobs (seed=range(0,4294967295)): more than max_jobs"),
        (["-m", "seed=0,1", "hydra.sweep.subdir=${seed}", "features=4,8"], "sweeper: hydra.sweep.subdir=${seed}: jobs"),
        (["-m", "hydra.output_subdir=../../.."], "sweeper: hydra.output_subdir=../../..: must stay inside"),
        (["hydra.output_subdir={elsewhere}"], "sweeper: hydra.output_subdir={elsewhere}: must stay inside"),
        (["-m", "seed=range(0,10,0)"], "sweeper: seed=range(0,10,0): a range's step must not be 0"),
        (["-m", "seed=glob(*)"], "sweeper: seed=glob(*): glob() selects options of a config group"),
        (["~seed"], "sweeper: ~seed: sweeper's settings cannot be deleted"),
        (["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], "sweeper: hydra.launcher.n_jobs=0: must be"),
    ],
)
def test_refused_in_one_line_before_anything_is_written(tmp_path, args, message):
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"  # outside the run directory
    done = sweeper(*(a.replace("{elsewhere}", str(elsewhere)) for a in args), cwd=tmp_path)
    _one_line_refusal(done, message.replace("{elsewhere}", str(elsewhere)))
    assert not (tmp_path / "outputs").exists()
    assert not elsewhere.exists()


def test_no_secret_reaches_any_file_or_the_console(tmp_path):
    secret, secret_module = "sk-sweeper-test-0123456789", "sk_sweeper_secret_module"
    home, temp, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for d in (home, temp, work):
        d.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(temp),
        "SWEEPER_TOKEN": secret,
        "SWEEPER_BAD_FACTORY": f"{secret_module}:make",
        "SWEEPER_FACTORY": "sweeper.core.models:mlp",
    }
    factory = "model.factory=${oc.env:SWEEPER_BAD_FACTORY}"
    refused = {
        ("+api_token=${oc.env:SWEEPER_TOKEN}",): "sweeper: +api_token=${oc.env:SWEEPER_TOKEN}: unknown key",
        ("seed=${oc.env:SWEEPER_TOKEN}",): "sweeper: seed=${oc.env:SWEEPER_TOKEN}: cannot be resolved",
        ("-m", "model=custom", factory, "seed=0,1", *TINY): f"sweeper: {factory}: cannot be imported",
        ("model=custom", factory, *TINY): f"sweeper: {factory}: cannot be imported",
    }
    consoles = []
    for args, message in refused.items():
        done = sweeper(*args, cwd=work, env=env)
        _one_line_refusal(done, message)
        consoles.append(done.stdout + done.stderr)
    done = sweeper("model=custom", "model.factory=${oc.env:SWEEPER_FACTORY}", *TINY, cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    consoles.append(done.stdout + done.stderr)
    for text in consoles:
        assert secret not in text and secret_module not in text and "sweeper.core.models:mlp" not in text
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "result.json" for p in files)
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data and secret_module.encode() not in data, path
        assert b"sweeper.core.models:mlp" not in data, path


def test_a_factory_in_the_current_directory_imports_as_under_python_dash_m(tmp_path):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "models.py").write_text(
        "from flax import nnx\n\n\ndef make(features, rngs):\n    return nnx.Linear(features, features, rngs=rngs)\n"
    )
    done = sweeper("model=custom", "model.factory=mypkg.models:make", *TINY, "hydra.run.dir=outputs/one", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "outputs" / "one" / "result.json").read_text())
    assert record["metrics"]["shape/kernel"] == [2, 4, 4]
