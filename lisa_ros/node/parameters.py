"""The node's parameters: one table (name, type, when it applies, description, check).

Defaults live only in ``config/lisa.yaml`` (a test checks that the table and the file hold the
same names). The node declares every row with the value from that base file, so ROS
parameter overrides (``--ros-args --params-file my.yaml`` with any subset of the keys,
``-p model:=...``, launch arguments) win over it, and a node started without any params file
still has every value. Where the base file is found: :func:`default_params_file`.

When a value takes effect (column ``applies``):

* ``configure``: read when the model is loaded (lifecycle configure); change it, then
  cleanup + configure to reload;
* ``activate``: read when subscriptions are created (lifecycle activate);
* ``runtime``: used from the next request on;
* ``startup``: read once when the node starts.

Every change is validated (the node's on-set callback calls :func:`check_value`), and
invalid values are rejected with the reason.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["ParamSpec", "PARAMETERS", "PARAMS_BY_NAME", "check_value", "default_params_file",
           "load_params_file", "flatten", "PARAMS_FILE_ENV"]

# Environment variable naming the base parameter file (overrides the search below).
PARAMS_FILE_ENV = "LISA_ROS_PARAMS_FILE"

MAX_QUEUE_LIMIT = 32  # upper bound of `max_queue` (the executor sizes its thread pool from it)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``type`` is the Python type of its value (str, int, float, bool)."""

    name: str
    type: type
    applies: str
    description: str
    check: Callable[[Any], str | None] | None = None


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value):
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _int_range(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value):
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _positive_seconds(maximum: float, allow_zero: bool = False) -> Callable[[Any], str | None]:
    def check(value):
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero) or value > maximum:
            low = "0" if allow_zero else "greater than 0"
            return f"must be {low} and at most {maximum:g} seconds"
        return None

    return check


def _float_range(low: float, high: float, unit: str) -> Callable[[Any], str | None]:
    def check(value):
        if not math.isfinite(value) or not low <= value <= high:
            return f"must be between {low:g} and {high:g} {unit}"
        return None

    return check


def _device(value) -> str | None:
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return None
    return "must be auto, cpu, cuda or cuda:N"


def _not_empty(value) -> str | None:
    return None if value.strip() else "must not be empty"


def _short_text(value) -> str | None:
    return None if len(value) <= 500 else "must be at most 500 characters"


BACKENDS = ("torch", "onnxruntime", "tensorrt")

PARAMETERS: tuple[ParamSpec, ...] = (
    # -- the model (configure) ---------------------------------------------------------------
    ParamSpec("model", str, "configure",
              "LISA checkpoint: 'lisa-tiny' (the bundled demo model), a local folder in the official "
              "layout, or a Hugging Face hub id such as xinlai/LISA-7B-v1 (from the local cache; "
              "allow_download to fetch it).",
              _not_empty),
    ParamSpec("clip", str, "configure",
              "CLIP vision tower folder or hub id; empty: the checkpoint's own vision_tower "
              "(official checkpoints name openai/clip-vit-large-patch14)."),
    ParamSpec("allow_download", bool, "configure",
              "Download a hub id (model or CLIP) that is missing from the local Hugging Face cache; false: "
              "only local folders and cached hub ids load, and a missing one fails configure naming it."),
    ParamSpec("revision", str, "configure",
              "Branch, tag or commit of the model's hub id (pin a commit for reproducible robots); empty: main.",
              _short_text),
    ParamSpec("clip_revision", str, "configure",
              "Branch, tag or commit of the CLIP tower's hub id; empty: main.", _short_text),
    ParamSpec("precision", str, "configure",
              "Weights/activations: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16.",
              _one_of("auto", "fp32", "bf16", "fp16")),
    ParamSpec("quantization", str, "configure",
              "LLM linear layers: none, 4bit (NF4) or 8bit (LLM.int8), via bitsandbytes.",
              _one_of("none", "4bit", "8bit")),
    ParamSpec("device", str, "configure", "Torch device: auto (cuda when available), cpu, cuda or cuda:N.",
              _device),
    ParamSpec("decoder_backend", str, "configure",
              "SAM mask decoder runtime: torch, onnxruntime or tensorrt (artifacts from export_dir; a "
              "missing artifact falls back to torch with a diagnostics warning).", _one_of(*BACKENDS)),
    ParamSpec("encoder_backend", str, "configure",
              "SAM image encoder runtime: torch, onnxruntime or tensorrt (as decoder_backend).",
              _one_of(*BACKENDS)),
    ParamSpec("export_dir", str, "configure",
              "Folder of exported ONNX/TensorRT artifacts (lisa-export) for the non-torch backends; "
              "empty: none."),
    # -- generation and input limits (runtime) ------------------------------------------------
    ParamSpec("max_new_tokens", int, "runtime", "Cap on generated answer tokens per request (1..4096).",
              _int_range(1, 4096)),
    ParamSpec("prompt_suffix", str, "runtime",
              "Appended to each instruction unless it already ends with it (LISA answers with a mask far "
              "more reliably with it); empty: instructions are sent verbatim.", _short_text),
    ParamSpec("max_image_pixels", int, "runtime",
              "Largest accepted image (width x height); larger frames are answered INVALID_INPUT.",
              _int_range(1, 100_000_000)),
    ParamSpec("max_instruction_chars", int, "runtime",
              "Longest accepted instruction in characters; longer ones are answered INVALID_INPUT.",
              _int_range(1, 1_000_000)),
    # -- inputs (activate) ---------------------------------------------------------------------
    ParamSpec("compressed", bool, "activate",
              "Subscribe to image/compressed (sensor_msgs/CompressedImage, JPEG/PNG) instead of image."),
    ParamSpec("image_qos.reliability", str, "activate",
              "Reliability of the image subscription: best_effort (sensor data) or reliable.",
              _one_of("best_effort", "reliable")),
    ParamSpec("image_qos.depth", int, "activate",
              "Keep-last depth of the image subscription (1 = only the newest frame is ever queued).",
              _int_range(1, 100)),
    # -- pairing instructions with frames (runtime) ------------------------------------------
    ParamSpec("pairing", str, "runtime",
              "Which camera frame answers a topic instruction: latest (the newest frame when the "
              "instruction arrives) or next (the first frame received after it).", _one_of("latest", "next")),
    ParamSpec("pairing_timeout", float, "runtime",
              "Seconds an instruction waits for a frame (pairing next, or no frame yet) before it is "
              "answered INVALID_INPUT.", _positive_seconds(3600.0)),
    ParamSpec("frame_buffer", int, "runtime",
              "Frames kept (references to the received messages, with receipt times) for pairing and "
              "frame-age checks.", _int_range(1, 1000)),
    ParamSpec("max_frame_age", float, "runtime",
              "A frame older than this many seconds (since receipt) when inference starts is not used: "
              "the request is answered INVALID_INPUT 'no recent frame'. 0 disables the check.",
              _positive_seconds(3600.0, allow_zero=True)),
    ParamSpec("max_queue", int, "runtime",
              f"Requests (topic, service and action together) waiting for the model besides the one "
              f"running; when full, new ones are answered DROPPED at once (1..{MAX_QUEUE_LIMIT}).",
              _int_range(1, MAX_QUEUE_LIMIT)),
    ParamSpec("service_timeout", float, "runtime",
              "Seconds a segment service call waits for its result before it returns ERROR.",
              _positive_seconds(86400.0)),
    # -- outputs (runtime) ---------------------------------------------------------------------
    ParamSpec("min_component_area", int, "runtime",
              "Pixels: drop connected parts of each mask smaller than this before boxes and masks are "
              "published; the largest part of a mask always stays (0 = off, the official output; "
              "0..100000000).",
              _int_range(0, 100_000_000)),
    ParamSpec("publish_overlay", bool, "runtime",
              "Publish the overlay image (rgb8, masks and boxes drawn over the source) for rviz."),
    ParamSpec("diagnostics_period", float, "runtime", "Seconds between /diagnostics messages.",
              _positive_seconds(60.0)),
    # -- 3D from an aligned depth image -----------------------------------------------------------
    ParamSpec("depth.enabled", bool, "activate",
              "Subscribe to depth (sensor_msgs/Image registered to the colour camera: 32FC1 metres or 16UC1 "
              "millimetres) and depth/camera_info, and give each mask its 3D (centroid, size, points) whenever "
              "a depth image pairs with the colour frame; false: 2D only, depth in requests is ignored too."),
    ParamSpec("depth_qos.reliability", str, "activate",
              "Reliability of the depth and camera_info subscriptions: best_effort (sensor data) or reliable.",
              _one_of("best_effort", "reliable")),
    ParamSpec("depth_qos.depth", int, "activate", "Keep-last depth of the depth and camera_info subscriptions.",
              _int_range(1, 100)),
    ParamSpec("depth.pairing_tolerance", float, "runtime",
              "Seconds between a colour frame's stamp and the nearest depth image's stamp for the two to pair; "
              "farther apart, the result has no 3D (status NO_DEPTH with the gap).", _positive_seconds(10.0)),
    ParamSpec("depth.buffer", int, "runtime",
              "Depth images (and camera infos) kept for pairing, the newest.", _int_range(1, 1000)),
    ParamSpec("depth.erode_px", int, "runtime",
              "Depth-image pixels eroded from each mask's edge before its depth is read (edges mix object and "
              "background: flying pixels); shrinks automatically on thin objects (0..50).", _int_range(0, 50)),
    ParamSpec("depth.min_depth", float, "runtime", "Depth readings nearer than this many metres are ignored.",
              _float_range(0.0, 100.0, "metres")),
    ParamSpec("depth.max_depth", float, "runtime", "Depth readings farther than this many metres are ignored.",
              _float_range(0.0, 1000.0, "metres")),
    ParamSpec("depth.min_points", int, "runtime",
              "Fewest valid depth points under a mask for it to get 3D (else TOO_FEW_POINTS; its 2D stays).",
              _int_range(1, 1_000_000)),
    # -- continuous mode (runtime) -----------------------------------------------------------------
    ParamSpec("track", bool, "runtime",
              "Continuous mode: after an OK answer to an instruction on the camera frames, keep publishing "
              "its objects on each new frame (result.tracked true) by re-prompting SAM with the answer's "
              "[SEG] prompts, without the language model; instructions always go first."),
    ParamSpec("track_rate", float, "runtime", "Most tracked results per second (0.1..100 Hz).",
              _float_range(0.1, 100.0, "Hz")),
    ParamSpec("track_max_age", float, "runtime",
              "Seconds after which a tracked answer is refreshed by the language model (track_requery).",
              _positive_seconds(3600.0)),
    ParamSpec("track_min_score", float, "runtime",
              "A tracked mask whose SAM score falls under this asks the language model again (track_requery).",
              _float_range(0.0, 1.0, "")),
    ParamSpec("track_area_factor", float, "runtime",
              "A tracked mask whose area grows or shrinks by more than this factor asks the language model "
              "again (track_requery); > 1.", _float_range(1.01, 1000.0, "")),
    ParamSpec("track_requery", bool, "runtime",
              "Ask the language model again (same instruction, newest frame) when a rule above fires; the "
              "result then has tracked false; an answer without [SEG] is published NO_TARGET and ends tracking."),
    ParamSpec("track_helper", str, "runtime",
              "Extra SAM prompt from the previous tracked mask: none, box (its box) or mask (its low-res "
              "logits); box and mask run SAM's decoder on torch.", _one_of("none", "box", "mask")),
    # -- lifecycle (startup) --------------------------------------------------------------------
    ParamSpec("autostart", bool, "startup",
              "Configure (load the model) and activate by itself at startup; false: wait for lifecycle "
              "transitions (lisa/change_state)."),
)

PARAMS_BY_NAME = {spec.name: spec for spec in PARAMETERS}


def check_value(name: str, value: Any) -> str | None:
    """Reason why ``value`` is not acceptable for parameter ``name``, or None when it is."""
    spec = PARAMS_BY_NAME.get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    expected = (int, float) if spec.type is float else spec.type
    if isinstance(value, bool) and spec.type is not bool or not isinstance(value, expected):
        return f"{name} must be of type {spec.type.__name__}, got {type(value).__name__}"
    if spec.check is not None:
        reason = spec.check(value)
        if reason:
            return f"{name} {reason} (got {value!r})"
    return None


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (ROS parameter names of a nested YAML block)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_params_file(path: str | os.PathLike, node_name: str = "lisa") -> dict[str, Any]:
    """Flattened ``ros__parameters`` of ``node_name`` from a ROS 2 parameter file.

    Sections that apply are merged in file order: ``/**``, ``node_name``, ``/node_name``,
    ``/**/node_name``.
    """
    import yaml

    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    values: dict[str, Any] = {}
    for key, section in data.items():
        if key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}") and isinstance(section, dict):
            values.update(flatten(section.get("ros__parameters", {}) or {}))
    return values


def _candidates() -> list[Path]:
    here = Path(__file__).resolve()
    found = []
    # 1. a source checkout: <repo>/lisa_ros/node/parameters.py -> <repo>/config/lisa.yaml
    repo = here.parents[2]
    if (repo / "package.xml").is_file():
        found.append(repo / "config" / "lisa.yaml")
    # 2. an ament/colcon install: <prefix>/share/lisa_ros/config/lisa.yaml
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            found.append(Path(get_package_share_directory("lisa_ros")) / "config" / "lisa.yaml")
        except (PackageNotFoundError, OSError, ValueError, LookupError):
            pass  # not installed with ament, or AMENT_PREFIX_PATH unset
    except ImportError:
        pass
    # 3. pip / `make venv`: setup.py's data_files and the cmake install put it under the prefix
    found.append(Path(sys.prefix) / "share" / "lisa_ros" / "config" / "lisa.yaml")
    return found


def default_params_file() -> Path:
    """The base parameter file (``config/lisa.yaml``) that goes with this code.

    Search order: ``$LISA_ROS_PARAMS_FILE``; the source checkout this module runs from;
    the ament share directory of ``lisa_ros`` (colcon install); ``<sys.prefix>/share/lisa_ros/
    config/lisa.yaml`` (pip install / make venv).

    :raises FileNotFoundError: none of them exists (the message lists where it looked).
    """
    explicit = os.environ.get(PARAMS_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{PARAMS_FILE_ENV}={explicit} does not exist")
        return path
    candidates = _candidates()
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "lisa_ros base parameter file config/lisa.yaml not found; looked in: "
        + ", ".join(str(p) for p in candidates)
        + f" (set {PARAMS_FILE_ENV} or reinstall the package)"
    )
