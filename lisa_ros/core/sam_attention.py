"""SAM's image-encoder attention on PyTorch's fused attention (``scaled_dot_product_attention``).

segment-anything's ``Attention`` materialises every score matrix, adds the decomposed relative
position terms to it with explicit tensor ops, and runs softmax and the value product as separate
kernels. The same arithmetic fits one fused attention call, because the relative position terms
are an additive bias that depends on the query and on the key's row and column only::

    score[i, j] = scale * q_i . k_j + q_i . Rh[row(i), row(j)] + q_i . Rw[col(i), col(j)]

Two ways to hand that bias to the fused kernel are implemented here:

* ``sdpa``: the bias as an explicit ``[heads, L, L]`` additive mask (``attn_mask``). Works with
  every SDPA backend that takes a float mask (on CUDA the memory-efficient kernel).
* ``sdpa_folded``: the bias folded into the dot product. The query gets the row and column terms
  appended (``q_i . Rh[row(i), r]`` for every row ``r``, likewise columns) and the key gets the
  one-hot codes of its row and column, so ``q'_i . k'_j`` is the score above with no ``L x L``
  tensor anywhere (the query and key grow by ``H + W`` channels).

Weights are used as they are: the official checkpoints load unchanged and ``official`` restores
segment-anything's forward. In global blocks the heads are processed a few at a time, so the bias
(``sdpa``) or the score matrix (``chunked``, segment-anything's arithmetic,
:mod:`lisa_ros.core.sam_memory`) never holds more than ``max_score_elements`` numbers.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

from .sam_import import sam_modeling

__all__ = ["SAM_ATTENTION_MODES", "set_sam_attention", "heads_per_chunk"]

SAM_ATTENTION_MODES = ("official", "chunked", "sdpa", "sdpa_folded")


def heads_per_chunk(num_heads: int, score_elements_per_head: int, max_score_elements: int | None) -> int:
    """Heads processed together so that their ``L x L`` scores stay within the limit (>= 1)."""
    if max_score_elements is None:
        return num_heads
    return max(1, min(num_heads, max_score_elements // max(1, score_elements_per_head)))


def relative_tables(attention, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The relative position embeddings by (query, key) row and column: ``[H, H, C]``, ``[W, W, C]``.

    Equal to segment-anything's ``get_rel_pos`` (which it calls for the interpolating case); the
    usual case (a table of ``2 * size - 1`` entries) is one gather built on the table's device.
    """
    tables = []
    for size, table in ((height, attention.rel_pos_h), (width, attention.rel_pos_w)):
        if table.shape[0] == 2 * size - 1:
            positions = torch.arange(size, device=table.device)
            tables.append(table[positions[:, None] - positions[None, :] + (size - 1)])
        else:
            tables.append(sam_modeling().image_encoder.get_rel_pos(size, size, table))
    return tables[0], tables[1]


def _row_and_column_terms(q: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor, height: int, width: int):
    """``q [B, n, L, C]`` against the tables: ``[B, n, H, W, H]`` and ``[B, n, H, W, W]``."""
    grid_q = q.reshape(q.shape[0], q.shape[1], height, width, q.shape[-1])
    by_row = torch.einsum("bnhwc,hkc->bnhwk", grid_q, rel_h)
    by_column = torch.einsum("bnhwc,wkc->bnhwk", grid_q, rel_w)
    return by_row, by_column


def _attend_with_mask(q, k, v, rel_h, rel_w, height, width, scale):
    """One head group: the relative position terms as SDPA's additive mask."""
    batch, heads, tokens, _ = q.shape
    by_row, by_column = _row_and_column_terms(q, rel_h, rel_w, height, width)
    bias = (by_row[..., :, None] + by_column[..., None, :]).reshape(batch, heads, tokens, tokens)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)


def _attend_folded(q, k, v, rel_h, rel_w, height, width, scale):
    """One head group: the relative position terms folded into longer queries and keys."""
    batch, heads, tokens, _ = q.shape
    by_row, by_column = _row_and_column_terms(q, rel_h, rel_w, height, width)
    rows = torch.arange(height, device=q.device).repeat_interleave(width)
    columns = torch.arange(width, device=q.device).repeat(height)
    row_code = F.one_hot(rows, height).to(q.dtype).expand(batch, heads, tokens, height)
    column_code = F.one_hot(columns, width).to(q.dtype).expand(batch, heads, tokens, width)
    long_q = torch.cat(
        [q * scale, by_row.reshape(batch, heads, tokens, height), by_column.reshape(batch, heads, tokens, width)], dim=-1
    )
    long_k = torch.cat([k, row_code, column_code], dim=-1)
    return F.scaled_dot_product_attention(long_q, long_k, v, scale=1.0)


def _fused_forward(self, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``Attention.forward`` with the score arithmetic in fused attention.

    ``x``: ``[B, H, W, dim]`` (a window or the whole grid); returns the same shape.
    """
    batch, height, width, _ = x.shape
    tokens = height * width
    qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # each [B, heads, L, C]
    if not self.use_rel_pos:
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
    else:
        rel_h, rel_w = relative_tables(self, height, width)
        attend = _attend_folded if self.fused_mode == "sdpa_folded" else _attend_with_mask
        group = heads_per_chunk(self.num_heads, batch * tokens * tokens, self.max_score_elements)
        parts = [
            attend(q[:, s : s + group], k[:, s : s + group], v[:, s : s + group], rel_h, rel_w, height, width, self.scale)
            for s in range(0, self.num_heads, group)
        ]
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    out = out.transpose(1, 2).reshape(batch, height, width, -1)
    return self.proj(out)


def set_sam_attention(sam, mode: str, max_score_elements: int | None = 2**26) -> int:
    """Run every attention of SAM's image encoder with ``mode``.

    Args:
        sam: a segment-anything ``Sam`` (weights unchanged; only ``forward`` is replaced).
        mode: ``official`` (segment-anything's forward), ``chunked`` (its arithmetic, heads in
            chunks in the global blocks), ``sdpa`` or ``sdpa_folded`` (fused attention, above).
        max_score_elements: most ``L x L`` elements held at once per block (``2**26``: 4 of
            ViT-H's 16 heads in a global block); ``None``: all heads at once.
    Returns:
        the number of attention modules whose forward is no longer segment-anything's.
    """
    from .sam_memory import install_chunked_attention

    if mode not in SAM_ATTENTION_MODES:
        raise ValueError(f"SAM attention must be one of {SAM_ATTENTION_MODES}, not {mode!r}")
    encoder = sam.image_encoder
    tokens = (encoder.img_size // encoder.patch_embed.proj.kernel_size[0]) ** 2
    changed = 0
    for block in encoder.blocks:
        attention = block.attn
        attention.__dict__.pop("forward", None)  # back to segment-anything's class method
        if mode == "chunked" and block.window_size == 0:  # windowed blocks: small scores, left alone
            changed += install_chunked_attention(attention, tokens, max_score_elements or 2**62)
        elif mode in ("sdpa", "sdpa_folded"):
            attention.fused_mode = mode
            attention.max_score_elements = max_score_elements
            attention.forward = types.MethodType(_fused_forward, attention)
            changed += 1
    return changed
