"""The one family of exceptions the model core raises.

Callers (the CLI, the ROS node) catch :class:`LisaError` and turn it into a readable status;
anything else escaping the core is a bug or an environment failure (out of memory, CUDA error).
"""

__all__ = ["LisaError", "InvalidInputError", "DepthError", "CheckpointError", "ModelNotAvailableError"]


class LisaError(Exception):
    """Base class of every error the lisa_ros core raises on purpose."""


class InvalidInputError(LisaError, ValueError):
    """An image or instruction the model must not run on (wrong shape, empty, too large)."""


class DepthError(InvalidInputError):
    """A depth image or camera calibration the 3D step cannot use (unknown encoding, wrong
    dtype, zero size, a K of zeros, another aspect ratio than the masks). The text says why;
    the 2D result it came with stays valid."""


class CheckpointError(LisaError):
    """A checkpoint folder that cannot be loaded: missing files, missing tensors, wrong shapes."""


class ModelNotAvailableError(CheckpointError):
    """A hub id that cannot be resolved here (no network, or not in the local cache)."""
