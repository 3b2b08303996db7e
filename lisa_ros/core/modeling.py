"""LISA's network: tensor code only, one public method per sub-step.

::

    image ──CLIP (layer mm_vision_select_layer, patch tokens)──mm_projector──┐
                                                                             ▼
    prompt ids (one IMAGE_TOKEN_INDEX) ──embed──► [text | N image tokens | text] ──LLaMA──► states
    states at the positions that predict [SEG] ──text_hidden_fcs──► prompts [K, C]
    image ──SAM image encoder──► embedding [1, C, g, g] ──SAM mask decoder(prompts)──► masks [K, 1, 4g, 4g]

Module names follow the official checkpoint (see :mod:`lisa_ros.core.checkpoint` for the
mapping): ``llm`` is a transformers ``LlamaForCausalLM``, ``vision_tower`` a transformers
``CLIPVisionModel``, ``sam`` a segment-anything ``Sam``.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import LisaConfig
from .prompt import IMAGE_TOKEN_INDEX
from .sam_builder import SamShape, build_sam

__all__ = ["LisaModel", "build_text_hidden_fcs"]


def build_text_hidden_fcs(hidden_size: int, out_dim: int) -> nn.ModuleList:
    """LISA's projection of a ``[SEG]`` state to a SAM prompt: Linear, ReLU, Linear, Dropout(0).

    Kept as ``ModuleList([Sequential(...)])`` so parameter names match the checkpoint
    (``text_hidden_fcs.0.0.weight`` ... ``text_hidden_fcs.0.2.bias``).
    """
    return nn.ModuleList(
        [
            nn.Sequential(
                nn.Linear(hidden_size, hidden_size),
                nn.ReLU(inplace=True),
                nn.Linear(hidden_size, out_dim),
                nn.Dropout(0.0),
            )
        ]
    )


class LisaModel(nn.Module):
    """The LISA network.

    Args:
        config: the checkpoint's :class:`LisaConfig`.
        sam_shape: SAM hyper-parameters read off the checkpoint.
        clip_config: transformers ``CLIPVisionConfig`` of the vision tower.
    """

    def __init__(self, config: LisaConfig, sam_shape: SamShape, clip_config):
        super().__init__()
        from transformers import CLIPVisionModel, LlamaForCausalLM

        if clip_config.hidden_size != config.mm_hidden_size:
            raise ValueError(
                f"CLIP hidden size {clip_config.hidden_size} != mm_hidden_size {config.mm_hidden_size}"
            )
        if sam_shape.prompt_embed_dim != config.out_dim:
            raise ValueError(f"SAM prompt dim {sam_shape.prompt_embed_dim} != out_dim {config.out_dim}")
        self.config = config
        self.sam_shape = sam_shape
        self.llm = LlamaForCausalLM(config.llama_config())
        self.vision_tower = CLIPVisionModel(clip_config)
        self.mm_projector = nn.Linear(config.mm_hidden_size, config.hidden_size)
        self.text_hidden_fcs = build_text_hidden_fcs(config.hidden_size, config.out_dim)
        self.sam = build_sam(sam_shape)

    # -- image side ---------------------------------------------------------------------------

    @property
    def num_image_tokens(self) -> int:
        """CLIP tokens one image becomes in the LLM sequence (256 for ViT-L/14 at 224 px)."""
        cfg = self.vision_tower.config
        tokens = (cfg.image_size // cfg.patch_size) ** 2
        return tokens + 1 if self.config.mm_vision_select_feature == "cls_patch" else tokens

    def encode_clip(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected CLIP tokens.

        Args:
            pixel_values: ``[B, 3, h, w]`` CLIP-normalised pixels.
        Returns:
            ``[B, N, hidden_size]`` in the projector's dtype, N = :attr:`num_image_tokens`.
        """
        tower_dtype = self.vision_tower.dtype
        out = self.vision_tower(pixel_values.to(tower_dtype), output_hidden_states=True)
        features = out.hidden_states[self.config.mm_vision_select_layer]
        if self.config.mm_vision_select_feature == "patch":
            features = features[:, 1:]
        return self.mm_projector(features.to(self.mm_projector.weight.dtype))

    def encode_sam(self, pixels: torch.Tensor) -> torch.Tensor:
        """SAM image embedding: ``[1, 3, S, S]`` normalised pixels to ``[1, C, g, g]``.

        segment-anything's ``ImageEncoderViT.forward``, except that the neck runs in its own
        dtype: in fp16 the loader keeps the neck in fp32, as LISA does (its LayerNorm2d squares
        activations that overflow fp16).
        """
        encoder = self.sam.image_encoder
        x = encoder.patch_embed(pixels.to(encoder.patch_embed.proj.weight.dtype))
        if encoder.pos_embed is not None:
            x = x + encoder.pos_embed
        for block in encoder.blocks:
            x = block(x)
        return encoder.neck(x.permute(0, 3, 1, 2).to(encoder.neck[0].weight.dtype))

    # -- language side ------------------------------------------------------------------------

    @property
    def embed_tokens(self) -> nn.Embedding:
        return self.llm.model.embed_tokens

    def embed_with_image(self, ids: list[int], image_tokens: torch.Tensor) -> torch.Tensor:
        """Input embeddings of one sequence with its image placeholder expanded.

        Args:
            ids: token ids containing exactly one :data:`IMAGE_TOKEN_INDEX`.
            image_tokens: ``[N, hidden]`` or ``[1, N, hidden]`` projected CLIP tokens.
        Returns:
            ``[1, len(ids) - 1 + N, hidden]``.
        """
        if ids.count(IMAGE_TOKEN_INDEX) != 1:
            raise ValueError("a LISA sequence holds exactly one image placeholder")
        split = ids.index(IMAGE_TOKEN_INDEX)
        device = self.embed_tokens.weight.device
        before = self.embed_tokens(torch.tensor(ids[:split], device=device))
        after = self.embed_tokens(torch.tensor(ids[split + 1 :], device=device, dtype=torch.long))
        image_tokens = image_tokens.reshape(-1, image_tokens.shape[-1]).to(before.dtype)
        return torch.cat([before, image_tokens, after], dim=0).unsqueeze(0)

    def project_seg_states(self, states: torch.Tensor) -> torch.Tensor:
        """SAM prompts of ``[SEG]`` states: ``[K, hidden]`` to ``[K, out_dim]``."""
        fcs = self.text_hidden_fcs[0]
        return fcs(states.to(fcs[0].weight.dtype))

    # -- mask side ----------------------------------------------------------------------------

    def dense_positional_encoding(self) -> torch.Tensor:
        """SAM's dense positional encoding ``[1, C, g, g]``.

        Computed in the dtype of the stored gaussian matrix, as LISA's modified prompt encoder
        does (segment-anything itself forces float32; after ``.bfloat16()`` LISA's is bf16).
        """
        pe_layer = self.sam.prompt_encoder.pe_layer
        gaussian = pe_layer.positional_encoding_gaussian_matrix
        grid = self.sam_shape.embedding_size
        ones = torch.ones((grid, grid), device=gaussian.device, dtype=gaussian.dtype)
        y = (ones.cumsum(dim=0) - 0.5) / grid
        x = (ones.cumsum(dim=1) - 0.5) / grid
        return pe_layer._pe_encoding(torch.stack([x, y], dim=-1)).permute(2, 0, 1).unsqueeze(0)

    def decode_masks(
        self, image_embedding: torch.Tensor, prompts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run SAM's prompt encoder and mask decoder on ``[SEG]`` prompts.

        Args:
            image_embedding: ``[1, C, g, g]`` from :meth:`encode_sam`.
            prompts: ``[K, C]`` from :meth:`project_seg_states` (one token per mask), or
                ``[K, T, C]`` sparse embeddings of SAM's own prompt encoder (training:
                :mod:`lisa_ros.train.scratch.prompt_aux`).
        Returns:
            low-resolution mask logits ``[K, 1, 4g, 4g]`` and SAM's predicted IoU ``[K, 1]``
            (single-mask output, mask token 0, as LISA).
        """
        decoder = self.sam.mask_decoder
        dtype = decoder.iou_token.weight.dtype
        count = prompts.shape[0]
        sparse = prompts.to(dtype)
        if sparse.dim() == 2:
            sparse = sparse.unsqueeze(1)
        no_mask = self.sam.prompt_encoder.no_mask_embed.weight.to(dtype)
        grid = self.sam_shape.embedding_size
        dense = no_mask.reshape(1, -1, 1, 1).expand(count, -1, grid, grid)
        return decoder(
            image_embeddings=image_embedding.to(dtype),
            image_pe=self.dense_positional_encoding().to(dtype),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
