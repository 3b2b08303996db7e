"""Where training samples come from: *sources* of :class:`SceneRecord` objects (one annotated image).

* :class:`FolderSource`: a ReasonSeg-format folder (ours or the official one), read lazily.
* :class:`SynthSource`: synthetic scenes rendered on the fly by :mod:`lisa_ros.data.synth`; its
  records also carry every object's category, colour and visible mask, and the scene's layout.
* :class:`ConcatSource`: several finite sources back to back.

:func:`build_source` makes the source of a run from its ``--data`` and ``--synth-*`` options;
:mod:`lisa_ros.train.stream` turns records into training items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

__all__ = [
    "SceneRecord",
    "Source",
    "FolderSource",
    "SynthSource",
    "ConcatSource",
    "build_source",
    "record_from_reasonseg",
]


@dataclass
class SceneRecord:
    """One annotated image, whatever its origin.

    Attributes:
        name: sample name (file stem).
        image: ``uint8 [H, W, 3]`` RGB.
        texts: phrasings of the query.
        is_sentence: sentence (LONG templates) or phrase (SHORT templates).
        answers: answers with ``[SEG]`` markers (own data), or empty (official data: a
            template answer with one ``[SEG]`` is drawn).
        target_masks: ``bool [H, W]`` per ``[SEG]`` of the answers (official: one).
        family: instruction family, or None.
        objects: ``(category, colour)`` of every object in the scene (synthetic scenes only).
        object_masks: ``bool [H, W]`` visible mask of every object (synthetic scenes only).
        layout: the scene's object layout (synthetic scenes only).
    """

    name: str
    image: np.ndarray
    texts: list[str]
    is_sentence: bool
    answers: list[str]
    target_masks: list[np.ndarray]
    family: str | None = None
    objects: list[tuple[str, str]] = field(default_factory=list)
    object_masks: list[np.ndarray] = field(default_factory=list)
    layout: Any = None


class Source(Protocol):
    """Anything that gives records by index. ``len`` is None for endless sources."""

    def __len__(self) -> int: ...

    def record(self, index: int) -> SceneRecord: ...


def record_from_reasonseg(sample) -> SceneRecord:
    """A :class:`SceneRecord` of a :class:`lisa_ros.data.reasonseg.ReasonSegSample`."""
    answers = [] if sample.answer is None else [sample.answer] + list(sample.answers)
    return SceneRecord(
        name=sample.name,
        image=sample.image,
        texts=list(sample.texts),
        is_sentence=bool(sample.is_sentence),
        answers=answers,
        target_masks=[np.asarray(m, dtype=bool) for m in sample.target_masks],
        family=sample.family,
    )


class FolderSource:
    """A ReasonSeg-format folder, read one sample at a time.

    Args:
        folder: the folder of ``xxx.jpg`` + ``xxx.json`` pairs.
        families: keep only samples of these families (samples without a family are then
            dropped); None keeps everything.
        limit: keep the first ``limit`` samples (in name order) after filtering.
    Raises:
        lisa_ros.data.errors.DatasetError: the folder is missing or holds no samples.
    """

    def __init__(self, folder: str | Path, families: Sequence[str] | None = None, limit: int | None = None):
        from lisa_ros.data.errors import DatasetError
        from lisa_ros.data.reasonseg import select_sample_names

        self.folder = Path(folder)
        names = select_sample_names(self.folder, families, limit)
        if not names:
            raise DatasetError(f"{self.folder}: no samples (after the family filter and limit)")
        self.names = names

    def __len__(self) -> int:
        return len(self.names)

    def record(self, index: int) -> SceneRecord:
        from lisa_ros.data.reasonseg import read_sample

        return record_from_reasonseg(read_sample(self.folder / self.names[index]))


class SynthSource:
    """Synthetic scenes of ``seed`` rendered on demand (:func:`lisa_ros.data.synth.render_scene`).

    Args:
        seed: scene seed (keep it apart from evaluation seeds).
        count: number of distinct scenes to cycle through; None: a new scene every time.
        families: families to draw (default: all).
        size: ``(W, H)`` of the images.
    """

    def __init__(self, seed: int, count: int | None = None, families: Sequence[str] | None = None, size=(320, 240)):
        self.seed = int(seed)
        self.count = count
        self.families = list(families) if families else None
        self.size = tuple(size)

    def __len__(self) -> int:
        return self.count if self.count is not None else 2**62

    def record(self, index: int) -> SceneRecord:
        from lisa_ros.data.synth import render_scene

        sample = render_scene(self.seed, int(index), self.size, self.families)
        return SceneRecord(
            name=sample.name,
            image=sample.image,
            texts=list(sample.texts),
            is_sentence=sample.is_sentence,
            answers=[sample.answer] + list(sample.answers),
            target_masks=[np.asarray(m, dtype=bool) for m in sample.target_masks],
            family=sample.family,
            objects=[(o.category, o.colour) for o in sample.objects],
            object_masks=[np.asarray(m, dtype=bool) for m in sample.object_masks],
            layout=sample.layout,
        )


class ConcatSource:
    """Several finite sources back to back."""

    def __init__(self, sources):
        if any(len(s) >= 2**62 for s in sources):
            raise ValueError("an endless synthetic source cannot be mixed with folders: give --synth-count")
        self.sources = sources

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def record(self, index: int):
        for source in self.sources:
            if index < len(source):
                return source.record(index)
            index -= len(source)
        raise IndexError(index)


def build_source(cfg) -> Source:
    """The source of a run: a :class:`FolderSource` per ``cfg.data`` folder, then the synthetic
    scenes of ``cfg.synth_seed`` (if given), concatenated when there are several.

    Raises:
        ValueError: no data at all, or an endless synthetic source mixed with folders.
    """
    sources = [FolderSource(folder, cfg.families, cfg.limit) for folder in cfg.data]
    if cfg.synth_seed is not None:
        sources.append(SynthSource(cfg.synth_seed, cfg.synth_count, cfg.families, cfg.synth_size))
    if not sources:
        raise ValueError("no training data: give --data FOLDER and/or --synth-seed")
    if len(sources) == 1:
        return sources[0]
    return ConcatSource(sources)
