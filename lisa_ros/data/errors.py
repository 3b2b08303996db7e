"""The one exception type the data layer raises on purpose.

:class:`DatasetError` is both a :class:`~lisa_ros.core.errors.LisaError` (so the CLI and the node
catch it with everything else the package raises deliberately) and a :class:`ValueError` (so
generic callers that only know the standard library still catch it).
"""
from lisa_ros.core.errors import LisaError

__all__ = ["DatasetError"]


class DatasetError(LisaError, ValueError):
    """A dataset sample that cannot be read or written: missing image or JSON, malformed JSON,
    a polygon outside the image, [SEG] count not matching the target groups, etc.

    The message always names the offending file.
    """
