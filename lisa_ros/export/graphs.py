"""Traceable modules for ONNX export of LISA's SAM branch.

segment-anything's own export wrapper (``SamOnnxModel``) embeds point prompts; LISA's sparse
prompt is instead the projected ``[SEG]`` state, and its dense prompt is always the
"no mask" embedding. :class:`SamDecoderGraph` therefore takes the prompt embeddings
directly and folds everything that does not depend on the inputs into constants:

* the dense prompt ``no_mask_embed`` (added to the image embedding, as SAM does);
* the dense positional encoding ``[1, C, g, g]`` (a function of the gaussian matrix only);
* the output tokens (IoU token + mask tokens).

Two changes from ``MaskDecoder.predict_masks`` make it export with a dynamic number of
prompts K and run lighter, without changing the math:

* the image side is broadcast to K with ``expand`` instead of ``repeat_interleave`` (whose
  repeat count the tracer would freeze at the example K);
* only mask token 0 is turned into a mask (LISA's ``multimask_output=False`` keeps only it),
  so the other hypernetwork MLPs are not run.

Graphs are built on float32 CPU copies; the model passed in is never modified.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["SamDecoderGraph", "SamEncoderGraph", "fp32_cpu_copy"]


def fp32_cpu_copy(module: nn.Module) -> nn.Module:
    """``module`` itself when already float32 on the CPU, else a float32 CPU deep copy (eval)."""
    tensors = list(module.parameters()) + list(module.buffers())
    if all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors if t.is_floating_point()):
        return module.eval()
    return copy.deepcopy(module).to(device="cpu", dtype=torch.float32).eval()


class SamDecoderGraph(nn.Module):
    """LISA's SAM prompt path + mask decoder, single-mask output.

    Inputs: ``image_embeddings float32 [1, C, g, g]`` and either ``seg_embeddings float32
    [K, C]`` (prompts after ``text_hidden_fcs``) or, with ``with_fcs``, ``seg_hidden_states
    float32 [K, H]`` (the post-norm ``[SEG]`` states). Outputs: ``low_res_masks float32
    [K, 1, 4g, 4g]`` logits and ``iou_predictions float32 [K, 1]``.

    Args:
        model: a :class:`lisa_ros.core.modeling.LisaModel` (any dtype/device).
        with_fcs: put ``text_hidden_fcs`` in front of the decoder.
    """

    def __init__(self, model, with_fcs: bool = False):
        super().__init__()
        sam = model.sam
        decoder = copy.deepcopy(sam.mask_decoder).to(device="cpu", dtype=torch.float32).eval()
        prompt_encoder = copy.deepcopy(sam.prompt_encoder).to(device="cpu", dtype=torch.float32)
        self.grid = model.sam_shape.embedding_size
        self.channels = model.sam_shape.prompt_embed_dim
        self.transformer = decoder.transformer
        self.output_upscaling = decoder.output_upscaling
        self.mask_mlp = decoder.output_hypernetworks_mlps[0]
        self.iou_head = decoder.iou_prediction_head
        self.fcs = copy.deepcopy(model.text_hidden_fcs[0]).to(device="cpu", dtype=torch.float32).eval() if with_fcs else None
        with torch.no_grad():
            tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
            dense = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
            # segment-anything's get_dense_pe: the PE of the g x g grid, computed in float32.
            image_pe = prompt_encoder.get_dense_pe()
        self.register_buffer("output_tokens", tokens.clone())
        self.register_buffer("dense_embedding", dense.clone())
        self.register_buffer("image_pe", image_pe.clone())
        self.eval()

    def forward(self, image_embeddings: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prompts = self.fcs(seg) if self.fcs is not None else seg
        count = prompts.shape[0]
        tokens = torch.cat([self.output_tokens.unsqueeze(0).expand(count, -1, -1), prompts.unsqueeze(1)], dim=1)
        src = (image_embeddings + self.dense_embedding).expand(count, -1, -1, -1)
        pos = self.image_pe.expand(count, -1, -1, -1)
        hs, src = self.transformer(src, pos, tokens)
        src = src.transpose(1, 2).reshape(-1, self.channels, self.grid, self.grid)
        upscaled = self.output_upscaling(src)  # [K, C/8, 4g, 4g]
        side = upscaled.shape[-1]
        hyper = self.mask_mlp(hs[:, 1, :]).unsqueeze(1)  # mask token 0: [K, 1, C/8]
        masks = (hyper @ upscaled.flatten(2)).reshape(-1, 1, side, side)
        iou = self.iou_head(hs[:, 0, :])[:, :1]
        return masks, iou


class SamEncoderGraph(nn.Module):
    """SAM's image encoder: ``float32 [1, 3, S, S]`` normalised, padded pixels to ``[1, C, g, g]``."""

    def __init__(self, model):
        super().__init__()
        self.encoder = fp32_cpu_copy(model.sam.image_encoder)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixels)
