"""The package layers import only downwards (docs/architecture.md, "Layers").

core <- data, export <- eval <- train <- cli; the node sits beside cli (it needs core, data,
export, eval) and only cli and the demo may import it. Inside train, LISA's own training never
imports the from-scratch aids (train/scratch). Checked statically over every import statement,
lazy ones inside functions included (a lazy import still ties the layers).
"""
from pathlib import Path

import pytest

from test_import_boundary import _imported_names

REPO_ROOT = Path(__file__).resolve().parents[2]

# package -> the lisa_ros packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "export": {"core"},
    "eval": {"core", "data", "export"},
    "train": {"core", "data", "export", "eval"},
    "node": {"core", "data", "export", "eval", "msg", "srv", "action"},
    "cli": {"core", "data", "export", "eval", "train", "node"},
    "demo": {"core", "data", "export", "eval", "node", "msg", "srv", "action"},
}
PACKAGES = set(ALLOWED) | {"msg", "srv", "action", "models"}


def forbidden(pkg: str, names) -> list[str]:
    """The lisa_ros modules among ``names`` that package ``pkg`` must not import."""
    bad = []
    for name in names:
        parts = name.split(".")
        if parts[0] == "lisa_ros" and len(parts) > 1 and parts[1] in PACKAGES:
            if parts[1] != pkg and parts[1] not in ALLOWED[pkg]:
                bad.append(name)
    return bad


def _imports(files):
    """(file, line, module) of every import in ``files`` (paths under the repository)."""
    for path in files:
        package = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts[:-1])
        for lineno, name in _imported_names(path, package):
            yield path.relative_to(REPO_ROOT), lineno, name


@pytest.mark.parametrize("pkg", sorted(ALLOWED))
def test_layers_import_only_downwards(pkg):
    files = sorted((REPO_ROOT / "lisa_ros" / pkg).rglob("*.py"))
    assert files
    offenders = sorted({f"{path}:{line}: imports {name}" for path, line, name in _imports(files)
                        if forbidden(pkg, [name])})
    assert not offenders, "\n".join(offenders)


def test_every_package_has_a_layer():
    """A new package must be placed in the table before it can pass the check above."""
    found = {p.name for p in (REPO_ROOT / "lisa_ros").iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert found <= PACKAGES, f"packages without a layer: {sorted(found - PACKAGES)}"


def test_official_training_does_not_import_the_from_scratch_aids():
    train = REPO_ROOT / "lisa_ros" / "train"
    official = [p for p in sorted(train.rglob("*.py")) if "scratch" not in p.relative_to(train).parts]
    assert len(official) > 10
    offenders = [f"{path}:{line}: imports {name}" for path, line, name in _imports(official)
                 if name == "lisa_ros.train.scratch" or name.startswith("lisa_ros.train.scratch.")]
    assert not offenders, "\n".join(offenders)


def test_the_layer_rule_catches_upward_imports():
    """Guard the guard."""
    assert forbidden("core", ["lisa_ros.export.backends", "lisa_ros.core.masks", "numpy"]) == [
        "lisa_ros.export.backends"]
    assert forbidden("eval", ["lisa_ros.train.config", "lisa_ros.data.lisa_templates"]) == ["lisa_ros.train.config"]
    assert forbidden("train", ["lisa_ros.node.pipeline", "lisa_ros.eval.metrics"]) == ["lisa_ros.node.pipeline"]
    assert forbidden("cli", ["lisa_ros.node.lisa_node", "lisa_ros.demo.run"]) == ["lisa_ros.demo.run"]
