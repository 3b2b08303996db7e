"""Every import of the project's own code names something that exists, lazy imports included.

Much of lisa_ros imports inside functions (heavy or optional dependencies load only when used),
and the bench scripts run only by hand or on a GPU machine. An import there that a move left
behind (a module renamed, a function moved) fails only when that path runs, which for a GPU
benchmark means on the lent machine, at its cost. This test reads every Python file of the
repository with ``ast`` and checks, without running the file:

* ``from lisa_ros.X import a`` and ``import lisa_ros.X`` (relative forms resolved against the
  file's package): module X imports, and ``a`` is an attribute or a submodule of it;
* ``from sibling import a`` in ``bench/`` (scripts that import each other by file name):
  ``bench/sibling.py`` (or ``bench/probes/sibling.py``) exists and defines ``a`` at top level.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("lisa_ros", "bench", "tests", "tools", "scripts", "launch")
BENCH_DIRS = (REPO / "bench", REPO / "bench" / "probes")


def python_files() -> list[Path]:
    files = []
    for folder in SOURCE_DIRS:
        files += sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def package_of(path: Path) -> str | None:
    """Dotted package of a file under lisa_ros/ (for relative imports), else None."""
    relative = path.relative_to(REPO)
    if relative.parts[0] != "lisa_ros":
        return None
    return ".".join(relative.parts[:-1])  # a module's package; an __init__.py's is itself


def imports_in(source: str, package: str | None) -> list[tuple[int, str, list[str]]]:
    """``(line, absolute module, names)`` for each import statement of ``source``, at any depth;
    relative imports are resolved against ``package`` (skipped when it is None)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                if package is None:
                    continue
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module, [alias.name for alias in node.names if alias.name != "*"]))
    return found


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    return imports_in(path.read_text(), package_of(path))


def top_level_names(path: Path) -> set[str]:
    """Names a script defines at module level (functions, classes, assignments, imports)."""
    names = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def problem(module: str, names: list[str]) -> str | None:
    """Why ``from module import names`` would fail, or None when it would not."""
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        return f"module {module} does not import ({error})"
    is_package = hasattr(imported, "__path__")
    missing = [n for n in names if not hasattr(imported, n)
               and not (is_package and importlib.util.find_spec(f"{module}.{n}") is not None)]
    return f"{module} has no {', '.join(missing)}" if missing else None


def bench_problem(module: str, names: list[str]) -> str | None:
    script = next((folder / f"{module}.py" for folder in BENCH_DIRS if (folder / f"{module}.py").is_file()), None)
    if script is None:
        return None  # not a bench script: a third-party module, judged by its own tests
    missing = sorted(set(names) - top_level_names(script))
    return f"{script.relative_to(REPO)} defines no {', '.join(missing)}" if missing else None


def test_every_import_of_project_code_resolves():
    problems, checked = [], 0
    for path in python_files():
        in_bench = path.is_relative_to(REPO / "bench")
        for line, module, names in imports_of(path):
            if module == "lisa_ros" or module.startswith("lisa_ros."):
                why = problem(module, names)
            elif in_bench and "." not in module:
                why = bench_problem(module, names)
            else:
                continue
            checked += 1
            if why:
                problems.append(f"{path.relative_to(REPO)}:{line}: {why}")
    assert checked > 300  # the walk found the project's imports (about 900 today)
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_moved_name_and_module():
    """The two ways a move breaks an import, as the check sees them."""
    assert problem("lisa_ros.core.segmenter", ["LisaSegmenter"]) is None
    assert "has no no_such_function" in problem("lisa_ros.core.segmenter", ["no_such_function"])
    assert "does not import" in problem("lisa_ros.train.no_such_module", ["anything"])
    assert bench_problem("model_stages", ["build_random_segmenter"]) is None
    assert "defines no missing_name" in bench_problem("model_stages", ["missing_name"])


@pytest.mark.parametrize("source, expected", [
    ("from .script import DemoStep\n", (1, "lisa_ros.demo.script", ["DemoStep"])),
    ("from ..core import tracking\n", (1, "lisa_ros.core", ["tracking"])),
    ("from . import run\n", (1, "lisa_ros.demo", ["run"])),
    ("def f():\n    from lisa_ros.core.masks import x\n", (2, "lisa_ros.core.masks", ["x"])),
])
def test_imports_are_found_at_any_depth_and_resolved_against_the_package(source, expected):
    assert package_of(REPO / "lisa_ros" / "demo" / "scene_camera.py") == "lisa_ros.demo"
    assert package_of(REPO / "lisa_ros" / "demo" / "__init__.py") == "lisa_ros.demo"
    assert imports_in(source, "lisa_ros.demo") == [expected]
