"""The LISA model core: no ROS, torch imported only where needed.

Public API (imported lazily, so ``import lisa_ros.core`` stays cheap)::

    from lisa_ros.core import LisaSegmenter, SegmentationOutput, Status, LisaError

Modules, one concern each: ``config`` (config.json), ``checkpoint`` (official file layout),
``resolve`` (model names), ``loading`` (build + load), ``tokenizer`` and ``prompt`` (4.31-exact
ids), ``preprocess`` (CLIP and SAM inputs), ``modeling`` (the network), ``generation`` and
``static_decoding`` (answers and [SEG] states), ``postprocess`` and ``results`` (masks, boxes,
phrases), ``frame_cache`` and ``streams`` (reusing and overlapping image features),
``quantization``, ``sam_builder`` / ``sam_memory`` / ``sam_import`` (SAM), ``saving`` and
``presets`` (creating models), ``overlay`` (pictures), ``validation`` and ``errors``,
``tracking`` (continuous mode: re-prompting new frames with an answer's prompts, and when to
ask the LLM again).
"""

import importlib

__all__ = [
    "LisaSegmenter",
    "SegmentationOutput",
    "MaskResult",
    "Status",
    "LisaError",
    "InvalidInputError",
    "CheckpointError",
    "ModelNotAvailableError",
    "RequeryRule",
    "requery_reason",
]

_HOMES = {
    "LisaSegmenter": "segmenter",
    "SegmentationOutput": "results",
    "MaskResult": "results",
    "Status": "results",
    "LisaError": "errors",
    "InvalidInputError": "errors",
    "CheckpointError": "errors",
    "ModelNotAvailableError": "errors",
    "RequeryRule": "tracking",
    "requery_reason": "tracking",
}


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
