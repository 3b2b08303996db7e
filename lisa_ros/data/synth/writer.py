"""Write synthetic samples as a ReasonSeg-format folder (see :mod:`lisa_ros.data.reasonseg`).

Layout on disk: ``OUT[/SPLIT]/synth_s<seed>_<index>.jpg`` + ``.json`` per sample and one
``_synth_manifest.json`` (how the folder was made; readers skip files starting with ``_``).
With ``depth`` set, each sample also gets an aligned depth image, its camera and 3D ground
truth in ``OUT[/SPLIT]/depth/`` (:mod:`~lisa_ros.data.synth.depth_files`).
"""
from __future__ import annotations

import json
import time
from collections import Counter
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from lisa_ros.data.reasonseg import write_sample
from lisa_ros.data.synth.depth_defects import DepthDefects
from lisa_ros.data.synth.families import DEFAULT_FAMILY_WEIGHTS, FAMILIES, family_for_index
from lisa_ros.data.synth.scene import DEFAULT_SIZE, SynthSample, render_scene

__all__ = ["GENERATOR_TAG", "MANIFEST_NAME", "GenerationSummary", "write_synth_sample",
           "generate_dataset"]

GENERATOR_TAG = "lisa_ros.synth/1"   # bump when the same seed would draw different scenes
MANIFEST_NAME = "_synth_manifest.json"
_CHUNK = 25   # scenes per task when writing with several processes


def write_synth_sample(folder: str | Path, sample: SynthSample) -> Path:
    """Write one sample (``<name>.jpg`` + ``<name>.json``); returns the JSON path.

    JSON keys: the official ``text``, ``is_sentence``, ``shapes`` (+ labelme ``imagePath``,
    ``imageHeight``, ``imageWidth``), then ours: ``answer``, ``family``, ``answers``,
    ``explanation``, ``objects``, ``info``, ``seed``, ``index``, ``generator``.
    """
    extra = {
        "family": sample.family,
        "answers": sample.answers,
        "explanation": sample.explanation,
        "objects": [o.as_dict() for o in sample.objects],
        "info": sample.info,
        "seed": sample.seed,
        "index": sample.index,
        "generator": GENERATOR_TAG,
    }
    return write_sample(folder, sample.name, sample.image, sample.texts, sample.is_sentence,
                        sample.target_masks, sample.ignore_masks, answer=sample.answer,
                        extra=extra)


@dataclass
class GenerationSummary:
    """What :func:`generate_dataset` wrote."""

    out_dir: str
    seed: int
    start: int
    count: int
    size: tuple[int, int]
    families: list[str]
    weights: dict[str, int]
    seconds: float
    per_family: dict[str, int] = field(default_factory=dict)
    generator: str = GENERATOR_TAG
    depth: dict | None = None   # None: no depth written; else {"defects": None or their settings}
    sequence: dict | None = None  # None: one image per scene; else {"frames": n, "motion": name}

    @property
    def scenes_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def _write_range(folder: str, seed: int, indices: range, size: tuple[int, int],
                 families: list[str], weights: dict[str, int],
                 depth: bool | DepthDefects | None = None,
                 sequence: tuple[int, str] | None = None) -> dict[str, int]:
    """Render and write ``indices``; returns samples per family (worker entry point)."""
    counts: Counter[str] = Counter()
    for index in indices:
        if sequence is not None:
            from lisa_ros.data.synth.sequence import write_sequence
            scene = write_sequence(folder, seed, index, sequence[0], size, sequence[1], families, weights)
            counts[scene.family] += 1
            continue
        sample = render_scene(seed, index, size, families, weights=weights)
        write_synth_sample(folder, sample)
        if depth is not None:
            from lisa_ros.data.synth.depth_files import write_depth_files
            write_depth_files(folder, sample, depth)
        counts[sample.family] += 1
    return dict(counts)


def _single_threaded() -> None:
    """Worker start-up: the processes are the parallelism, so OpenCV's own thread pool would
    only oversubscribe the cores."""
    import cv2
    cv2.setNumThreads(1)


def generate_dataset(out_dir: str | Path, seed: int, count: int,
                     size: tuple[int, int] = DEFAULT_SIZE,
                     families: Sequence[str] | None = None,
                     split_name: str | None = None, start: int = 0,
                     weights: dict[str, int] | None = None, workers: int = 1,
                     progress: Callable[[int, int], None] | None = None,
                     depth: bool | DepthDefects | None = None,
                     sequence: int | None = None, motion: str = "moderate") -> GenerationSummary:
    """Render and write scenes ``start .. start+count-1`` of ``seed``.

    The files do not depend on ``workers``: every scene draws from its own seed.

    :param out_dir: output folder (created); with ``split_name`` the files go to
        ``out_dir/split_name``.
    :param families: families to cycle through (default: all, equal weights).
    :param workers: processes to use (1: in this process).
    :param progress: called as ``progress(done, count)`` as samples complete.
    :param depth: None (default): images only; False: also the exact depth, camera and 3D
        ground truth; True or a :class:`DepthDefects`: the depth with those defects.
    :param sequence: None (default): one image per scene; n: frames ``0 .. n-1`` of each
        scene under a moving camera (``<name>_f<frame>``, :mod:`~lisa_ros.data.synth.sequence`),
        with ``motion`` (a :data:`~lisa_ros.data.synth.sequence.MOTIONS` name). No depth then.
    :returns: a summary, also written to ``_synth_manifest.json`` in the folder.
    """
    fams = list(families) if families else list(FAMILIES)
    wts = {f: int((weights or DEFAULT_FAMILY_WEIGHTS).get(f, 1)) for f in fams}
    family_for_index(0, fams, wts)  # validates names and weights before any work
    if sequence is not None:
        from lisa_ros.data.synth.sequence import MAX_FRAMES, MOTIONS
        if depth is not None or motion not in MOTIONS or not 1 <= sequence <= MAX_FRAMES:
            raise ValueError(f"sequence needs 1..{MAX_FRAMES} frames, a motion of {', '.join(MOTIONS)} "
                             "and no depth")
    frames = (int(sequence), motion) if sequence is not None else None
    size = (int(size[0]), int(size[1]))
    folder = Path(out_dir) / split_name if split_name else Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    t0 = time.perf_counter()
    if workers <= 1 or count < 2 * _CHUNK:
        for k in range(count):
            counts.update(_write_range(str(folder), seed, range(start + k, start + k + 1),
                                       size, fams, wts, depth, frames))
            if progress is not None:
                progress(k + 1, count)
    else:
        chunks = [range(start + k, start + min(k + _CHUNK, count))
                  for k in range(0, count, _CHUNK)]
        done = 0
        # "spawn", not the Linux default "fork": a fork taken after torch/OpenMP or OpenCV
        # started their thread pools (any caller that ran a model first) can deadlock the child.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn,
                                 initializer=_single_threaded) as pool:
            futures = [pool.submit(_write_range, str(folder), seed, r, size, fams, wts, depth, frames)
                       for r in chunks]
            for fut, r in zip(futures, chunks):
                counts.update(fut.result())
                done += len(r)
                if progress is not None:
                    progress(done, count)
    chosen = DepthDefects() if depth is True else (depth or None)
    summary = GenerationSummary(str(folder), int(seed), int(start), int(count), size, fams,
                                wts, time.perf_counter() - t0, dict(sorted(counts.items())),
                                depth=None if depth is None else
                                {"defects": chosen.as_dict() if chosen else None},
                                sequence=None if frames is None else {"frames": frames[0], "motion": motion})
    (folder / MANIFEST_NAME).write_text(json.dumps(asdict(summary), indent=1) + "\n",
                                        encoding="utf-8")
    return summary
