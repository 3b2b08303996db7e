"""Auxiliary losses for LISA models trained from scratch: dense encoder supervision and prompt grounding.

Official LISA starts from a pretrained CLIP ViT-L and a pretrained SAM ViT-H: both encoders
already describe what is where before the first LISA step. A model built by ``--init`` has
random encoders, and the LISA objective reaches them only through the LLM (CLIP) and the mask
decoder (SAM), a weak and late signal. This module stands in for that missing pretraining on
synthetic scenes, whose objects' categories, colours and visible masks are known:

* a linear head on every projected CLIP token (what the LLM reads, ``[B, N, hidden]``, an
  ``n x n`` grid over the whole frame) and one on every cell of SAM's image embedding
  (``[B, C, g, g]``, over SAM's padded square input) predicts the share of each category
  (background included) and of each colour in that cell;
* the loss is the cross-entropy against those shares (soft labels), averaged over cells, with
  SAM's padding cells left out.

A second loss, :func:`grounding_loss`, works on the mask side: each ``[SEG]`` prompt and SAM's
embedding cells are projected into a shared space, and the prompt should point at the cells of
its own target mask. It needs only the target masks, so it applies to any data.

A third, :func:`mask_decision_loss`, works on the answer: a linear head on the LLM state that
picks the first answer token predicts whether the answer will hold a ``[SEG]`` (the target is
there) or not (an absent target). The LM head makes the same choice among several phrasings
on each side, and the choice is one token of about ten per answer; this puts the decision's
weight where a from-scratch model can see it. Balanced over the two classes.

The heads are training-only: they are not part of the LISA checkpoint, so the saved model keeps
the official layout. The dense loss trains the encoders (and CLIP's projector) only; the
grounding loss also reaches the LLM through the ``[SEG]`` states; the decision loss trains the
LLM and, through the image tokens it attends to, CLIP. Records without object annotations
(ReasonSeg folders) contribute nothing to the dense loss.

A fourth, :func:`image_token_scale_loss`, needs no head: the mean square of the projected CLIP
tokens. Without it, a CLIP trained from scratch drifts to tokens that are almost one shared
vector (norm about 60, against 0.3 for a word embedding; the shared part holds about 90 % of
it), and the LLM never learns to read them: with a rolled batch of images, its answer
cross-entropy is the same to three decimals (docs/benchmarks.md §3). In short runs, only the
dense loss and this one together made the answers start to depend on the image.

A fifth, :func:`presence_aux_loss`, reads the dense category heads as a whole-image classifier:
the most confident cell of each category should say whether the image shows it at all (what an
absent target needs; the dense loss teaches it slowly, since most cells are background).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["LabelMaps", "label_maps", "grid_shares", "cell_cover", "DenseAuxHeads", "dense_aux_loss", "presence_aux_loss",
           "grounding_loss", "mask_decision_loss", "image_token_scale_loss", "load_heads"]


@dataclass
class LabelMaps:
    """Per-pixel labels of one image: ``int16 [H, W]``, 0 = background, ``k`` = the k-th
    category / colour of :func:`vocabularies` plus one."""

    category: np.ndarray
    colour: np.ndarray


def vocabularies() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The synthetic scenes' category and colour names (the heads' classes, background aside)."""
    from lisa_ros.data.synth.categories import CATEGORY_NAMES
    from lisa_ros.data.synth.palette import COLOUR_NAMES

    return tuple(CATEGORY_NAMES), tuple(COLOUR_NAMES)


def label_maps(objects: list[tuple[str, str]], object_masks: list[np.ndarray]) -> LabelMaps | None:
    """Paint every object's visible mask with its category and colour index (None: no objects).

    Visible masks do not overlap, so the order of painting does not matter.
    """
    if not objects or len(objects) != len(object_masks):
        return None
    categories, colours = vocabularies()
    height, width = object_masks[0].shape
    category = np.zeros((height, width), np.int16)
    colour = np.zeros((height, width), np.int16)
    for (name, colour_name), mask in zip(objects, object_masks):
        category[mask] = categories.index(name) + 1
        if colour_name in colours:
            colour[mask] = colours.index(colour_name) + 1
    return LabelMaps(category, colour)


def _extent(grid: int, frame: tuple[int, int] | None, input_size: int | None) -> tuple[float, float]:
    """The source's extent in cells (rows, cols): all of the grid, or its ``frame`` of the input."""
    if frame is None:
        return float(grid), float(grid)
    # a cell is input_size / grid input pixels wide
    return frame[0] * grid / input_size, frame[1] * grid / input_size


def _cell_index(height: int, width: int, grid: int, frame: tuple[int, int] | None,
                input_size: int | None) -> torch.Tensor:
    """Cell of every source pixel ``int64 [H, W]`` (source pixel -> input coordinate -> cell)."""
    rows_in, cols_in = _extent(grid, frame, input_size)
    row_cell = ((torch.arange(height, dtype=torch.float64) + 0.5) * rows_in / height).long().clamp(max=grid - 1)
    col_cell = ((torch.arange(width, dtype=torch.float64) + 0.5) * cols_in / width).long().clamp(max=grid - 1)
    return row_cell[:, None] * grid + col_cell[None, :]


def grid_shares(labels: torch.Tensor, classes: int, grid: int, frame: tuple[int, int] | None = None,
                input_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of each class in every cell of a ``grid x grid`` partition of an encoder's input.

    Args:
        labels: ``int64 [H, W]`` class per pixel of the source image.
        frame: ``(h, w)`` the source occupies at the top-left of a padded ``input_size`` square
            (SAM's layout); None: the source fills the whole input (CLIP without crop).
    Returns:
        shares ``float32 [grid * grid, classes]`` (rows sum to 1 where the cell shows any of the
        source) and each cell's share of source pixels ``float32 [grid * grid]`` (its weight:
        0 for pure padding).
    """
    height, width = labels.shape
    cell = _cell_index(height, width, grid, frame, input_size)
    counts = torch.bincount((cell * classes + labels).flatten(), minlength=grid * grid * classes)
    counts = counts.view(grid * grid, classes).float()
    shares = counts / counts.sum(1, keepdim=True).clamp(min=1e-6)
    return shares, cell_cover(grid, frame, input_size)


def cell_cover(grid: int, frame: tuple[int, int] | None = None, input_size: int | None = None) -> torch.Tensor:
    """Each cell's share of source pixels ``float32 [grid * grid]`` (0: pure padding), for a source
    at the top-left ``frame`` ``(h, w)`` of a padded ``input_size`` square; None: no padding."""
    rows_in, cols_in = _extent(grid, frame, input_size)
    # overlap of [k, k+1) with [0, rows_in) times the same for columns
    cover_rows = (rows_in - torch.arange(grid, dtype=torch.float32)).clamp(0, 1)
    cover_cols = (cols_in - torch.arange(grid, dtype=torch.float32)).clamp(0, 1)
    return (cover_rows[:, None] * cover_cols[None, :]).flatten()


class DenseAuxHeads(torch.nn.Module):
    """Linear category and colour heads on CLIP tokens and on SAM's embedding cells, the two
    projections of the grounding loss (``[SEG]`` prompt and SAM cell into a shared space), and
    the mask-decision head on the LLM's states.

    Args:
        clip_width: width of the projected CLIP tokens and of the LLM's states (its hidden size).
        sam_width: channels of SAM's image embedding and width of the ``[SEG]`` prompts
            (``prompt_embed_dim`` = ``out_dim``).
        match_width: width of the shared space of the grounding loss.
    """

    def __init__(self, clip_width: int, sam_width: int, match_width: int = 64):
        super().__init__()
        categories, colours = vocabularies()
        self.num_categories = len(categories) + 1
        self.num_colours = len(colours) + 1
        self.clip_head = torch.nn.Linear(clip_width, self.num_categories + self.num_colours)
        self.sam_head = torch.nn.Linear(sam_width, self.num_categories + self.num_colours)
        self.prompt_match = torch.nn.Linear(sam_width, match_width)
        self.cell_match = torch.nn.Linear(sam_width, match_width)
        self.decision = torch.nn.Linear(clip_width, 1)


def load_heads(heads: DenseAuxHeads, saved: dict[str, torch.Tensor]) -> list[str]:
    """Load saved head weights (``--resume``); return the names of heads the state lacks.

    A state written before a head existed (the decision head came last) lacks its weights: that
    head keeps its fresh initialisation. Weights of an unknown head, or of a different shape,
    are an error.
    """
    missing, unexpected = heads.load_state_dict(saved, strict=False)
    if unexpected:
        raise ValueError(f"saved auxiliary heads hold unknown weights: {', '.join(unexpected)}")
    return sorted({name.split(".")[0] for name in missing})


def _soft_ce(logits: torch.Tensor, shares: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean over cells of the cross-entropy against soft labels: ``[M, C]``, ``[M, C]``, ``[M]``."""
    per_cell = -(shares * F.log_softmax(logits.float(), dim=-1)).sum(-1)
    return (per_cell * weight).sum() / weight.sum().clamp(min=1e-6)


def _cell_loss(heads: DenseAuxHeads, logits: torch.Tensor, maps: LabelMaps, grid: int,
               frame: tuple[int, int] | None = None, input_size: int | None = None) -> torch.Tensor:
    """Category + colour loss of one image's cells; ``logits`` ``[grid * grid, classes]``."""
    loss = logits.new_zeros((), dtype=torch.float32)
    for offset, classes, labels in ((0, heads.num_categories, maps.category),
                                    (heads.num_categories, heads.num_colours, maps.colour)):
        shares, weight = grid_shares(torch.from_numpy(labels.astype(np.int64)), classes, grid, frame, input_size)
        loss = loss + _soft_ce(logits[:, offset : offset + classes], shares.to(logits.device), weight.to(logits.device))
    return loss


def dense_aux_loss(heads: DenseAuxHeads, image_tokens: torch.Tensor, sam_embeddings: torch.Tensor,
                   maps: list[LabelMaps | None], sam_resizes: list) -> torch.Tensor | None:
    """Mean over annotated images of the CLIP-token and SAM-cell losses (None: none annotated).

    Args:
        image_tokens: ``[B, N, hidden]`` projected CLIP tokens, N a square grid over the whole
            (unpadded, uncropped) frame.
        sam_embeddings: ``[B, C, g, g]`` SAM image embeddings of the padded square input.
        maps: per image, its label maps at the original resolution, or None.
        sam_resizes: per image, :class:`~lisa_ros.core.preprocess.SamResize`.
    """
    clip_grid = int(round(image_tokens.shape[1] ** 0.5))
    if clip_grid * clip_grid != image_tokens.shape[1]:
        raise ValueError(f"{image_tokens.shape[1]} CLIP tokens are not a square grid")
    sam_grid = sam_embeddings.shape[-1]
    return _mean([
        _cell_loss(heads, clip_logits, image_maps, clip_grid)
        + _cell_loss(heads, sam_logits, image_maps, sam_grid, tuple(resize.resized_size), resize.input_size)
        for image_maps, resize, clip_logits, sam_logits in _annotated_logits(heads, image_tokens, sam_embeddings, maps,
                                                                             sam_resizes)
    ])


def _annotated_logits(heads: DenseAuxHeads, image_tokens: torch.Tensor, sam_embeddings: torch.Tensor,
                      maps: list[LabelMaps | None], sam_resizes: list):
    """``(maps, resize, clip logits [N, classes], SAM logits [g * g, classes])`` of every annotated
    image of a batch: the per-cell heads on its CLIP tokens and on its SAM cells."""
    for index, image_maps in enumerate(maps):
        if image_maps is not None:
            sam_cells = sam_embeddings[index].float().flatten(1).T  # [g * g, C]
            yield (image_maps, sam_resizes[index], heads.clip_head(image_tokens[index].float()),
                   heads.sam_head(sam_cells))


def _mean(losses: list[torch.Tensor]) -> torch.Tensor | None:
    """Mean of per-image losses (None: no image had one)."""
    return torch.stack(losses).mean() if losses else None


def _presence_bce(logits: torch.Tensor, present: torch.Tensor, num_categories: int) -> torch.Tensor:
    """BCE of "the category shows somewhere": per category, the highest probability any cell
    gives it (``logits`` ``[M, classes]`` of the cells that show the source) against ``present``
    ``float32 [K]`` (background left out)."""
    probs = F.softmax(logits[:, :num_categories].float(), dim=-1)[:, 1:]
    highest = probs.max(0).values.clamp(1e-6, 1 - 1e-6)
    return F.binary_cross_entropy(highest, present)


def presence_aux_loss(heads: DenseAuxHeads, image_tokens: torch.Tensor, sam_embeddings: torch.Tensor,
                      maps: list[LabelMaps | None], sam_resizes: list) -> torch.Tensor | None:
    """Which categories does the image show at all? Mean over annotated images (None: none).

    The per-cell category heads of :func:`dense_aux_loss` are also read as a multiple-instance
    classifier: a category is in the image if some cell says so (the highest probability over
    cells, against 1 for every category with visible pixels, 0 for the others). This is what an
    absent target needs from the encoders (is there a banana *anywhere*?), and it is what the
    dense loss teaches slowly: most cells are background, and small objects never dominate a
    CLIP cell (``[B, N, hidden]`` tokens on an ``n x n`` grid; SAM cells as in the dense loss).
    """
    sam_grid = sam_embeddings.shape[-1]
    losses = []
    for image_maps, resize, clip_logits, sam_logits in _annotated_logits(heads, image_tokens, sam_embeddings, maps,
                                                                         sam_resizes):
        present = torch.zeros(heads.num_categories - 1, device=clip_logits.device)
        shown = np.unique(image_maps.category)
        present[torch.from_numpy(shown[shown > 0].astype(np.int64) - 1).to(present.device)] = 1.0
        real = cell_cover(sam_grid, tuple(resize.resized_size), resize.input_size).to(sam_logits.device) > 0
        losses.append(_presence_bce(clip_logits, present, heads.num_categories)
                      + _presence_bce(sam_logits[real], present, heads.num_categories))
    return _mean(losses)


def grounding_loss(heads: DenseAuxHeads, prompts: list[torch.Tensor], sam_embeddings: torch.Tensor,
                   gt_masks: list[torch.Tensor], sam_resizes: list) -> torch.Tensor | None:
    """Where does each ``[SEG]`` prompt point? A cross-entropy over SAM's cells (None: no masks).

    Every prompt and every cell of its image's embedding are projected into a shared space; the
    prompt's dot products with the cells, softmaxed over the cells that show the image, should
    put each cell's weight where the prompt's target mask lies (target: the mask's share of
    pixels in each cell). This asks the ``[SEG]`` state for *which* object and the embedding
    for *what is where*, directly: the mask decoder otherwise learns to cover every object long
    before it learns to follow the prompt.

    Args:
        prompts: per image, ``[K_i, C]`` projected ``[SEG]`` states (SAM prompts).
        sam_embeddings: ``[B, C, g, g]``.
        gt_masks: per image, ``[K_i, H, W]`` target masks at the original resolution.
    """
    grid = sam_embeddings.shape[-1]
    scale = heads.prompt_match.out_features ** -0.5
    total, count = None, 0
    for index, (image_prompts, masks) in enumerate(zip(prompts, gt_masks, strict=True)):
        if masks.shape[0] == 0:
            continue
        resize = sam_resizes[index]
        cell = _cell_index(masks.shape[1], masks.shape[2], grid, tuple(resize.resized_size), resize.input_size)
        cell = cell.flatten().to(masks.device)
        in_mask = torch.zeros((masks.shape[0], grid * grid), device=masks.device).index_add_(1, cell, masks.flatten(1).float())
        has_target = in_mask.sum(1) > 0
        if not bool(has_target.any()):
            continue
        target = in_mask[has_target] / in_mask[has_target].sum(1, keepdim=True)
        shown = torch.zeros(grid * grid, dtype=torch.bool, device=masks.device)
        shown[cell.unique()] = True
        cells = heads.cell_match(sam_embeddings[index].float().flatten(1).T)  # [g * g, D]
        queries = heads.prompt_match(image_prompts[has_target].float())  # [K, D]
        logits = (queries @ cells.T * scale).masked_fill(~shown, float("-inf"))
        log_probs = F.log_softmax(logits, dim=-1).masked_fill(~shown, 0.0)
        loss = -(target * log_probs).sum(-1).mean()
        total = loss if total is None else total + loss
        count += 1
    return None if total is None else total / count


def mask_decision_loss(heads: DenseAuxHeads, decision_states: torch.Tensor, seg_counts: list[int]) -> torch.Tensor:
    """Will the answer hold a ``[SEG]``? Class-balanced BCE of ``heads.decision`` (fp32 scalar).

    Args:
        decision_states: ``[C, hidden]`` per conversation, the LLM state that predicts the first
            answer token (:attr:`~lisa_ros.train.forward.ForwardOutput.decision_states`).
        seg_counts: per conversation, ``[SEG]`` tokens in its answer (label: count > 0).

    Each class present in the batch weighs half (absent-target answers are a minority of the
    conversations); a batch with one class only is its plain mean.
    """
    logits = heads.decision(decision_states.float()).squeeze(-1)
    labels = torch.tensor([float(count > 0) for count in seg_counts], device=logits.device)
    per_item = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    means = [per_item[labels == value].mean() for value in (0.0, 1.0) if bool((labels == value).any())]
    return torch.stack(means).mean()


def image_token_scale_loss(image_tokens: torch.Tensor) -> torch.Tensor:
    """Mean square of the projected CLIP tokens ``[B, N, hidden]`` (fp32 scalar).

    The LLM normalises each position (RMSNorm) before reading it, so the penalty does not limit
    what a token can say; it stops the shared offset from growing (see the module docstring).
    """
    return image_tokens.float().pow(2).mean()
