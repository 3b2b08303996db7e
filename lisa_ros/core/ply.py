"""Point clouds as PLY files (binary little-endian), readable by Open3D, PCL, MeshLab, CloudCompare.

Layout written by :func:`write_ply`::

    ply
    format binary_little_endian 1.0
    comment frame: camera optical frame (x right, y down, z forward), metres
    element vertex N
    property float x
    property float y
    property float z
    property uint label          (only when labels are given)
    end_header
    N records of 12 (or 16) bytes: x, y, z as float32 [, label as uint32], little-endian
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_ply", "read_ply"]

_HEADER_END = b"end_header\n"
_MAX_HEADER_BYTES = 4096


def write_ply(path: str | Path, points: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write ``points`` (``[N, 3]``, metres, optical frame) and optional per-point ``labels``
    (``[N]`` unsigned, e.g. object index + 1). Returns the path."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(points) or (labels.size and labels.min() < 0):
            raise ValueError(f"labels must be {len(points)} non-negative integers, got {labels.shape}")
        fields.append(("label", "<u4"))
    records = np.empty(len(points), dtype=fields)
    records["x"], records["y"], records["z"] = points.T
    if labels is not None:
        records["label"] = labels
    header = [
        "ply", "format binary_little_endian 1.0",
        "comment frame: camera optical frame (x right, y down, z forward), metres",
        f"element vertex {len(points)}", "property float x", "property float y", "property float z",
    ]
    if labels is not None:
        header.append("property uint label")
    path = Path(path)
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii") + _HEADER_END)
        f.write(records.tobytes())
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a file written by :func:`write_ply`: ``(points float32 [N, 3], labels uint32 [N] or None)``.

    :raises ValueError: not that layout.
    """
    data = Path(path).read_bytes()
    end = data.find(_HEADER_END, 0, _MAX_HEADER_BYTES)
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError(f"{path}: not a PLY file with a header")
    lines = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise ValueError(f"{path}: only binary little-endian PLY is read here")
    count = next((int(line.split()[2]) for line in lines if line.startswith("element vertex ")), None)
    properties = [line.split()[2] for line in lines if line.startswith("property ")]
    if count is None or properties not in (["x", "y", "z"], ["x", "y", "z", "label"]):
        raise ValueError(f"{path}: expected vertices with x, y, z [, label], got {properties}")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("label", "<u4")] if len(properties) == 4 else [])
    records = np.frombuffer(data, dtype=fields, count=count, offset=end + len(_HEADER_END))
    points = np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float32)
    return points, (records["label"].astype(np.uint32) if len(properties) == 4 else None)
