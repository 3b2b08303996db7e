"""Who may import the training code: LISA's official training (lisa_ros/train) never imports the
from-scratch aids (lisa_ros/train/scratch), and evaluation and data (lisa_ros/eval, lisa_ros/data),
which sit below training, never import lisa_ros.train at all. Checked on the sources, so an import
inside a function counts too."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` (or ``source``, as if it were that file) imports, at
    any depth (relative imports resolved against the file's package)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _forbidden(names: set[str], forbidden: str) -> list[str]:
    return sorted(name for name in names if name == forbidden or name.startswith(forbidden + "."))


def _offenders(files, forbidden: str) -> list[str]:
    return [f"{path.relative_to(REPO)} imports {name}" for path in files
            for name in _forbidden(imported_modules(path), forbidden)]


def test_official_training_does_not_import_the_from_scratch_aids():
    train = REPO / "lisa_ros" / "train"
    official = [path for path in sorted(train.rglob("*.py")) if "scratch" not in path.relative_to(train).parts]
    assert len(official) > 10
    assert not _offenders(official, "lisa_ros.train.scratch")


@pytest.mark.parametrize("package", ["eval", "data"])
def test_packages_below_training_do_not_import_it(package):
    files = sorted((REPO / "lisa_ros" / package).rglob("*.py"))
    assert files
    assert not _offenders(files, "lisa_ros.train")


def test_the_check_sees_relative_and_nested_imports():
    """Guard the guard: relative imports resolve against the file's package, at any depth."""
    source = ("import numpy\nfrom .scratch import aids\nfrom ..train.scratch.terms import LookupTerm\n"
              "def f():\n    import lisa_ros.train.scratch.vqa\n    from . import scratch\n")
    names = imported_modules(REPO / "lisa_ros" / "train" / "loop.py", source)
    assert {"lisa_ros.train.scratch", "lisa_ros.train.scratch.aids", "lisa_ros.train.scratch.terms",
            "lisa_ros.train.scratch.vqa"} <= names
    assert "lisa_ros.train" in names and "numpy" in names
    assert _forbidden(names, "lisa_ros.train.scratch") == sorted(
        ["lisa_ros.train.scratch", "lisa_ros.train.scratch.aids", "lisa_ros.train.scratch.terms",
         "lisa_ros.train.scratch.terms.LookupTerm", "lisa_ros.train.scratch.vqa"])
    assert not _forbidden(names, "lisa_ros.eval") and not _forbidden({"lisa_ros.trainer"}, "lisa_ros.train")
