"""Build LISA's Segment Anything model with the shape its checkpoint dictates.

LISA stores SAM under ``model.visual_model.*`` but its config says nothing about SAM's size.
segment-anything's builders hard-code ViT-H/L/B; we read every hyper-parameter off the tensor
shapes instead, so an official checkpoint yields ViT-H and a tiny test checkpoint a tiny SAM,
through the same code. Shapes are all that is needed: this works on meta tensors too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Mapping, Sequence

from .errors import CheckpointError
from .sam_import import sam_modeling

__all__ = ["SamShape", "infer_sam_shape", "build_sam", "SAM_PIXEL_MEAN", "SAM_PIXEL_STD"]

# segment-anything's normalisation constants, in 0-255 RGB units (not stored in checkpoints:
# they are non-persistent buffers of ``Sam``).
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class SamShape:
    """SAM hyper-parameters. ViT-H (the official LISA SAM) is
    ``SamShape(1024, 16, 1280, 32, 16, 4.0, 14, (7, 15, 23, 31), 256, 16, 2, 2048, 8, 3, 3, 256)``.
    """

    img_size: int
    patch_size: int
    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_mlp_ratio: float
    window_size: int
    global_attn_indexes: tuple[int, ...]
    prompt_embed_dim: int
    mask_in_chans: int
    decoder_depth: int
    decoder_mlp_dim: int
    decoder_num_heads: int
    num_multimask_outputs: int
    iou_head_depth: int
    iou_head_hidden_dim: int

    @property
    def embedding_size(self) -> int:
        """Side of the square image embedding grid (64 for ViT-H at 1024 px)."""
        return self.img_size // self.patch_size

    @property
    def low_res_size(self) -> int:
        """Side of the mask decoder's output logits (4x the embedding grid: 256 for ViT-H)."""
        return 4 * self.embedding_size


def _count_indices(keys: Sequence[str], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for key in keys if (m := regex.match(key))}
    if found and found != set(range(len(found))):
        raise CheckpointError(f"non-contiguous indices for {pattern}: {sorted(found)}")
    return len(found)


def infer_sam_shape(shapes: Mapping[str, Sequence[int]], decoder_num_heads: int = 8) -> SamShape:
    """Read SAM's hyper-parameters off tensor shapes.

    Args:
        shapes: tensor name (relative to the SAM module, e.g. ``image_encoder.pos_embed``) to
            shape. Names without the SAM prefix only.
        decoder_num_heads: the mask decoder's attention heads (not recoverable from shapes).
    """
    def shape(name: str) -> tuple[int, ...]:
        try:
            return tuple(shapes[name])
        except KeyError:
            raise CheckpointError(f"checkpoint lacks SAM tensor visual_model.{name}") from None

    keys = list(shapes)
    embed_dim, _, patch, _ = shape("image_encoder.patch_embed.proj.weight")
    _, grid, _, _ = shape("image_encoder.pos_embed")
    depth = _count_indices(keys, r"image_encoder\.blocks\.(\d+)\.")
    if depth == 0:
        raise CheckpointError("checkpoint has no SAM image encoder blocks")
    if "image_encoder.blocks.0.attn.rel_pos_h" not in shapes:
        raise CheckpointError("SAM encoders without relative position tensors are not supported")
    window_size = 0
    global_blocks = []
    head_dim = None
    for index in range(depth):
        rel_len, head_dim = shape(f"image_encoder.blocks.{index}.attn.rel_pos_h")
        # A block's relative-position table spans 2*S-1 positions, S being the side of what
        # it attends over: the whole grid for global blocks, a window for windowed ones.
        side = (rel_len + 1) // 2
        if side == grid:
            global_blocks.append(index)
        elif window_size and side != window_size:
            raise CheckpointError(f"SAM blocks use different window sizes ({window_size}, {side})")
        else:
            window_size = side
    mlp_hidden = shape("image_encoder.blocks.0.mlp.lin1.weight")[0]
    prompt_dim = shape("image_encoder.neck.0.weight")[0]
    mask_tokens = shape("mask_decoder.mask_tokens.weight")[0]
    return SamShape(
        img_size=grid * patch,
        patch_size=patch,
        encoder_embed_dim=embed_dim,
        encoder_depth=depth,
        encoder_num_heads=embed_dim // head_dim,
        encoder_mlp_ratio=mlp_hidden / embed_dim,
        window_size=window_size,
        global_attn_indexes=tuple(global_blocks) if window_size else (),
        prompt_embed_dim=prompt_dim,
        mask_in_chans=shape("prompt_encoder.mask_downscaling.3.weight")[0],
        decoder_depth=_count_indices(keys, r"mask_decoder\.transformer\.layers\.(\d+)\."),
        decoder_mlp_dim=shape("mask_decoder.transformer.layers.0.mlp.lin1.weight")[0],
        decoder_num_heads=decoder_num_heads,
        num_multimask_outputs=mask_tokens - 1,
        iou_head_depth=_count_indices(keys, r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\."),
        iou_head_hidden_dim=shape("mask_decoder.iou_prediction_head.layers.0.weight")[0],
    )


def build_sam(shape: SamShape):
    """A randomly initialised ``segment_anything.modeling.Sam`` of the given shape (eval mode)."""
    import torch

    modeling = sam_modeling()
    grid = shape.embedding_size
    sam = modeling.Sam(
        image_encoder=modeling.ImageEncoderViT(
            img_size=shape.img_size,
            patch_size=shape.patch_size,
            embed_dim=shape.encoder_embed_dim,
            depth=shape.encoder_depth,
            num_heads=shape.encoder_num_heads,
            mlp_ratio=shape.encoder_mlp_ratio,
            # segment-anything's builders pass eps=1e-6; the class default (1e-5) differs.
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=shape.global_attn_indexes,
            window_size=shape.window_size,
            out_chans=shape.prompt_embed_dim,
        ),
        prompt_encoder=modeling.PromptEncoder(
            embed_dim=shape.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(shape.img_size, shape.img_size),
            mask_in_chans=shape.mask_in_chans,
        ),
        mask_decoder=modeling.MaskDecoder(
            num_multimask_outputs=shape.num_multimask_outputs,
            transformer=modeling.TwoWayTransformer(
                depth=shape.decoder_depth,
                embedding_dim=shape.prompt_embed_dim,
                mlp_dim=shape.decoder_mlp_dim,
                num_heads=shape.decoder_num_heads,
            ),
            transformer_dim=shape.prompt_embed_dim,
            iou_head_depth=shape.iou_head_depth,
            iou_head_hidden_dim=shape.iou_head_hidden_dim,
        ),
        pixel_mean=list(SAM_PIXEL_MEAN),
        pixel_std=list(SAM_PIXEL_STD),
    )
    return sam.eval()
