"""Launch the lisa_ros perception node (``lisa``, a lifecycle node that configures and activates
itself), optionally rviz2 showing its overlay and mask, and optionally the synthetic demo.

    ros2 launch lisa_ros perception.launch.py model:=$HOME/models/LISA-7B-v1 \\
        clip:=$HOME/models/clip-vit-large-patch14 image_topic:=/camera/color/image_raw
    ros2 launch lisa_ros perception.launch.py demo:=true use_rviz:=true      # lisa-tiny, synthetic scenes

Parameters: the node always starts from the installed config/lisa.yaml; ``params_file`` adds a
file of your own on top (any subset of the keys), and ``model`` / ``clip`` override single keys
when given. Topic arguments become remaps of the node's relative topics. The Fast DDS
shared-memory profile (config/fastdds_shm.xml) is selected unless FASTDDS_DEFAULT_PROFILES_FILE
or FASTRTPS_DEFAULT_PROFILES_FILE is already set, under the name the distro's Fast DDS reads
(Fast DDS 2 on Humble and Jazzy: only the second; Fast DDS 3 from kilted on: the first).
"""
import os
import sys

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

PACKAGE = "lisa_ros"
EXECUTABLE = "lisa_node"
NODE_NAME = "lisa"
PARAMS_FILE = "config/lisa.yaml"
RVIZ_CONFIG = "config/lisa.rviz"
FASTDDS_PROFILE = "config/fastdds_shm.xml"
RVIZ_TOPICS = ("overlay", "mask", "objects/markers", "objects/points")  # as config/lisa.rviz names them
FASTDDS_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")  # these read only FASTRTPS_DEFAULT_PROFILES_FILE

# How each launch argument reaches the node (tests/node/test_launch_static.py checks these
# against the node's parameter table and topics).
PARAMETER_ARGUMENTS = {"model": "model", "clip": "clip"}          # argument -> node parameter
REMAP_ARGUMENTS = {"image_topic": "image", "instruction_topic": "instruction",  # argument -> topic
                   "depth_topic": "depth", "depth_info_topic": "depth/camera_info"}
LAUNCH_ARGUMENTS = {"params_file", "namespace", "use_rviz", "rviz_fixed_frame", "log_level", "demo"}  # used here

ARGUMENTS = [
    ("model", "", "LISA checkpoint: lisa-tiny, a folder, or a hub id; empty keeps the params file's value"),
    ("clip", "", "CLIP vision tower folder or hub id; empty keeps the params file's value"),
    ("params_file", "", "Extra parameter file applied over the installed config/lisa.yaml "
                        "(empty: only the installed file)"),
    ("namespace", "", "Namespace of the node and its topics"),
    ("image_topic", "image", "Camera topic the node subscribes to (sensor_msgs/Image; "
                             "<image_topic>/compressed when compressed:=true in the params)"),
    ("instruction_topic", "instruction", "Topic of the natural-language instructions (std_msgs/String)"),
    ("depth_topic", "depth", "Depth image registered to the colour camera (sensor_msgs/Image, 32FC1 m or 16UC1 mm), "
                             "e.g. /camera/camera/aligned_depth_to_color/image_raw"),
    ("depth_info_topic", "depth/camera_info", "CameraInfo of that depth image, e.g. "
                                              "/camera/camera/aligned_depth_to_color/camera_info"),
    ("use_rviz", "false", "Start rviz2 showing the overlay and mask images, and the objects' boxes and points"),
    ("rviz_fixed_frame", "camera_color_optical_frame", "rviz2's fixed frame: the colour camera's optical frame "
                                                       "(the frame_id of its images), or a frame tf connects to it"),
    ("log_level", "info", "Log level of the node (debug, info, warn, error)"),
    ("demo", "false", "Also start the synthetic camera and a scripted instruction sequence "
                      "(python -m lisa_ros.demo.scene_camera)"),
]


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _setup(context):
    share = get_package_share_directory(PACKAGE)
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    namespace = get("namespace").strip("/")
    actions = []
    if not any(name in os.environ for name in FASTDDS_PROFILE_VARIABLES):
        distro = os.environ.get("ROS_DISTRO", "")
        variables = (FASTDDS_PROFILE_VARIABLES[1:] if distro in FAST_DDS_2_DISTROS
                     else FASTDDS_PROFILE_VARIABLES[:1] if distro else FASTDDS_PROFILE_VARIABLES)
        actions += [SetEnvironmentVariable(name, os.path.join(share, FASTDDS_PROFILE)) for name in variables]

    parameters = [os.path.join(share, PARAMS_FILE)]
    if get("params_file"):
        parameters.append(get("params_file"))
    overrides = {param: get(arg) for arg, param in PARAMETER_ARGUMENTS.items() if get(arg)}
    if overrides:
        parameters.append(overrides)
    image_topic = get("image_topic")
    remappings = [(topic, get(arg)) for arg, topic in REMAP_ARGUMENTS.items()]
    remappings.append(("image/compressed", f"{image_topic}/compressed"))
    actions.append(LifecycleNode(
        package=PACKAGE, executable=EXECUTABLE, name=NODE_NAME, namespace=namespace,
        parameters=parameters, remappings=remappings, output="screen",
        arguments=["--ros-args", "--log-level", get("log_level")],
    ))

    prefix = f"/{namespace}" if namespace else ""
    if _truthy(get("use_rviz")):
        actions.append(Node(
            package="rviz2", executable="rviz2", name="lisa_rviz", output="screen",
            arguments=["-d", os.path.join(share, RVIZ_CONFIG), "-f", get("rviz_fixed_frame")],
            remappings=[(f"/{topic}", f"{prefix}/{topic}") for topic in RVIZ_TOPICS] if prefix else [],
        ))
    if _truthy(get("demo")):
        ros_args = ["--ros-args", "-r", f"image:={image_topic}", "-r", f"instruction:={get('instruction_topic')}"]
        if namespace:
            ros_args += ["-r", f"__ns:={prefix}"]
        actions.append(ExecuteProcess(
            cmd=[sys.executable, "-m", "lisa_ros.demo.scene_camera", "--loop", *ros_args],
            name="lisa_demo_scene", output="screen",
        ))
    return actions


def generate_launch_description():
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in ARGUMENTS),
        OpaqueFunction(function=_setup),
    ])
