"""launch/perception.launch.py, checked without ROS 2's ``launch`` (not installable here):
it parses, names an executable that the build installs, names config files that exist and are
installed, gives every argument a description, and maps every argument to a node parameter, a
remap of one of the node's topics, or something the launch file itself uses. Also
config/lisa.rviz shows the overlay and mask topics."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from lisa_ros.node.parameters import PARAMS_BY_NAME

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "perception.launch.py"
NODE_TOPICS = {"image", "image/compressed", "instruction", "depth", "depth/camera_info"}
REQUIRED_ARGUMENTS = {"model", "clip", "params_file", "namespace", "image_topic", "instruction_topic",
                      "depth_topic", "depth_info_topic",
                      "use_rviz", "rviz_fixed_frame", "log_level", "demo"}


def _tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def _constant(name: str):
    for node in _tree().body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not defined at module level of {LAUNCH.name}")


def _calls(func_name: str) -> list[ast.Call]:
    return [n for n in ast.walk(_tree()) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == func_name]


def test_parses_and_defines_generate_launch_description():
    names = {n.name for n in _tree().body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in names


def test_arguments_have_descriptions_and_cover_the_issue():
    arguments = _constant("ARGUMENTS")
    names = [name for name, _, _ in arguments]
    assert len(names) == len(set(names))
    assert set(names) == REQUIRED_ARGUMENTS
    for name, default, description in arguments:
        assert isinstance(default, str) and len(description) > 15, name
    # DeclareLaunchArgument is built from that table, with the description
    (declare,) = _calls("DeclareLaunchArgument")
    assert {kw.arg for kw in declare.keywords} >= {"default_value", "description"}


def test_every_argument_reaches_the_node_or_the_launch():
    parameters, remaps, local = _constant("PARAMETER_ARGUMENTS"), _constant("REMAP_ARGUMENTS"), _constant(
        "LAUNCH_ARGUMENTS")
    names = {name for name, _, _ in _constant("ARGUMENTS")}
    assert set(parameters) | set(remaps) | set(local) == names
    assert not (set(parameters) & set(remaps) or set(parameters) & local or set(remaps) & local)
    for argument, parameter in parameters.items():
        assert parameter in PARAMS_BY_NAME, argument
    for argument, topic in remaps.items():
        assert topic in NODE_TOPICS, argument
    source = LAUNCH.read_text()
    for argument in local:
        assert f'get("{argument}")' in source, argument  # actually read by the launch setup


def test_node_executable_package_and_name():
    assert (_constant("PACKAGE"), _constant("EXECUTABLE"), _constant("NODE_NAME")) == ("lisa_ros", "lisa_node", "lisa")
    (node,) = _calls("LifecycleNode")
    keywords = {kw.arg: kw.value for kw in node.keywords}
    assert {"package", "executable", "name", "namespace", "parameters", "remappings"} <= set(keywords)
    assert [keywords[k].id for k in ("package", "executable", "name")] == ["PACKAGE", "EXECUTABLE", "NODE_NAME"]


def test_executable_is_installed():
    setup = (REPO / "setup.py").read_text()
    assert re.search(r'"lisa_node\s*=\s*lisa_ros\.node\.lisa_node:main"', setup)
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert re.search(r"install\(PROGRAMS\s+scripts/lisa_node\s+DESTINATION\s+lib/\$\{PROJECT_NAME\}\)", cmake)
    assert "from lisa_ros.node.lisa_node import main" in (REPO / "scripts" / "lisa_node").read_text()


def test_config_files_exist_and_are_installed():
    cmake = (REPO / "CMakeLists.txt").read_text()
    loop = re.search(r"foreach\(_dir([^)]*)\)(.*?)endforeach", cmake, re.S)
    assert loop and "config" in loop.group(1).split() and "launch" in loop.group(1).split()
    assert re.search(r"install\(DIRECTORY \$\{_dir\} DESTINATION share/\$\{PROJECT_NAME\}", loop.group(2))
    for name in ("PARAMS_FILE", "RVIZ_CONFIG", "FASTDDS_PROFILE"):
        relative = _constant(name)
        assert relative.startswith("config/") and (REPO / relative).is_file(), relative


def test_rviz_config_shows_overlay_mask_and_objects():
    config = yaml.safe_load((REPO / _constant("RVIZ_CONFIG")).read_text())
    displays = config["Visualization Manager"]["Displays"]
    shown = {(d["Class"], d["Topic"]["Value"]) for d in displays}
    assert shown == {("rviz_default_plugins/Image", "/overlay"), ("rviz_default_plugins/Image", "/mask"),
                     ("rviz_default_plugins/MarkerArray", "/objects/markers"),
                     ("rviz_default_plugins/PointCloud2", "/objects/points")}
    # every topic rviz shows is remapped into the node's namespace by the launch file
    assert {topic for _, topic in shown} == {f"/{t}" for t in _constant("RVIZ_TOPICS")}


def test_demo_module_exists():
    source = LAUNCH.read_text()
    assert '"lisa_ros.demo.scene_camera"' in source
    assert (REPO / "lisa_ros" / "demo" / "scene_camera.py").is_file()
