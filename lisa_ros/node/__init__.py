"""The ROS 2 side of lisa_ros: the only package that imports rclpy or message types.

Modules (import them directly; importing this package loads nothing):

- :mod:`~lisa_ros.node.lisa_node`: the ``lisa`` lifecycle node and ``main()`` (``lisa_node``).
- :mod:`~lisa_ros.node.pipeline`: request intake, the inference worker, in-order publication.
- :mod:`~lisa_ros.node.conversions`: pure message <-> array/result conversions.
- :mod:`~lisa_ros.node.parameters`: the parameter table (defaults in config/lisa.yaml).
- :mod:`~lisa_ros.node.frames`, :mod:`~lisa_ros.node.requests`: frame buffer and pairing,
  request queue and result sequencer (no rclpy).
- :mod:`~lisa_ros.node.diagnostics`: counters and the ``/diagnostics`` status.
- :mod:`~lisa_ros.node.demo_scene`: synthetic camera + scripted instructions (demos, launch).
"""
