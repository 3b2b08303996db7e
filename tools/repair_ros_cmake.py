#!/usr/bin/env python3
"""Point the ROS wheels' exported CMake files at this interpreter (idempotent).

The PyPI ROS 2 wheels were built in a manylinux image and hard-code its Python include
directories in ``$VENV/share/**/*.cmake`` (e.g. ``INTERFACE_INCLUDE_DIRECTORIES`` of every
``*__rosidl_generator_py`` target). Building our own interfaces against them then fails to find
``Python.h`` / numpy headers. This rewrites those two paths to the running interpreter's include
directory and ``numpy.get_include()``.

Usage: ``$VENV/bin/python tools/repair_ros_cmake.py [PREFIX]`` (PREFIX defaults to ``sys.prefix``).
Prints how many files it changed; running it again changes nothing.
"""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

# Strings baked into the wheels (manylinux build image, CPython 3.11).
BUILD_PYTHON_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
BUILD_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def replacements() -> dict[str, str]:
    """Map of wheel build paths -> this interpreter's paths."""
    import numpy

    python_include = sysconfig.get_paths()["include"]
    if not Path(python_include, "Python.h").is_file():
        raise SystemExit(f"repair_ros_cmake: no Python.h in {python_include}; install the Python headers")
    return {BUILD_NUMPY_INCLUDE: numpy.get_include(), BUILD_PYTHON_INCLUDE: python_include}


def repair(prefix: Path) -> list[Path]:
    """Rewrite the build paths in ``prefix/share/**/*.cmake``; return the files changed."""
    subst = replacements()
    changed = []
    for path in sorted((prefix / "share").rglob("*.cmake")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new = text
        # Longest key first: the numpy path does not contain the include path, but be safe.
        for old in sorted(subst, key=len, reverse=True):
            new = new.replace(old, subst[old])
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prefix = Path(argv[0]) if argv else Path(sys.prefix)
    if not (prefix / "share").is_dir():
        print(f"repair_ros_cmake: {prefix}/share does not exist", file=sys.stderr)
        return 1
    changed = repair(prefix)
    print(f"repair_ros_cmake: {len(changed)} file(s) changed under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main())
