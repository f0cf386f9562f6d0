"""Writes `build/pyright/`: the `patdnn` import namespace as a tree of links, for pyright.

The top-level folders are sub-packages of `patdnn` through `[tool.setuptools.package-dir]`
(`patdnn_dialect/` is `patdnn.dialect`, ...), which the editable install maps with an
import hook that pyright cannot follow. The tree has one real directory per package of
`[tool.setuptools] packages` and one symlink per source file, so every module sits at
its import path; `[tool.pyright]` checks the tree and resolves imports from it, so each
file is seen once, under its import name.

    python -m patdnn.tools.pyright_tree   # then: pyright
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

TREE = Path("build") / "pyright"


def _source_dir(package: str, package_dir: dict[str, str]) -> Path:
    """The folder holding `package`, through the longest mapped prefix of its name."""
    parts = package.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in package_dir:
            return Path(package_dir[prefix], *parts[n:])
    return Path(*parts)


def write_tree(root: Path) -> Path:
    """(Re)writes the link tree of the project at `root`; returns its directory."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    tree = root / TREE
    shutil.rmtree(tree, ignore_errors=True)
    for package in setuptools["packages"]:
        source = root / _source_dir(package, setuptools.get("package-dir", {}))
        target = tree.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.py")):
            (target / path.name).symlink_to(os.path.relpath(path, target))
    return tree


def main() -> None:
    write_tree(Path.cwd())


if __name__ == "__main__":
    main()
