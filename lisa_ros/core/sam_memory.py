"""Bounding the memory of SAM's global-attention blocks.

segment-anything's image-encoder attention materialises the full attention matrix with its
relative-position terms. In ViT-H's four global blocks that is ``16 heads x 4096 x 4096``
scores (512 MiB in bf16), and the softmax and position terms double or triple it: the encoder
briefly needs about 1.6 GB beyond its weights, which decides whether a 4-bit LISA-7B fits a
small GPU. Computing a few heads at a time gives the same numbers (each head is independent)
with a fraction of the transient memory.
"""

from __future__ import annotations

import types

import torch

from .sam_import import sam_modeling

__all__ = ["limit_attention_memory", "install_chunked_attention"]


def _chunked_forward(self, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``Attention.forward``, ``self.heads_per_chunk`` heads at a time."""
    add_decomposed_rel_pos = sam_modeling().image_encoder.add_decomposed_rel_pos
    batch, height, width, _ = x.shape
    qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, batch * self.num_heads, height * width, -1).unbind(0)
    out = torch.empty_like(q)
    for start in range(0, q.shape[0], self.heads_per_chunk):
        part = slice(start, start + self.heads_per_chunk)
        attn = (q[part] * self.scale) @ k[part].transpose(-2, -1)
        if self.use_rel_pos:
            attn = add_decomposed_rel_pos(attn, q[part], self.rel_pos_h, self.rel_pos_w, (height, width), (height, width))
        out[part] = attn.softmax(dim=-1) @ v[part]
    x = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4).reshape(batch, height, width, -1)
    return self.proj(x)


def install_chunked_attention(attention, tokens: int, max_score_elements: int) -> int:
    """Make one global-attention module over ``tokens`` positions compute its heads in chunks.

    Returns 1 if it changed, 0 when all its heads fit the limit anyway.
    """
    from .sam_attention import heads_per_chunk

    heads = heads_per_chunk(attention.num_heads, tokens * tokens, max_score_elements)
    if heads >= attention.num_heads:
        return 0
    attention.heads_per_chunk = heads
    attention.forward = types.MethodType(_chunked_forward, attention)
    return 1


def limit_attention_memory(sam, max_score_elements: int = 2**26) -> int:
    """Make SAM's global-attention blocks compute heads in chunks (segment-anything's arithmetic).

    Args:
        sam: a segment-anything ``Sam``.
        max_score_elements: most attention scores held at once per block (``2**26`` = 64 Mi
            scores, 128 MiB in bf16: 4 of ViT-H's 16 heads).
    Returns:
        the number of blocks changed (windowed blocks are small and left alone). Other
        attention implementations: :func:`lisa_ros.core.sam_attention.set_sam_attention`.
    """
    from .sam_attention import set_sam_attention

    return set_sam_attention(sam, "chunked", max_score_elements)
