"""The package's import graph: no cycles, and layers that import one way only.

Every `import` in the package counts, at module level or inside a function (a lazy
import is still a dependency). The layers, lowest first: `patdnn.errors`; the dialect
(`patdnn.dialect`); the runtime (`patdnn.runtime`, which runs code and never imports a
pass); the lowering and the frontend; pruning; the API, the command line and the tools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "patdnn": "patdnn",
    "patdnn.dialect": "patdnn_dialect",
    "patdnn.frontend": "frontend",
    "patdnn.lowering": "lowering",
    "patdnn.runtime": "runtime",
    "patdnn.pruning": "pruning",
}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            if package == "patdnn" and parts and parts[0] in {"dialect", "frontend"}:
                continue  # not a folder of the patdnn/ tree
            modules[name] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The package module that `import name` loads last (the longest known prefix)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` may name a submodule: count the most precise one.
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != name:
                found.add(resolved)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package_of(module: str) -> str:
    return next(p for p in sorted(FOLDERS, key=len, reverse=True) if module.startswith(p))


def test_the_graph_is_the_package() -> None:
    assert "patdnn.lowering.vector.conv" in MODULES
    assert "patdnn.lowering.vector.conv" in GRAPH["patdnn.lowering.vector.function"]


def test_no_import_cycle() -> None:
    """Depth-first search over the graph; package `__init__` modules that only name
    their submodules lazily (registries, re-exports) are nodes like any other."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


FORBIDDEN = {
    "patdnn.dialect": ("patdnn.lowering", "patdnn.runtime", "patdnn.frontend", "patdnn.pruning"),
    "patdnn.runtime": ("patdnn.lowering", "patdnn.frontend", "patdnn.pruning"),
    "patdnn.lowering": ("patdnn.frontend", "patdnn.pruning"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_one_way(package: str) -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _package_of(module) == package
        for target in sorted(targets)
        if target.startswith(FORBIDDEN[package])
    ]
    assert not wrong, "; ".join(wrong)
