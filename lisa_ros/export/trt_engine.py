"""TensorRT 10: build an engine from an exported ONNX file, and run one with torch CUDA tensors.

UNTESTED: written against the TensorRT 10 Python API (``build_serialized_network``,
``execute_async_v3``, ``set_tensor_address``) but never executed: neither the project machines
nor the lent GPU machine have TensorRT. Tests skip with that reason; ``lisa-export --verify``
checks an engine against torch wherever TensorRT exists.

Engines are specific to the GPU model and TensorRT version that built them: build them on the
robot (``lisa-export --tensorrt``), not elsewhere.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["tensorrt_unavailable", "build_engine", "TensorRTEngine", "DEFAULT_MAX_PROMPTS"]

# Largest K of the decoder engine's optimisation profile; larger K runs in chunks.
DEFAULT_MAX_PROMPTS = 16


def tensorrt_unavailable() -> str | None:
    """Why TensorRT cannot run here (``None`` when it can)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "tensorrt not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU"
    return None


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    fp16: bool = False,
    max_prompts: int = DEFAULT_MAX_PROMPTS,
    opt_prompts: int = 3,
    workspace_gib: float = 4.0,
) -> dict:
    """Build and save a TensorRT engine from ``onnx_path``.

    Dynamic axes (the decoder's K) get one optimisation profile: 1 / ``opt_prompts`` /
    ``max_prompts``. Inputs and outputs stay float32 even with ``fp16`` (only the layers run
    in half precision).

    Returns:
        facts for the manifest record (precision, profile, TensorRT version).
    Raises:
        RuntimeError: the parser or the builder failed (their messages included).
    """
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # reads external data beside the file
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    dynamic = {}
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shape = list(tensor.shape)
        if -1 in shape:
            low = [1 if d == -1 else d for d in shape]
            opt = [min(opt_prompts, max_prompts) if d == -1 else d for d in shape]
            high = [max_prompts if d == -1 else d for d in shape]
            profile.set_shape(tensor.name, low, opt, high)
            dynamic[tensor.name] = {"min": low, "opt": opt, "max": high}
    if dynamic:
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log)")
    Path(engine_path).write_bytes(bytes(serialized))
    return {
        "precision": "fp16" if fp16 else "fp32",
        "profile": dynamic,
        "max_prompts": max_prompts if dynamic else None,
        "tensorrt": trt.__version__,
        "gpu": _gpu_name(),
    }


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""


class TensorRTEngine:
    """A deserialised engine run on torch's current CUDA stream (UNTESTED, see module doc).

    Args:
        path: the ``.engine`` file.
        device: where outputs go (the model's device); the engine runs on ``cuda`` (the
            model's GPU when the model is on one, else GPU 0).
    """

    backend = "tensorrt"

    def __init__(self, path: str | Path, device: str = "cuda"):
        import tensorrt as trt
        import torch

        self.path = Path(path)
        self.device = str(device)
        self.gpu = torch.device(self.device if self.device.startswith("cuda") else "cuda:0")
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self.gpu):
            runtime = trt.Runtime(self._logger)
            self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise RuntimeError(f"TensorRT could not deserialise {path} (built by another TensorRT or GPU?)")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.max_batch = None
        for name in self.input_names:
            if -1 in tuple(self.engine.get_tensor_shape(name)):
                self.max_batch = int(self.engine.get_tensor_profile_shape(name, 0)[2][0])
        self._dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}

    def run(self, tensors) -> list:
        import torch

        stream = torch.cuda.current_stream(self.gpu)
        keep = []  # inputs must stay alive until the stream has consumed them
        for name, tensor in zip(self.input_names, tensors):
            value = tensor.detach().to(self.gpu, self._dtypes[name]).contiguous()
            keep.append(value)
            self.context.set_input_shape(name, tuple(value.shape))
            self.context.set_tensor_address(name, value.data_ptr())
        outputs = []
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            value = torch.empty(shape, dtype=self._dtypes[name], device=self.gpu)
            self.context.set_tensor_address(name, value.data_ptr())
            outputs.append(value)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution of {self.path.name} failed")
        # Later torch work is queued on the same stream, so no synchronisation is needed here.
        return [value.float().to(self.device) for value in outputs]

    def describe(self) -> str:
        return f"tensorrt {self.path.name} on {self.gpu}"


def _torch_dtype(trt, dtype):
    import torch

    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    return table[dtype]
