"""The layers' import rules, checked in fresh interpreters and on the source itself.

- the config model and the W&B edge never load JAX, and ``sweeper --help`` and every refusal
  of bad input run with ``import jax`` made to fail;
- the core never loads Hydra, OmegaConf or W&B;
- no import cycles between the package's parts, lazy imports included;
- tests use the package's public names only.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sweeper
from sweeper.core import catalog

from .helpers.cli import sweeper as run_sweeper

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(sweeper.__file__).parent


def modules_of(package: str) -> list[str]:
    """Every module of a subpackage, from its files (nothing is imported to find them)."""
    folder = REPO.joinpath(*package.split("."))
    names = [package]
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(set(names))


def loaded_by(modules: list[str], watched: tuple[str, ...]) -> dict[str, list[str]]:
    """Import the modules one after another in a fresh interpreter: which of ``watched`` each loaded."""
    script = f"""
import importlib, json, sys
found = {{}}
for module in {modules!r}:
    before = {{name for name in {watched!r} if name in sys.modules}}
    importlib.import_module(module)
    found[module] = sorted({{name for name in {watched!r} if name in sys.modules}} - before)
print(json.dumps(found))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_the_config_model_and_the_wandb_edge_load_no_jax():
    modules = ["sweeper", "sweeper.config", "sweeper.records", *modules_of("sweeper.tracking")]
    found = loaded_by(modules, ("jax", "flax"))
    assert found.keys() == set(modules)
    assert {module: names for module, names in found.items() if names} == {}


@pytest.mark.slow
def test_the_core_loads_no_hydra_omegaconf_or_wandb():
    modules = modules_of("sweeper.core")
    assert "sweeper.core.ensemble" in modules and "sweeper.core.catalog" in modules
    found = loaded_by(modules, ("hydra", "omegaconf", "wandb"))
    assert found.keys() == set(modules)
    assert {module: names for module, names in found.items() if names} == {}


NO_JAX = """
import sys

class NoJax:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("jax", "jaxlib", "flax"):
            raise ImportError(f"import {name}: blocked by tests/test_import_rules.py")

sys.meta_path.insert(0, NoJax())
"""


@pytest.fixture
def without_jax(tmp_path):
    """An environment in which ``import jax`` fails, in the command and every process it starts."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_JAX)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))}
    check = subprocess.run([sys.executable, "-c", "import jax"], env=env, capture_output=True, text=True)
    assert "blocked by tests/test_import_rules.py" in check.stderr  # the shim works
    return env


@pytest.mark.slow
@pytest.mark.next_hydra
def test_help_runs_without_jax(tmp_path, without_jax):
    done = run_sweeper("--help", cwd=tmp_path, env=without_jax)
    assert done.returncode == 0, done.stderr
    assert f"constructor: {', '.join(sorted(catalog.CONSTRUCTORS))}" in done.stdout
    assert "num_inits: 8" in done.stdout


@pytest.mark.slow
@pytest.mark.next_hydra
@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["num_inits=-3"], "sweeper: num_inits=-3: must be an integer >= 1 (nothing was run)"),
        (["-m", "seed=0,1", "constructor=vmap,nope"], "sweeper: constructor='nope': must be one of "),
        (["-m", "sweep=bad", "hydra.searchpath=[file://{conf}]"], "sweeper: num_inits=0: must be an integer >= 1"),
    ],
)
def test_a_refusal_is_one_line_without_jax(tmp_path, without_jax, argv, line):
    conf = tmp_path / "conf"
    (conf / "sweep").mkdir(parents=True)
    (conf / "sweep" / "bad.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      num_inits: 4,0\n"
    )
    done = run_sweeper(*(a.format(conf=conf) for a in argv), cwd=tmp_path, env=without_jax)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith(line), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("result.json"))


FREEZE_PROBE = """
import gc, os, sys

def freeze(freeze=gc.freeze):
    if sys.argv[0].endswith("sweeper"):  # the command itself, not the processes it starts
        with open(os.environ["FREEZE_PROBE_OUT"], "a") as f:
            f.write(f"{'jax' in sys.modules} {'flax' in sys.modules}\\n")
    freeze()

gc.freeze = freeze
"""


@pytest.mark.slow
def test_jax_is_loaded_before_the_launcher_freezes_start_up(tmp_path):
    # JAX loads late now (never for --help or a refusal); it must still load before the launcher's
    # gc.freeze(), or every full collection between jobs scans JAX's and Flax's objects again
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "sitecustomize.py").write_text(FREEZE_PROBE)
    out = tmp_path / "freezes.txt"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "probe"), "FREEZE_PROBE_OUT": str(out)}
    done = run_sweeper("-m", "sweep=smoke", "wandb.mode=disabled", "hydra.sweep.dir=s", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == ["True True"]


def part_of(module: str) -> str | None:
    """The layer a module belongs to: ``sweeper.core.ensemble`` -> ``sweeper.core``."""
    parts = module.split(".")
    if parts[0] == "hydra_plugins":
        return ".".join(parts[:2]) if len(parts) > 1 else None
    if parts[0] != "sweeper":
        return None
    return ".".join(parts[:2]) if len(parts) > 1 else "sweeper"


def imports_of(path: Path, module: str) -> set[str]:
    """Every module a file imports, anywhere in it (lazy imports in functions included)."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def layer_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for root in ("sweeper", "hydra_plugins"):
        for path in (REPO / root).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            here = part_of(module)
            targets = {part_of(name) for name in imports_of(path, module)} - {None, here}
            graph.setdefault(here, set()).update(targets)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle reachable in a directed graph, each once (as the path that closes it)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_the_parts_of_the_package():
    graph = layer_graph()
    assert {"sweeper.core", "sweeper.cli", "sweeper.tracking", "sweeper.config", "sweeper.job"} <= graph.keys()
    assert "sweeper.core" in graph["sweeper.config"]  # the choice lists come from the core's catalog
    assert cycles(graph) == []


def private_names_used(path: Path) -> list[str]:
    """Names of the ``sweeper`` package starting with ``_`` that a file imports or reaches for."""
    used = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sweeper":
            used += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            used += [node.module] if any(p.startswith("_") for p in node.module.split(".")) else []
        elif isinstance(node, ast.Import):
            used += [
                a.name
                for a in node.names
                if a.name.split(".")[0] == "sweeper" and any(p.startswith("_") for p in a.name.split("."))
            ]
    return used


def test_tests_use_only_public_names_of_the_package():
    used = {str(p.relative_to(REPO)): private_names_used(p) for p in sorted((REPO / "tests").rglob("*.py"))}
    assert {path: names for path, names in used.items() if names} == {}
