"""`colcon build` of the package, as on a real ROS install, in a temporary workspace.

The package is copied (not symlinked) into ``<ws>/src/lisa_ros`` without .venv/build: CMake refuses
to export include paths that lie inside the source tree, and the venv's numpy headers would.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ros]

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
COPY_IGNORE = shutil.ignore_patterns(".venv", "build", "install", "log", ".git", "__pycache__",
                                     "*.egg-info", ".pytest_cache", "demo_out", "tests", "bench", "docs")


@pytest.fixture(scope="module")
def install_tree(tmp_path_factory) -> Path:
    colcon = VENV / "bin" / "colcon"
    if not colcon.exists():
        pytest.fail(f"colcon not found at {colcon} (requirements-ros.txt installs it)")
    ws = tmp_path_factory.mktemp("colcon_ws")
    shutil.copytree(REPO_ROOT, ws / "src" / "lisa_ros", ignore=COPY_IGNORE)
    env = dict(os.environ)
    env.update(PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(VENV),
               AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV))
    proc = subprocess.run(
        [str(colcon), "--log-base", str(ws / "log"), "build", "--base-paths", str(ws / "src"),
         "--build-base", str(ws / "build"), "--install-base", str(ws / "install"),
         "--event-handlers", "console_direct-", "console_cohesion+",
         "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-4000:]
    return ws / "install" / "lisa_ros"


def test_install_tree_layout(install_tree):
    py = install_tree / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (py / "lisa_ros" / "msg" / "__init__.py").is_file()
    assert (py / "lisa_ros" / "msg" / "_segmentation_result.py").is_file()
    assert (py / "lisa_ros" / "srv" / "_segment.py").is_file()
    assert (py / "lisa_ros" / "action" / "_reason_segment.py").is_file()
    # our code won over the generated empty __init__.py
    assert "extend_path" in (py / "lisa_ros" / "__init__.py").read_text()
    assert (py / "lisa_ros" / "core" / "__init__.py").is_file()
    assert (install_tree / "share" / "lisa_ros" / "config" / "fastdds_shm.xml").is_file()
    assert (install_tree / "share" / "lisa_ros" / "launch").is_dir() or not (REPO_ROOT / "launch").is_dir()
    assert (install_tree / "share" / "lisa_ros" / "package.xml").is_file()
    assert (install_tree / "share" / "ament_index" / "resource_index" / "packages" / "lisa_ros").is_file()
    launcher = install_tree / "lib" / "lisa_ros" / "lisa_node"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert "lisa_ros.node.lisa_node" in launcher.read_text()


def test_installed_interfaces_import(install_tree):
    """The colcon-built interfaces load from the install tree (as after `source install/setup.bash`)."""
    py = install_tree / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{py}{os.pathsep}{env.get('PYTHONPATH', '')}"
    # the ROS wheels' bootstrap sets LD_LIBRARY_PATH once; add the workspace's lib dir for the child
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    env["LD_LIBRARY_PATH"] = f"{install_tree / 'lib'}{os.pathsep}{env.get('LD_LIBRARY_PATH', '')}"
    code = ("import lisa_ros, lisa_ros.msg as m; from lisa_ros.srv import Segment; "
            "from lisa_ros.action import ReasonSegment; from rclpy.serialization import serialize_message; "
            "serialize_message(m.SegmentationResult()); print(m.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd="/", capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().startswith(str(py))
