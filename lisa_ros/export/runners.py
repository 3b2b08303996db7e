"""Runtime stand-ins for SAM's decoder and encoder, backed by an exported artifact.

A runner has the call signature of the torch stage it replaces in
:class:`lisa_ros.core.segmenter.LisaSegmenter`:

* decoder: ``(image_embedding [1, C, g, g], prompts [K, C]) -> (low_res [K, 1, 4g, 4g], iou [K, 1])``;
* encoder: ``(pixels float32 [1, 3, S, S]) -> image embedding [1, C, g, g]``.

Inputs may be any float dtype on any device; outputs are float32 on the runner's ``device``
(the model's). The engines behind them (:class:`OrtEngine`, ``trt_engine.TensorRTEngine``)
map a list of torch tensors to a list of torch tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OrtEngine", "DecoderRunner", "EncoderRunner", "ort_providers", "ORT_THREADS_ENV"]

# Environment override of onnxruntime's intra-op threads (0: onnxruntime's default, one per
# physical core). A robot usually wants fewer, to leave cores to the rest of the stack.
ORT_THREADS_ENV = "LISA_ROS_ORT_THREADS"


def ort_providers(device: str) -> tuple[list[str], str | None]:
    """onnxruntime execution providers for a model on ``device``, and why that is impossible.

    CUDA models get ``CUDAExecutionProvider`` (then CPU for unsupported nodes); running a
    CUDA model's SAM on the CPU would be orders of magnitude slower, so its absence is a
    reason to keep torch. CPU models get ``CPUExecutionProvider``.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            return [], (
                f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (providers: "
                f"{', '.join(available)}; install onnxruntime-gpu) and the model is on {device}"
            )
        index = int(str(device).partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"], None
    return ["CPUExecutionProvider"], None


class OrtEngine:
    """An onnxruntime session with torch tensors at its boundary (numpy float32 inside).

    Args:
        path: ONNX file.
        device: where outputs go (the model's device); picks the execution providers.
        threads: intra-op threads; default ``$LISA_ROS_ORT_THREADS`` or onnxruntime's choice.
    Raises:
        RuntimeError: the providers needed for ``device`` are unavailable.
    """

    backend = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        import onnxruntime as ort

        providers, problem = ort_providers(device)
        if problem:
            raise RuntimeError(problem)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if threads is None:
            threads = int(os.environ.get(ORT_THREADS_ENV, "0") or 0)
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1  # sequential execution: one graph branch at a time
        options.log_severity_level = 3  # errors only; a node's log is no place for ORT notices
        self.path = Path(path)
        self.device = str(device)
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
        if wanted not in self.session.get_providers():
            raise RuntimeError(f"onnxruntime could not start {wanted} (got {self.session.get_providers()})")
        self.providers = self.session.get_providers()
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.max_batch = None  # any K

    def metadata(self) -> dict[str, str]:
        """The model's ``metadata_props`` (lisa_ros.* keys included)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, tensors) -> list:
        import torch

        feeds = {
            name: tensor.detach().to("cpu", torch.float32).contiguous().numpy()
            for name, tensor in zip(self.input_names, tensors)
        }
        outputs = self.session.run(self.output_names, feeds)
        return [torch.from_numpy(array).to(self.device) for array in outputs]

    def describe(self) -> str:
        return f"onnxruntime {self.path.name} on {','.join(self.providers)}"


class DecoderRunner:
    """SAM mask decoder on an engine: ``(image_embedding, prompts) -> (low_res, iou)``.

    Prompts beyond the engine's ``max_batch`` (a TensorRT profile's maximum K) are run in
    chunks; K = 0 returns empty outputs without running anything.
    """

    part = "decoder"

    def __init__(self, engine, low_res_size: int):
        self.engine = engine
        self.low_res_size = low_res_size
        self.backend = engine.backend

    def __call__(self, image_embedding, prompts):
        import torch

        count = prompts.shape[0]
        if count == 0:
            side = self.low_res_size
            return (torch.zeros((0, 1, side, side), device=self.engine.device),
                    torch.zeros((0, 1), device=self.engine.device))
        step = self.engine.max_batch or count
        pieces = [self.engine.run([image_embedding, prompts[i : i + step]]) for i in range(0, count, step)]
        if len(pieces) == 1:
            return pieces[0][0], pieces[0][1]
        return torch.cat([p[0] for p in pieces]), torch.cat([p[1] for p in pieces])

    def __repr__(self) -> str:
        return f"DecoderRunner({self.engine.describe()})"


class EncoderRunner:
    """SAM image encoder on an engine: ``pixels [1, 3, S, S] -> [1, C, g, g]``."""

    part = "encoder"

    def __init__(self, engine):
        self.engine = engine
        self.backend = engine.backend

    def __call__(self, pixels):
        return self.engine.run([pixels])[0]

    def __repr__(self) -> str:
        return f"EncoderRunner({self.engine.describe()})"
