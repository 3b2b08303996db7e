"""The ROS 2 side of lisa_ros: the only package that imports rclpy or message types.

Modules (import them directly; importing this package loads nothing):

- :mod:`~lisa_ros.node.lisa_node`: the ``lisa`` lifecycle node and ``main()`` (``lisa_node``),
  which wires the parts below; :mod:`~lisa_ros.node.process`: executor, signals, exit.
- :mod:`~lisa_ros.node.parameters` (the table; defaults in config/lisa.yaml) and
  :mod:`~lisa_ros.node.parameter_binding` (declared on the node, changes applied).
- :mod:`~lisa_ros.node.inputs`: subscriptions (camera frames, instructions).
- :mod:`~lisa_ros.node.pipeline`: request intake, the inference worker, in-order publication;
  :mod:`~lisa_ros.node.frames`, :mod:`~lisa_ros.node.requests`: frame buffer and pairing,
  request queue and result sequencer (no rclpy).
- :mod:`~lisa_ros.node.outputs`: the publishers; :mod:`~lisa_ros.node.front_ends`: the
  ``segment`` service and ``reason_segment`` action.
- :mod:`~lisa_ros.node.conversions`: pure message <-> array/result conversions.
- :mod:`~lisa_ros.node.diagnostics`: counters and the ``/diagnostics`` status.

The demo's synthetic camera is not part of the node: :mod:`lisa_ros.demo.scene_camera`.
"""
