"""The ROS-free half of lisa_ros stays ROS-free (docs/architecture.md: only lisa_ros/node imports rclpy).

Two checks over lisa_ros/{core,data,eval,train,export}:
- dynamic: in a child interpreter where every ROS module is made unimportable, each module of
  those packages (walked with pkgutil) imports;
- static: no file there imports rclpy, a message/interface package or lisa_ros.msg/srv/action/node,
  not even inside a function (a lazy import would still tie the library to ROS).
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ROS_FREE_PACKAGES = ("core", "data", "eval", "train", "export")

# Import names that mean "needs ROS". Top-level names and lisa_ros submodules.
ROS_TOP_LEVEL = {"rclpy", "rcl", "rclpy_message_converter", "cv_bridge", "launch", "launch_ros",
                 "message_filters", "tf2_ros", "ament_index_python", "rosidl_runtime_py",
                 "rosidl_parser", "rosidl_generator_py"}
ROS_SUFFIXES = ("_msgs", "_interfaces", "_srvs")
LISA_ROS_ONLY = {"lisa_ros.msg", "lisa_ros.srv", "lisa_ros.action", "lisa_ros.node"}


def is_ros_module(name: str) -> bool:
    top = name.split(".")[0]
    if top in ROS_TOP_LEVEL or top.endswith(ROS_SUFFIXES) or top.startswith(("rcl_", "rmw", "rosidl_")):
        return True
    return any(name == m or name.startswith(m + ".") for m in LISA_ROS_ONLY)


# Runs in the child: block ROS imports, then import every module of the ROS-free packages.
CHILD = r'''
import importlib, importlib.abc, json, pkgutil, sys, traceback

IS_ROS = {is_ros_source}

class BlockROS(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if IS_ROS(name):
            raise ImportError(f"{{name}} is blocked: this module must not need ROS")
        return None

for name in list(sys.modules):  # nothing ROS may be imported yet; drop it if it is
    if IS_ROS(name):
        del sys.modules[name]
sys.meta_path.insert(0, BlockROS())

import lisa_ros
results = {{}}
for pkg in {packages!r}:
    full = "lisa_ros." + pkg
    try:
        mod = importlib.import_module(full)
    except Exception:
        results[full] = traceback.format_exc()
        continue
    results[full] = None
    errors = {{}}
    def onerror(name):
        errors[name] = traceback.format_exc()
    for info in pkgutil.walk_packages(mod.__path__, full + ".", onerror=onerror):
        try:
            importlib.import_module(info.name)
            results[info.name] = None
        except Exception:
            results[info.name] = traceback.format_exc()
    results.update(errors)
results["__file__"] = lisa_ros.__path__[0]
print("RESULTS" + json.dumps(results))
'''


def _is_ros_source() -> str:
    return (f"(lambda name: (lambda top: top in {sorted(ROS_TOP_LEVEL)!r} or top.endswith({ROS_SUFFIXES!r})"
            f" or top.startswith(('rcl_', 'rmw', 'rosidl_')))(name.split('.')[0])"
            f" or any(name == m or name.startswith(m + '.') for m in {sorted(LISA_ROS_ONLY)!r}))")


def test_ros_free_packages_import_without_ros():
    code = CHILD.format(is_ros_source=_is_ros_source(), packages=ROS_FREE_PACKAGES)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULTS"))
    results = json.loads(line[len("RESULTS"):])
    # the child imported the repository's sources, not only the installed copy
    assert Path(results.pop("__file__")).resolve() == (REPO_ROOT / "lisa_ros").resolve()
    for pkg in ROS_FREE_PACKAGES:
        assert f"lisa_ros.{pkg}" in results
    failures = {name: tb for name, tb in results.items() if tb}
    assert not failures, "\n\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


def test_the_blocker_blocks():
    """Guard the guard: the child's blocker really makes rclpy and lisa_ros.msg unimportable."""
    code = CHILD.format(is_ros_source=_is_ros_source(), packages=()) + (
        "\nfor name in ('rclpy', 'lisa_ros.msg', 'std_msgs.msg', 'sensor_msgs'):\n"
        "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass\n"
        "    else:\n        raise SystemExit(name + ' was importable')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]


def _imported_names(path: Path, package: str):
    """Yield (lineno, absolute module name) for every import in ``path`` (any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from lisa_ros import msg`
                yield node.lineno, f"{module}.{alias.name}"


@pytest.mark.parametrize("pkg", ROS_FREE_PACKAGES)
def test_no_ros_imports_in_source(pkg):
    root = REPO_ROOT / "lisa_ros" / pkg
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).with_suffix("")
        package = ".".join(rel.parts[:-1])  # what a relative import in this file is relative to
        for lineno, name in _imported_names(path, package):
            if is_ros_module(name):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{lineno}: imports {name}")
    assert not offenders, "\n".join(offenders)


def test_static_check_catches_ros_imports(tmp_path):
    """Guard the guard: the AST walk sees plain, from-, relative and function-level imports."""
    src = tmp_path / "mod.py"
    src.write_text("import os\nfrom ..msg import SegmentationResult\n"
                   "def f():\n    import rclpy.node\n    from sensor_msgs.msg import Image\n"
                   "from lisa_ros import node\n")
    names = [name for _, name in _imported_names(src, "lisa_ros.core")]
    assert "lisa_ros.msg" in names and "rclpy.node" in names and "sensor_msgs.msg" in names
    assert "lisa_ros.node" in names
    assert sum(is_ros_module(n) for n in names) >= 4 and not is_ros_module("os")
