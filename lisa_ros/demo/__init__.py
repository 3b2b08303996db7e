"""The end-to-end demo (``make demo``, ``lisa-demo``, ``python -m lisa_ros.demo``).

* :mod:`.run`: starts ``lisa_node`` in its own process and drives it (``main``);
* :mod:`.scene_camera`: a synthetic camera and scripted instructions with ground truth, as a
  ROS node of its own (``python -m lisa_ros.demo.scene_camera``, also ``perception.launch.py
  demo:=true``).

The demo sits above the node: it talks to it only over ROS topics.
"""

__all__ = ["main"]


def main(argv=None) -> int:
    """``lisa-demo``: see :mod:`lisa_ros.demo.run`."""
    from .run import main as run_main

    return run_main(argv)
