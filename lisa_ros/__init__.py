"""lisa_ros: reasoning segmentation (LISA) for ROS 2 robots.

The source tree and the installed ROS package share the name ``lisa_ros``: the generated
interfaces (``lisa_ros.msg``, ``lisa_ros.srv``, ``lisa_ros.action``) live in the installed copy,
our Python code in both. ``extend_path`` lets one import see both halves whichever copy comes
first on ``sys.path`` (running from the repository root, pytest, ``python -m``).
"""
import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
