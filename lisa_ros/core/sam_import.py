"""Import segment-anything's modeling modules without its package ``__init__``.

``segment_anything/__init__.py`` imports the predictor and the automatic mask generator, which
import torchvision. torchvision is deliberately absent from our environments (its PyPI wheel
breaks beside the CPU torch build), yet ``segment_anything.modeling`` needs only torch. When
torchvision is missing we register the package as a bare namespace so that its submodules can
be imported without running that ``__init__``.
"""

import importlib
import importlib.util
import sys
import types

__all__ = ["sam_modeling"]


def sam_modeling() -> types.ModuleType:
    """Return the ``segment_anything.modeling`` module (Sam, ImageEncoderViT, PromptEncoder, ...)."""
    if "segment_anything.modeling" in sys.modules:
        return sys.modules["segment_anything.modeling"]
    if "segment_anything" not in sys.modules and importlib.util.find_spec("torchvision") is None:
        spec = importlib.util.find_spec("segment_anything")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("segment-anything is not installed: pip install segment-anything")
        package = types.ModuleType("segment_anything")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["segment_anything"] = package
    return importlib.import_module("segment_anything.modeling")
