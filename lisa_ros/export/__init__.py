"""Offline export of LISA's SAM parts to ONNX / TensorRT, and the runtime backends that load them.

* :mod:`.graphs`: traceable modules (decoder with the dense prompt and PE folded in; encoder);
* :mod:`.onnx_export`, :mod:`.trt_engine`, :mod:`.exporter`: write an export folder
  (``lisa-export``); :mod:`.artifacts`: its layout and ``manifest.json``;
* :mod:`.hashing`: the weights fingerprint each artifact records;
* :mod:`.backends`: :func:`~.backends.attach_backends` and :func:`~.backends.make_backend`, which
  hand runners to a loaded ``LisaSegmenter`` (the core never imports this package);
  :mod:`.runners`: the callables that replace the torch stages;
* :mod:`.verify`: parity of every artifact with the torch path.

Importing this package is cheap: torch, onnx, onnxruntime and tensorrt are imported by the
modules and functions that need them.
"""
