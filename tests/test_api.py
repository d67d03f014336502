"""The public API: the names README.md documents, exported lazily and visible to type checkers."""

import ast
import importlib
import importlib.metadata
import re
from pathlib import Path

import sweeper

README = Path(__file__).resolve().parents[1] / "README.md"


def library_section() -> str:
    text = README.read_text()
    return text[text.index("### As a library") : text.index("## Config reference")]


def type_checking_imports() -> dict[str, str]:
    """Name -> module of what ``sweeper/__init__.py`` imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(sweeper.__file__).read_text())
    [block] = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"]
    return {alias.asname or alias.name: node.module for node in block.body for alias in node.names}


def test_type_checkers_see_every_exported_name_where_it_is_loaded_from():
    seen = type_checking_imports()
    assert set(sweeper.__all__) == set(seen) | {"__version__"}
    for name, module in seen.items():
        assert getattr(sweeper, name) is getattr(importlib.import_module(module), name), name
    assert set(sweeper.__all__) <= set(dir(sweeper))


def test_the_version_is_the_installed_one():
    assert sweeper.__version__ == importlib.metadata.version("sweeper")


def test_the_readme_documents_exactly_the_exported_names():
    section = library_section()
    used = set(re.findall(r"\bsweeper\.(\w+)", section)) - {"__all__"}
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    table = {name for cell in first_cells for name in re.findall(r"`(\w+)", cell)}
    assert used <= set(sweeper.__all__)
    assert table == set(sweeper.__all__)


def test_the_readme_example_runs():
    [code] = re.findall(r"```python\n(.*?)```", library_section(), flags=re.S)
    namespace = {}
    exec(code, namespace)
    assert namespace["outputs"].shape == (64, 32, 256)
    assert namespace["report"].distinct_lanes == 64
