"""``detections_3d`` (vision_msgs/Detection3DArray), checked against a stand-in vision_msgs.

vision_msgs is not installable here (robots have it: ros-<distro>-vision-msgs). The node
publishes detections only where the package imports, so this test generates a stand-in
package at test time from vision_msgs' published field list (4.x, Humble and Jazzy: the five
messages below), builds it with rosidl like any interface package, and runs the real node and
a subscriber with it on their path. What this proves: our conversion fills that field list and
the node publishes it over DDS; not that a future vision_msgs keeps the same fields.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from node_helpers import NodeProcess, RosClient, camera_info_msg, camera_scene, depth_msg, image_msg, node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

VENV = Path(sys.prefix)
FIELD_LIST = {  # vision_msgs 4.x (ros-perception/vision_msgs, branch ros2), as published
    "ObjectHypothesis": "string class_id\nfloat64 score\n",
    "ObjectHypothesisWithPose": "ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    "BoundingBox3D": "geometry_msgs/Pose center\ngeometry_msgs/Vector3 size\n",
    "Detection3D": "std_msgs/Header header\nObjectHypothesisWithPose[] results\nBoundingBox3D bbox\nstring id\n",
    "Detection3DArray": "std_msgs/Header header\nDetection3D[] detections\n",
}


@pytest.fixture(scope="module")
def vision_msgs_env(tmp_path_factory) -> dict:
    """An environment in which ``import vision_msgs.msg`` gives the stand-in package."""
    ws = tmp_path_factory.mktemp("vision_msgs_ws")
    pkg = ws / "src" / "vision_msgs"
    (pkg / "msg").mkdir(parents=True)
    for name, fields in FIELD_LIST.items():
        (pkg / "msg" / f"{name}.msg").write_text(fields)
    (pkg / "package.xml").write_text(textwrap.dedent("""\
        <?xml version="1.0"?>
        <package format="3">
          <name>vision_msgs</name><version>4.1.0</version>
          <description>Test stand-in generated from vision_msgs' published field list</description>
          <maintainer email="lisa-ros@example.org">lisa_ros tests</maintainer><license>Apache-2.0</license>
          <buildtool_depend>ament_cmake</buildtool_depend>
          <buildtool_depend>rosidl_default_generators</buildtool_depend>
          <depend>std_msgs</depend><depend>geometry_msgs</depend>
          <member_of_group>rosidl_interface_packages</member_of_group>
          <export><build_type>ament_cmake</build_type></export>
        </package>
        """))
    messages = " ".join(f'"msg/{name}.msg"' for name in FIELD_LIST)
    (pkg / "CMakeLists.txt").write_text(textwrap.dedent(f"""\
        cmake_minimum_required(VERSION 3.16)
        project(vision_msgs)
        find_package(ament_cmake REQUIRED)
        find_package(rosidl_default_generators REQUIRED)
        find_package(std_msgs REQUIRED)
        find_package(geometry_msgs REQUIRED)
        rosidl_generate_interfaces(${{PROJECT_NAME}} {messages} DEPENDENCIES std_msgs geometry_msgs)
        ament_package()
        """))
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV))
    proc = subprocess.run(
        [str(VENV / "bin" / "colcon"), "--log-base", str(ws / "log"), "build", "--base-paths", str(ws / "src"),
         "--build-base", str(ws / "build"), "--install-base", str(ws / "install"),
         "--event-handlers", "console_direct-", "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}",
         "-DBUILD_TESTING=OFF"], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    install = ws / "install" / "vision_msgs"
    site = install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    out = dict(os.environ, PYTHONUNBUFFERED="1")
    out["PYTHONPATH"] = f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    # the ROS wheels set LD_LIBRARY_PATH once at interpreter start; the child gets ours as well
    out.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    out["LD_LIBRARY_PATH"] = f"{install / 'lib'}{os.pathsep}{os.environ.get('LD_LIBRARY_PATH', '')}"
    return out


SUBSCRIBER = """
import json, sys, time
import rclpy
from vision_msgs.msg import Detection3DArray
rclpy.init()
node = rclpy.create_node("detections_listener", namespace=sys.argv[1])
got = []
node.create_subscription(Detection3DArray, "detections_3d", got.append, 10)
print("READY", flush=True)
deadline = time.monotonic() + 120
while not got and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
msg = got[0]
print("RESULT " + json.dumps({
    "frame_id": msg.header.frame_id, "stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec],
    "detections": [{"id": d.id, "class_id": d.results[0].hypothesis.class_id,
                    "score": d.results[0].hypothesis.score,
                    "centre": [d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.center.position.z],
                    "size": [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z]} for d in msg.detections]}), flush=True)
"""


def test_node_publishes_detections_3d_where_vision_msgs_exists(tiny_model, vision_msgs_env, tmp_path):
    namespace = "with_vision_msgs"
    node = NodeProcess(vision_msgs_env, node_params(tiny_model), tmp_path / "node.log",
                       args=("--ros-args", "-r", f"__ns:=/{namespace}"))
    listener = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, namespace], env=vision_msgs_env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = None
    try:
        node.wait_log("active:", timeout=240)
        assert listener.stdout.readline().strip() == "READY"
        client = RosClient(int(os.environ["ROS_DOMAIN_ID"]), name="detections_client", namespace=namespace)
        client.wait_connected()
        time.sleep(1.0)  # the listener's subscription matches the node's publisher
        stamp = (21, 0)
        client.depth_pub.publish(depth_msg(np.full((480, 640), 800, np.uint16), stamp, "cam"))
        client.camera_info_pub.publish(camera_info_msg(525.0, 525.0, 319.5, 239.5, 640, 480, stamp, "cam"))
        client.send_frame(image_msg(camera_scene(), stamp, "cam"))
        client.instruct("Where are the mug and the cup?")
        (result,) = client.results.wait_count(1, 60)
        output, _ = listener.communicate(timeout=120)
        line = next(l for l in output.splitlines() if l.startswith("RESULT "))
        got = json.loads(line[len("RESULT "):])
        assert got["frame_id"] == "cam" and got["stamp"] == list(stamp)
        assert [d["id"] for d in got["detections"]] == ["0", "1"]
        for index, detection in enumerate(got["detections"]):
            assert detection["class_id"] == result.phrases[index]
            assert detection["score"] == pytest.approx(result.scores[index], rel=1e-6)
            centroid, size = result.centroids[index], result.sizes[index]
            assert detection["centre"] == pytest.approx([centroid.x, centroid.y, centroid.z], rel=1e-6)
            assert detection["centre"][2] == pytest.approx(0.8, abs=1e-3)
            assert detection["size"] == pytest.approx([size.x, size.y, size.z], rel=1e-6)
        assert "vision_msgs" not in sys.modules  # this process never had it
    finally:
        if listener.poll() is None:
            listener.kill()
        if client is not None:
            client.close()
        node.stop()
