"""Imports go one way: nothing below the API layer imports it.

The HTTP API (`loci/api/`) sits on the write path, recall, the pipeline and the stores; the
gunicorn worker (`loci/serving/`) and the factory sit above it. A lower module importing
`loci.api` would tie a store or a worker to Flask and to request parsing, so this test reads
every module's imports (statically, with `ast`) and names each one that does.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

ABOVE_THE_API = ("loci/api/", "loci/serving/", "loci/factory.py")
"""Modules allowed to import loci.api: the API itself and what serves or builds it."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from loci import api`
    return names


def lower_modules() -> list[Path]:
    files = [*sorted((ROOT / "loci").rglob("*.py")), ROOT / "consolidation.py"]
    return [f for f in files if not str(f.relative_to(ROOT)).startswith(ABOVE_THE_API)]


def test_nothing_below_the_api_imports_it() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[:2] == ["loci", "api"]
        )
        for path in lower_modules()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_walk_sees_the_modules_it_checks() -> None:
    checked = {str(path.relative_to(ROOT)) for path in lower_modules()}
    assert {"loci/writes.py", "loci/recall/engine.py", "loci/stores/graph/base.py", "consolidation.py"} <= checked
    assert "loci.api" in imported_modules(ROOT / "loci" / "factory.py")  # `from loci import api` is seen


WIRING = ("loci/services.py", "loci/runtime.py", "loci/factory.py", "loci/cli.py", "loci/__main__.py")
"""Where the whole process is put together; everything else below the API takes the parts it uses."""


def test_only_the_wiring_and_the_api_hold_the_whole_process() -> None:
    holders = {
        str(path.relative_to(ROOT))
        for path in lower_modules()
        if "loci.services" in imported_modules(path) or "loci.services.Services" in imported_modules(path)
    }
    assert holders <= set(WIRING), sorted(holders - set(WIRING))
