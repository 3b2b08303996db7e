"""The node's counters and its ``/diagnostics`` message (diagnostic_msgs/DiagnosticArray).

:class:`NodeStats` is updated from the callbacks and the worker (thread-safe, bounded
windows); :func:`build_status` turns a snapshot into one ``DiagnosticStatus`` named
``"<node>: model"`` (``lisa: model``, or ``<namespace>/lisa: model``): OK normally, WARN on a backend fallback or an error in the last
:data:`RECENT_ERROR_S` seconds, ERROR when the model failed to load.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

__all__ = ["NodeStats", "build_status", "STATUS_NAMES", "RECENT_ERROR_S", "LATENCY_WINDOW"]

STATUS_NAMES = ("OK", "NO_TARGET", "INVALID_INPUT", "DROPPED", "ERROR")
RECENT_ERROR_S = 60.0  # an ERROR result makes the status WARN for this long
LATENCY_WINDOW = 100   # results the median latency is taken over
CALLBACK_WINDOW = 1000  # image callbacks the median callback time is taken over


def _median(values) -> float:
    return float(statistics.median(values)) if values else 0.0


class NodeStats:
    """Counters of one node. Cheap enough for the image callback (one lock-free append)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.model_state = "unconfigured"  # unconfigured | loading | ready | error
        self.model_error = ""
        self.lifecycle = "unconfigured"
        self.frames_used = 0
        self.answered = dict.fromkeys(STATUS_NAMES, 0)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.callback_s: deque[float] = deque(maxlen=CALLBACK_WINDOW)
        self.last_error = ""
        self.last_error_time = -1e18
        self.frame_age_last_ms = 0.0
        self.frame_age_max_ms = 0.0
        self.out_of_order = 0
        self.unpublished = 0  # results that found the publishers inactive

    def result(self, status: int, latency_ms: float, error: str = "") -> None:
        with self._lock:
            name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
            self.answered[name] = self.answered.get(name, 0) + 1
            if status in (0, 1):
                self.latencies.append(latency_ms)
            if status == 4:
                self.last_error = error
                self.last_error_time = time.monotonic()

    def frame_used(self, age_s: float) -> None:
        with self._lock:
            self.frames_used += 1
            self.frame_age_last_ms = age_s * 1000.0
            self.frame_age_max_ms = max(self.frame_age_max_ms, self.frame_age_last_ms)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "model_state": self.model_state,
                "model_error": self.model_error,
                "lifecycle": self.lifecycle,
                "frames_used": self.frames_used,
                "answered": dict(self.answered),
                "latency_last_ms": self.latencies[-1] if self.latencies else 0.0,
                "latency_median_ms": _median(self.latencies),
                "image_callback_ms_median": _median(list(self.callback_s)) * 1000.0,
                "last_error": self.last_error,
                "recent_error": time.monotonic() - self.last_error_time < RECENT_ERROR_S,
                "frame_age_last_ms": self.frame_age_last_ms,
                "frame_age_max_ms": self.frame_age_max_ms,
                "out_of_order": self.out_of_order,
                "unpublished": self.unpublished,
            }


def build_status(snapshot: dict, *, model: str, device: str, precision: str, backends: dict,
                 backend_warnings: list[str], queue_depth: int, frames_received: int,
                 hardware_id: str = "", depth_received: int = 0,
                 extra: dict[str, str] | None = None, node_name: str = "lisa") -> DiagnosticStatus:
    """The ``DiagnosticStatus`` of a :meth:`NodeStats.snapshot` plus the model's settings."""
    answered = snapshot["answered"]
    if snapshot["model_state"] == "error":
        level, message = DiagnosticStatus.ERROR, f"model failed to load: {snapshot['model_error']}"
    elif backend_warnings:
        level, message = DiagnosticStatus.WARN, f"backend fallback: {backend_warnings[-1]}"
    elif snapshot["recent_error"]:
        level, message = DiagnosticStatus.WARN, f"recent error: {snapshot['last_error']}"
    else:
        level = DiagnosticStatus.OK
        message = f"model {snapshot['model_state']}, node {snapshot['lifecycle']}"
    values = {
        "model_state": snapshot["model_state"],
        "lifecycle_state": snapshot["lifecycle"],
        "model": model,
        "device": device,
        "precision": precision,
        "encoder_backend": backends.get("encoder", ""),
        "decoder_backend": backends.get("decoder", ""),
        "backend_warnings": " | ".join(backend_warnings),
        "queue_depth": str(queue_depth),
        "frames_received": str(frames_received),
        "depth_images_received": str(depth_received),
        "frames_used": str(snapshot["frames_used"]),
        **{f"answered_{name.lower()}": str(count) for name, count in answered.items()},
        "drops": str(answered.get("DROPPED", 0)),
        "errors": str(answered.get("ERROR", 0)),
        "last_error": snapshot["last_error"],
        "latency_last_ms": f"{snapshot['latency_last_ms']:.1f}",
        "latency_median_ms": f"{snapshot['latency_median_ms']:.1f}",
        "frame_age_last_ms": f"{snapshot['frame_age_last_ms']:.1f}",
        "frame_age_max_ms": f"{snapshot['frame_age_max_ms']:.1f}",
        "image_callback_ms_median": f"{snapshot['image_callback_ms_median']:.4f}",
        "results_out_of_order": str(snapshot["out_of_order"]),
        "results_unpublished": str(snapshot["unpublished"]),
    }
    values.update(extra or {})  # e.g. continuous mode's state
    if snapshot["model_error"]:
        values["model_error"] = snapshot["model_error"]
    return DiagnosticStatus(
        level=level, name=f"{node_name}: model", message=message[:500], hardware_id=hardware_id,
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )
