"""package.xml is a valid format-3 manifest whose dependencies match what the package uses."""
import re
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERFACE_FILES = sorted(p for d in ("msg", "srv", "action") for p in (REPO_ROOT / d).glob(f"*.{d}"))


@pytest.fixture(scope="module")
def package():
    pkg = parse_package(str(REPO_ROOT / "package.xml"))
    pkg.validate()  # raises InvalidPackage on any format error
    return pkg


def _names(deps):
    return {dep.name for dep in deps}


def test_identity(package):
    assert package.name == "lisa_ros"
    assert package.package_format == 3
    assert package.get_build_type() == "ament_cmake"
    assert package.licenses and package.maintainers


def test_interface_package_group(package):
    assert "rosidl_interface_packages" in {g.name for g in package.member_of_groups}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= _names(
        package.buildtool_depends)
    assert "rosidl_default_runtime" in _names(package.exec_depends)


def _packages_used_by_interfaces() -> set[str]:
    """Packages named by field types (`pkg/Type`) in msg/, srv/, action/; plus builtin_interfaces
    for time/duration fields."""
    used = set()
    assert INTERFACE_FILES
    for path in INTERFACE_FILES:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line == "---":
                continue
            field_type = line.split()[0]
            match = re.match(r"([a-z][a-z0-9_]*)/[A-Z]", field_type)
            if match and match.group(1) != "lisa_ros":
                used.add(match.group(1))
            if field_type.rstrip("[]0123456789<=") in ("time", "duration"):
                used.add("builtin_interfaces")
    return used


def test_interface_dependencies_declared(package):
    used = _packages_used_by_interfaces()
    assert {"std_msgs", "sensor_msgs"} <= used  # the parser sees the fields at all
    build_and_exec = _names(package.build_depends) & _names(package.exec_depends)
    missing = used - build_and_exec
    assert not missing, f"message packages used by the interfaces but not <depend>ed: {missing}"
    # what CMakeLists.txt passes to rosidl_generate_interfaces(... DEPENDENCIES ...)
    cmake = (REPO_ROOT / "CMakeLists.txt").read_text()
    deps = re.search(r"DEPENDENCIES([^)]*)\)", cmake).group(1).split()
    assert used <= set(deps) <= build_and_exec


def test_runtime_dependencies_declared(package):
    needed = {"rclpy", "lifecycle_msgs", "diagnostic_msgs", "action_msgs", "std_msgs", "sensor_msgs",
              "python3-numpy", "python3-opencv", "launch", "launch_ros"}
    missing = needed - _names(package.exec_depends)
    assert not missing, missing


# Keys checked by hand against github ros/rosdistro (commit 8468e88, 2026-08-22): released in both
# humble/distribution.yaml and jazzy/distribution.yaml (the ROS packages), or in rosdep/python.yaml
# with one apt name for every Ubuntu release (python3-*). docs/ros-distros.md lists the versions.
# A new dependency must be checked the same way before it joins this set.
ROSDEP_KEYS_FOR_HUMBLE_AND_JAZZY = {
    "ament_cmake", "ament_cmake_python", "rosidl_default_generators", "rosidl_default_runtime",
    "builtin_interfaces", "lifecycle_msgs", "action_msgs", "std_msgs", "sensor_msgs", "geometry_msgs",
    "visualization_msgs", "diagnostic_msgs", "std_srvs", "rclpy", "ament_index_python", "cv_bridge",
    "launch", "launch_ros", "rviz2",
    "python3-numpy", "python3-opencv", "python3-yaml", "python3-pil", "python3-pytest",
}


def test_every_dependency_is_a_rosdep_key_of_humble_and_jazzy(package):
    declared = _names(package.buildtool_depends + package.build_depends + package.exec_depends
                      + package.test_depends)
    unchecked = declared - ROSDEP_KEYS_FOR_HUMBLE_AND_JAZZY
    assert not unchecked, f"check these keys against the rosdistro data first: {sorted(unchecked)}"
