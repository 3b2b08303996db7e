"""The public API of the model core: load a LISA checkpoint once, segment many instructions.

>>> seg = LisaSegmenter.from_pretrained("lisa-tiny")                      # doctest: +SKIP
>>> out = seg.segment(rgb_image, "I'm thirsty, what can I use?")          # doctest: +SKIP
>>> out.status, out.answer, [m.score for m in out.masks]                  # doctest: +SKIP
(<Status.OK: 0>, 'Sure, [SEG].', [0.93])

Stages of one call: validate input → image features (CLIP + SAM encoder, or the frame cache)
→ greedy generation with a KV cache → ``[SEG]`` states projected to SAM prompts → SAM mask
decoder → masks, scores, boxes and phrases at the source resolution.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .devices import PRECISIONS, resolve_device, resolve_precision
from .errors import InvalidInputError
from .frame_cache import FrameCache, FrameFeatures, frame_key_of
from .image_features import NO_ENCODER_TIMINGS, add_clip, encode_frame
from .loading import LoadedLisa, load_named
from .masks import decode_seg_states
from .postprocess import seg_phrases
from .prompt import SEG_PROMPT_SUFFIX, build_prompt_ids
from .results import SegmentationOutput, Status
from .speed_options import SpeedOptions
from .timing import Stopwatch
from .validation import (
    DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_INSTRUCTION_CHARS, check_context, check_image, check_instruction,
)

__all__ = ["LisaSegmenter", "PRECISIONS", "resolve_precision", "resolve_device"]

log = logging.getLogger(__name__)

StageCallback = Callable[[str], None]
TokenCallback = Callable[[int], None]


class LisaSegmenter:
    """A loaded LISA model ready to answer instructions about images.

    Build it with :meth:`from_pretrained`. Thread-safe: calls are serialised by a lock (one
    model, one GPU stream).

    Args:
        loaded: the model and its tokenizer/config from :func:`load_lisa`.
        device: torch device string the model lives on.
        max_new_tokens: default cap on generated tokens (EOS included).
        frame_cache_size: frames whose features are kept (0 disables the cache).
        max_image_pixels, max_instruction_chars: input limits (:mod:`validation`).
        prompt_suffix: appended to instructions that do not already end with it. LISA was
            trained on questions ending with "Please output segmentation mask." and answers
            with a mask far more reliably when it is there. ``""`` sends instructions verbatim
            (the official chat behaviour).
        overlap_encoders: on CUDA, run SAM's image encoder on a side stream while the answer
            is generated (no effect on the CPU).
        static_cache_length: prompt plus answer tokens of a preallocated KV cache whose decode
            step is replayed as a CUDA graph (:mod:`static_decoding`); longer requests use a
            growing cache. ``None``: 512 (LISA's training context) on CUDA, off on the CPU;
            ``0``: off.
        cuda_graphs: capture the static-cache decode step as a CUDA graph (CUDA only).
        sam_attention_chunking: without ``speed.sam_attention``: True ``chunked``, False ``official``.
        speed: the speed levers (:class:`~lisa_ros.core.speed_options.SpeedOptions`).
    """

    def __init__(
        self,
        loaded: LoadedLisa,
        device: str = "cpu",
        max_new_tokens: int = 128,
        frame_cache_size: int = 2,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        max_instruction_chars: int = DEFAULT_MAX_INSTRUCTION_CHARS,
        prompt_suffix: str = SEG_PROMPT_SUFFIX,
        overlap_encoders: bool = True,
        static_cache_length: int | None = None,
        cuda_graphs: bool = True,
        sam_attention_chunking: bool | None = None,
        speed: SpeedOptions | None = None,
    ):
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.config = loaded.config
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.max_image_pixels = int(max_image_pixels)
        self.max_instruction_chars = int(max_instruction_chars)
        self.prompt_suffix = prompt_suffix
        self.frame_cache = FrameCache(frame_cache_size)
        self.seg_token_id = self.tokenizer.seg_token_id
        self.eos_token_id = self.tokenizer.eos_id
        # Stage implementations that exported backends may replace (see install_backend).
        self.image_encoder = self.model.encode_sam
        self.mask_decoder = self.model.decode_masks
        self.backend_names = {"encoder": "torch", "decoder": "torch"}
        self.backend_warnings: list[str] = []
        self._lock = threading.Lock()
        on_cuda = str(device).startswith("cuda")
        # SAM's encoder overlaps generation on a second CUDA stream (lisa_ros.core.streams).
        # The answer's own work (CLIP, LLM, masks) runs on a high-priority stream, so the
        # encoder's kernels fill idle SMs instead of delaying the critical path.
        self._side_stream = self._main_stream = None
        if on_cuda and overlap_encoders:
            import torch

            self._side_stream = torch.cuda.Stream(device=device)
            self._main_stream = torch.cuda.Stream(device=device, priority=-1)
        if static_cache_length is None:
            static_cache_length = 512 if on_cuda else 0
        self.static_decoder = None
        if static_cache_length:
            from .static_decoding import StaticDecoder

            self.static_decoder = StaticDecoder(self.model, static_cache_length, use_graph=cuda_graphs)
        self.speed = (speed or SpeedOptions()).resolved(on_cuda, overlap_encoders, sam_attention_chunking)
        self.drafter = self.speed.install(self.model, self.tokenizer)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        clip: str | Path | None = None,
        precision: str = "auto",
        quantization: str = "none",
        device: str = "auto",
        quantize_skip: str = "default",
        allow_download: bool = False,
        revision: str | None = None,
        clip_revision: str | None = None,
        **options,
    ) -> "LisaSegmenter":
        """Load a model by name (``lisa-tiny``), folder or hub id, with SAM on torch.

        Exported SAM runtimes (onnxruntime, TensorRT) are attached afterwards by
        :func:`lisa_ros.export.backends.attach_backends` (the export layer sits above the core).

        Args:
            clip: CLIP vision tower folder or hub id; default: the checkpoint's ``vision_tower``.
            precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16`` (weights and activations).
            quantization: ``none`` | ``4bit`` (NF4) | ``8bit`` (LLM.int8) for the LLM's linears.
            device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
            quantize_skip: ``default`` (keep lm_head, mm_projector, text_hidden_fcs, SAM
                unquantized) or ``official`` (as the official code: only SAM kept).
            allow_download: fetch hub ids (model and CLIP) missing from the local Hugging Face
                cache; by default they must be cached (:mod:`lisa_ros.core.resolve`).
            revision, clip_revision: branch, tag or commit hash of the model's / CLIP's hub id.
            **options: passed to the constructor (``max_new_tokens``, ``frame_cache_size``...).
        """
        loaded, device = load_named(name_or_path, clip, precision, quantization, device, quantize_skip,
                                    allow_download, revision, clip_revision)
        return cls(loaded, device=device, **options)

    def install_backend(self, part: str, name: str, runner, warning: str | None = None) -> None:
        """Run SAM's ``part`` (``decoder`` or ``encoder``) with ``runner`` (named ``name``).

        ``runner`` None keeps (or restores) the torch module; ``warning`` (why an exported
        backend could not be used) is kept in :attr:`backend_warnings`, which the node shows
        in diagnostics. Runner signatures: see :func:`~lisa_ros.core.image_features.encode_frame`
        (encoder) and :func:`~lisa_ros.core.masks.decode_prompts` (decoder).
        """
        if part not in ("decoder", "encoder"):
            raise ValueError(f"SAM part must be decoder or encoder, not {part!r}")
        if warning:
            log.warning(warning)
            self.backend_warnings.append(warning)
        if runner is None:
            runner, name = (self.model.decode_masks if part == "decoder" else self.model.encode_sam), "torch"
        if part == "decoder":
            self.mask_decoder = runner
        else:
            self.image_encoder = runner
        self.backend_names[part] = name

    # -- stages -------------------------------------------------------------------------------

    def encode_image(self, image: np.ndarray, frame_key: str | None = None,
                     with_clip: bool = True) -> tuple[FrameFeatures, bool, dict]:
        """Image features of a frame, from the cache when the frame was seen.

        Args:
            image: ``HxWx3 uint8`` RGB.
            frame_key: identity of the frame (e.g. the node's frame counter); default: a hash
                of the pixels.
            with_clip: False: SAM's embedding is enough (a tracked frame, no CLIP run).
        Returns:
            the features, whether SAM's embedding came from the cache, and stage timings in ms.
        """
        check_image(image, self.max_image_pixels)
        key = frame_key if frame_key is not None else frame_key_of(image)
        cached = self.frame_cache.get(key)
        if cached is not None and with_clip and cached.clip_tokens is None:  # cached by a tracked frame
            cached, timings = add_clip(self.model, self.loaded.clip_preprocess, image, cached, self.device)
            self.frame_cache.put(key, cached)
            return cached, True, timings
        if cached is not None:
            return cached, True, dict(NO_ENCODER_TIMINGS)
        # The side stream only helps a torch encoder (exported runners synchronise anyway).
        overlap = self._side_stream if self.backend_names["encoder"] == "torch" else None
        features, timings = encode_frame(
            self.model, self.loaded.clip_preprocess, image, self.image_encoder, self.device, side_stream=overlap,
            with_clip=with_clip, schedule=self.speed.encoder_schedule,
            device_preprocess=self.speed.device_preprocess,
        )
        self.frame_cache.put(key, features)
        return features, False, timings

    def _format_instruction(self, instruction: str) -> str:
        suffix = self.prompt_suffix.strip()
        text = instruction.strip()
        if suffix and not text.endswith(suffix):
            text = f"{text} {suffix}"
        return text

    def _check_context(self, instruction: str, max_new_tokens: int, answer: str | None = None) -> None:
        """Refuse (InvalidInputError) a request that cannot fit the model's positions, before
        any encoder runs (tokenizing costs a fraction of a millisecond; it is repeated later)."""
        prompt = build_prompt_ids(self.tokenizer, instruction, answer=answer,
                                  use_im_start_end=self.config.mm_use_im_start_end)
        positions = len(prompt.ids) - 1 + self.model.num_image_tokens
        check_context(positions, max_new_tokens, self.config.max_position_embeddings)

    # -- public calls -------------------------------------------------------------------------

    def segment(
        self,
        image: np.ndarray,
        instruction: str,
        *,
        frame_key: str | None = None,
        max_new_tokens: int | None = None,
        stop_after_masks: int | None = None,
        on_stage: StageCallback | None = None,
        on_token: TokenCallback | None = None,
        keep_logits: bool = False,
        reference: bool = False,
        forced_answer: str | None = None,
    ) -> SegmentationOutput:
        """Answer ``instruction`` about ``image`` with masks.

        Args:
            image: ``HxWx3 uint8`` RGB, rows top to bottom (the source frame).
            instruction: what the user wants ("I'm thirsty, what can I use?").
            frame_key: identity of the frame for the feature cache (default: pixel hash).
            max_new_tokens: cap on generated tokens (default: the segmenter's).
            stop_after_masks: stop generating after this many ``[SEG]`` (faster when only
                masks matter; the answer text is then cut there).
            on_stage: called with ``"encoding_image"``, ``"generating"``, ``"decoding_masks"``
                as each stage starts; it may raise to cancel the call between stages.
            on_token: called with each generated token id, before the next decode step; it may
                raise to stop the call within one step (cancellation, shutdown).
            keep_logits: also return ``float32 [H, W]`` logits per mask.
            reference: use the official no-cache generation (slow; for checks and benchmarks).
            forced_answer: decode this answer ("Sure, [SEG].") instead of the model's choice,
                through the same generation steps (benchmarks with random weights).
        Raises:
            InvalidInputError: bad image or instruction, or prompt (image tokens included) plus
                ``max_new_tokens`` longer than the model's context (nothing was computed).
        """
        check_image(image, self.max_image_pixels)
        check_instruction(instruction, self.max_instruction_chars)
        if max_new_tokens is not None and max_new_tokens < 1:
            raise InvalidInputError("max_new_tokens must be at least 1")
        self._check_context(self._format_instruction(instruction), max_new_tokens or self.max_new_tokens)
        with self._lock, self._on_main_stream():
            return self._segment(
                image, instruction, frame_key, max_new_tokens or self.max_new_tokens,
                stop_after_masks, on_stage, on_token, keep_logits, reference, forced_answer,
            )

    def _on_main_stream(self):
        """Context running the call on the high-priority stream (CUDA with overlap), else no-op."""
        if self._main_stream is None:
            return contextlib.nullcontext()
        import torch

        return torch.cuda.stream(self._main_stream)

    def _segment(
        self, image, instruction, frame_key, max_new_tokens, stop_after_masks, on_stage, on_token, keep_logits,
        reference, forced_answer,
    ):
        from .generation import generate_fast, generate_reference

        total = Stopwatch(self.device)
        notify = on_stage or (lambda stage: None)
        notify("encoding_image")
        features, hit, timings = self.encode_image(image, frame_key)
        notify("generating")
        prompt = build_prompt_ids(
            self.tokenizer, self._format_instruction(instruction), answer=forced_answer,
            use_im_start_end=self.config.mm_use_im_start_end,
        )
        forced = prompt.ids[prompt.prompt_length:] if forced_answer is not None else None
        prompt_ids = prompt.ids[: prompt.prompt_length]
        if reference:
            generated = generate_reference(
                self.model, prompt_ids, features.clip_pixels, eos_id=self.eos_token_id,
                seg_id=self.seg_token_id, max_new_tokens=max_new_tokens, forced_ids=forced, on_token=on_token,
            )
        else:
            import torch

            with torch.inference_mode():
                embeds = self.model.embed_with_image(prompt_ids, features.clip_tokens)
            generated = generate_fast(
                self.model, embeds, eos_id=self.eos_token_id, seg_id=self.seg_token_id,
                max_new_tokens=max_new_tokens, stop_after_masks=stop_after_masks, forced_ids=forced,
                decoder=self.static_decoder, on_token=features.sam_embedding.with_pump(on_token),
                drafter=self.drafter, prompt_ids=prompt_ids,
            )
        answer = self.tokenizer.decode_answer(generated.answer_ids)
        timings.update(prefill=generated.prefill_ms, decode=generated.decode_ms, llm_passes=float(generated.passes))
        if generated.seg_states.shape[0]:
            notify("decoding_masks")
        timings["new_tokens"] = float(generated.num_tokens)
        output = self._finish(image, features, hit, generated.seg_states, answer, generated.answer_ids, timings,
                              keep_logits, total)
        output.answer_ids, output.finished = generated.answer_ids, generated.finished
        return output

    def _finish(self, image, features, hit, seg_states, answer, answer_ids, timings, keep_logits,
                total) -> SegmentationOutput:
        """Masks for ``seg_states`` and the output record, shared by both answering modes
        (phrases come from ``answer_ids``, the answer's token ids)."""
        masks, mask_timings, prompts, low_res = decode_seg_states(
            self.model, self.mask_decoder, features, seg_states, seg_phrases(answer_ids, self.tokenizer),
            self.device, keep_logits)
        timings.update(mask_timings)
        if not hit and "sam_encoder" not in timings:
            timings["sam_encoder"] = features.sam_embedding.elapsed_ms(wait=bool(masks))
        timings["total"] = total.lap()
        return SegmentationOutput(
            status=Status.OK if masks else Status.NO_TARGET,
            answer=answer,
            masks=masks,
            image_size=image.shape[:2],
            timings=timings,
            frame_cache_hit=hit,
            prompts=prompts,
            low_res_logits=low_res,
            answered_at=time.monotonic(),
        )

    def segment_teacher_forced(
        self, image: np.ndarray, instruction: str, answer: str = "[SEG].", keep_logits: bool = False
    ) -> SegmentationOutput:
        """Masks for a given answer, in one forward pass (official validation, model-reference §9.1).

        The instruction is used verbatim (no suffix): evaluation builds its own question.
        """
        import torch

        from .generation import teacher_forced_states

        check_image(image, self.max_image_pixels)
        check_instruction(instruction, self.max_instruction_chars)
        self._check_context(instruction, 0, answer=answer)
        with self._lock, self._on_main_stream():
            total = Stopwatch(self.device)
            features, hit, timings = self.encode_image(image)
            prompt = build_prompt_ids(
                self.tokenizer, instruction, answer=answer, use_im_start_end=self.config.mm_use_im_start_end
            )
            with torch.inference_mode():
                _, seg_states = teacher_forced_states(self.model, prompt.ids, features.clip_tokens, self.seg_token_id)
            answer_ids = prompt.ids[prompt.prompt_length:]
            return self._finish(image, features, hit, seg_states, answer, answer_ids, timings, keep_logits, total)

    def reprompt(self, image: np.ndarray, answer: SegmentationOutput, *, frame_key: str | None = None,
                 helper: str = "none", previous: SegmentationOutput | None = None, seconds_since_answer:
                 float | None = None, on_stage: StageCallback | None = None) -> SegmentationOutput:
        """``answer``'s objects on a new frame, from its prompts: SAM only, no CLIP, no LLM (continuous
        mode). Arguments and errors: :func:`lisa_ros.core.tracking.reprompt_frame`."""
        from .tracking import reprompt_frame

        check_image(image, self.max_image_pixels)
        with self._lock, self._on_main_stream():
            return reprompt_frame(self, image, answer, frame_key=frame_key, helper=helper, previous=previous,
                                  seconds_since_answer=seconds_since_answer, on_stage=on_stage)

    def release(self) -> None:
        """Drop the model and cached features and return GPU memory (lifecycle cleanup)."""
        with self._lock:
            self.frame_cache.clear()
            self.image_encoder = self.mask_decoder = self.static_decoder = None
            self.model = self.loaded = None
            import gc

            gc.collect()
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
