"""Read and write ReasonSeg-format folders: ``<name>.jpg`` + ``<name>.json`` side by side.

Works on the real ReasonSeg ``train/``, ``val/``, ``test/`` folders (official JSON: ``text``,
``is_sentence``, ``shapes``, perhaps other labelme fields) and on the folders our synthetic
generator writes, whose JSON adds keys official readers ignore:

- ``answer`` (str, one ``[SEG]`` per target group), ``answers`` (alternative phrasings),
  ``family``, ``explanation``, ``objects``, ``seed``, ``index``, ``generator``;
- ``group_id`` on every shape: target polygons of the k-th ``[SEG]`` carry ``k``; an ``ignore``
  polygon with ``k`` applies to that target only, with ``null`` to all.

Masks follow the official rasterisation exactly (:func:`lisa_ros.data.polygons.rasterize_shapes`).
Per-[SEG] target masks:

- our data (the JSON has ``answer``): K = number of ``[SEG]`` in ``answer``; target ``k`` is the
  official rasterisation of the shapes whose ``group_id`` is ``k`` or null, taken ``== 1``;
- official data: one group, ``mask == 1`` (the official loader makes one mask per image,
  whatever ``group_id`` labelme left in the file).

Images are read with OpenCV (so EXIF orientation is applied, as in the official loader) and
returned RGB.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from lisa_ros.data.errors import DatasetError
from lisa_ros.data.polygons import (
    IGNORE_VALUE, TARGET_VALUE, is_flag_label, masks_to_shapes, rasterize_shapes,
)

__all__ = [
    "SEG_TOKEN", "IMAGE_SUFFIX", "JSON_SUFFIX", "ReasonSegSample",
    "list_sample_names", "select_sample_names", "read_sample", "iter_samples", "write_sample", "write_record",
    "count_seg",
]

SEG_TOKEN = "[SEG]"
IMAGE_SUFFIX = ".jpg"
JSON_SUFFIX = ".json"
JPEG_QUALITY = 95
# Keys the official format defines; everything else in a JSON file lands in ``extra``.
_OFFICIAL_KEYS = ("text", "is_sentence", "shapes")
_OUR_KEYS = ("answer", "answers", "family", "explanation")


def count_seg(text: str) -> int:
    """Number of ``[SEG]`` markers in an answer string."""
    return text.count(SEG_TOKEN)


@dataclass
class ReasonSegSample:
    """One image with its query and masks.

    Attributes:
        name: file stem (``xxx`` of ``xxx.jpg``).
        image_path, json_path: the two files.
        image: (H, W, 3) uint8 RGB.
        texts: the query and its rephrasings (official validation uses ``texts[0]``).
        is_sentence: True for a sentence query, False for a short phrase.
        mask: (H, W) uint8 official mask, values 0 (background), 1 (target), 255 (ignore).
        target_masks: one (H, W) bool mask per ``[SEG]``, in answer order (see module
            docstring); empty list for a no-target answer.
        ignore_mask: (H, W) bool, ``mask == 255``.
        family: instruction family of synthetic samples, else None.
        answer: the target answer with ``[SEG]`` markers (ours), else None.
        answers: alternative answers (ours), else [].
        explanation: reasoning text of explanatory samples (ours), else None.
        extra: every other JSON key (labelme fields, ``objects``, ``seed``, ...).
    """

    name: str
    image_path: Path
    json_path: Path
    image: np.ndarray
    texts: list[str]
    is_sentence: bool
    mask: np.ndarray
    target_masks: list[np.ndarray]
    ignore_mask: np.ndarray
    family: str | None = None
    answer: str | None = None
    answers: list[str] = field(default_factory=list)
    explanation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def is_official(self) -> bool:
        """True when the JSON has no ``answer`` (official ReasonSeg, one target group)."""
        return self.answer is None


def _is_sample_file(path: Path) -> bool:
    # Files starting with "_" or "." are ours (manifests) or the system's, never samples.
    return path.is_file() and not path.name.startswith(("_", "."))


def list_sample_names(folder: str | Path) -> list[str]:
    """Sorted stems of every ``.jpg`` or ``.json`` in ``folder`` (not recursive).

    A stem present with only one of the two files is listed too, so that reading it reports
    the missing partner instead of silently skipping it.

    :raises DatasetError: ``folder`` is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a directory")
    stems = {p.stem for p in folder.iterdir()
             if p.suffix.lower() in (IMAGE_SUFFIX, JSON_SUFFIX) and _is_sample_file(p)}
    return sorted(stems)


def select_sample_names(folder: str | Path, families: Sequence[str] | None = None,
                        limit: int | None = None) -> list[str]:
    """:func:`list_sample_names`, kept to ``families`` (by each JSON's ``family`` key; a sample
    without one, or whose JSON cannot be read, is dropped), then to the first ``limit``.

    Only the JSON files are read (not the images), so filtering a large folder stays cheap.

    :raises DatasetError: ``folder`` is not a directory.
    """
    folder = Path(folder)
    names = list_sample_names(folder)
    if families:
        wanted = set(families)
        names = [n for n in names if _family_of(folder / f"{n}{JSON_SUFFIX}") in wanted]
    if limit is not None:
        names = names[:max(0, int(limit))]
    return names


def _family_of(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("family")
    except (OSError, ValueError):  # missing, undecodable or malformed: no family
        return None


def _load_json(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: JSON file missing") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="strict")  # the official loader's fallback too
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: bad JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: top level must be an object, got {type(data).__name__}")
    for key in _OFFICIAL_KEYS:
        if key not in data:
            raise DatasetError(f"{path}: missing key {key!r}")
    texts = data["text"]
    if isinstance(texts, str):  # tolerate a bare string; the official files use a list
        texts = [texts]
    if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
        raise DatasetError(f"{path}: 'text' must be a non-empty list of strings")
    data["text"] = texts
    flag = data["is_sentence"]
    if isinstance(flag, int) and not isinstance(flag, bool) and flag in (0, 1):
        flag = bool(flag)  # tolerate 0/1 from hand-written files
    if not isinstance(flag, bool):
        raise DatasetError(f"{path}: 'is_sentence' must be true or false")
    data["is_sentence"] = flag
    if not isinstance(data["shapes"], list):
        raise DatasetError(f"{path}: 'shapes' must be a list")
    return data


def _load_image(path: Path) -> np.ndarray:
    import cv2
    if not path.is_file():
        raise DatasetError(f"{path}: image file missing")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _group_masks(data: dict, height: int, width: int, where: str) -> list[np.ndarray]:
    """Per-[SEG] target masks of one of our files (module docstring, 'our data')."""
    n_groups = count_seg(data["answer"])
    by_group: list[list[dict]] = [[] for _ in range(n_groups)]
    shared: list[dict] = []  # group_id null: belongs to every group
    n_targets = 0
    for shape in data["shapes"]:
        label = shape.get("label") if isinstance(shape, dict) else None
        if not isinstance(label, str) or is_flag_label(label):
            continue  # rasterize_shapes has already rejected malformed shapes
        gid = shape.get("group_id")
        n_targets += "ignore" not in label.lower()
        if gid is None:
            shared.append(shape)
        elif isinstance(gid, int) and not isinstance(gid, bool) and 0 <= gid < n_groups:
            by_group[gid].append(shape)
        else:
            raise DatasetError(f"{where}: shape group_id {gid!r} does not name one of the "
                               f"{n_groups} [SEG] targets of the answer")
    if n_groups == 0 and n_targets:
        raise DatasetError(f"{where}: answer has no [SEG] but the file has {n_targets} "
                           "target shapes")
    return [rasterize_shapes(group + shared, height, width, where) == TARGET_VALUE
            for group in by_group]


def read_sample(path: str | Path) -> ReasonSegSample:
    """Read one sample given its ``.json`` or ``.jpg`` path (or the common stem).

    :raises DatasetError: missing image or JSON, bad JSON, malformed or out-of-range shapes,
        group ids that do not match the answer's ``[SEG]`` count.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (IMAGE_SUFFIX, JSON_SUFFIX) else path
    json_path = stem.with_name(stem.name + JSON_SUFFIX)
    image_path = stem.with_name(stem.name + IMAGE_SUFFIX)
    if not json_path.is_file():
        raise DatasetError(f"{json_path}: JSON file missing (image {image_path.name} has no "
                           "annotation)")
    data = _load_json(json_path)
    image = _load_image(image_path)
    height, width = image.shape[:2]
    where = str(json_path)
    mask = rasterize_shapes(data["shapes"], height, width, where)

    answer = data.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise DatasetError(f"{where}: 'answer' must be a string")
    if answer is None:
        target_masks = [mask == TARGET_VALUE]
    else:
        target_masks = _group_masks(data, height, width, where)
    answers = data.get("answers") or []
    extra = {k: v for k, v in data.items() if k not in _OFFICIAL_KEYS + _OUR_KEYS}
    return ReasonSegSample(
        name=stem.name, image_path=image_path, json_path=json_path, image=image,
        texts=list(data["text"]), is_sentence=data["is_sentence"], mask=mask,
        target_masks=target_masks, ignore_mask=mask == IGNORE_VALUE,
        family=data.get("family"), answer=answer, answers=list(answers),
        explanation=data.get("explanation"), extra=extra,
    )


def iter_samples(folder: str | Path, limit: int | None = None) -> Iterator[ReasonSegSample]:
    """Samples of ``folder`` in sorted name order, at most ``limit`` of them.

    :raises DatasetError: on the first unreadable sample (see :func:`read_sample`).
    """
    for name in select_sample_names(folder, limit=limit):
        yield read_sample(Path(folder) / name)


_POINT = re.compile(r"\[\s+(-?[\d.eE+-]+),\s+(-?[\d.eE+-]+)\s+\]")


def _dumps(record: dict) -> str:
    """Indented JSON with each [x, y] point on one line (readable, a third of the size)."""
    return _POINT.sub(r"[\1, \2]", json.dumps(record, ensure_ascii=False, indent=1))


def write_record(folder: str | Path, name: str, image: np.ndarray, record: dict) -> Path:
    """Write ``<name>.jpg`` (JPEG quality 95) and ``<name>.json`` (``record`` as is).

    :param image: (H, W, 3) uint8 RGB.
    :param record: the JSON object; must hold ``text``, ``is_sentence`` and ``shapes``.
    :returns: path of the JSON file.
    :raises DatasetError: bad image array, missing keys, or the image cannot be encoded.
    """
    import cv2
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DatasetError(f"{name}: image must be (H, W, 3) uint8 RGB, got "
                           f"{image.shape} {image.dtype}")
    for key in _OFFICIAL_KEYS:
        if key not in record:
            raise DatasetError(f"{name}: record lacks {key!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(IMAGE_SUFFIX, cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise DatasetError(f"{name}: JPEG encoding failed")
    (folder / (name + IMAGE_SUFFIX)).write_bytes(buf.tobytes())
    json_path = folder / (name + JSON_SUFFIX)
    json_path.write_text(_dumps(record) + "\n", encoding="utf-8")
    return json_path


def write_sample(folder: str | Path, name: str, image: np.ndarray, texts: Sequence[str],
                 is_sentence: bool, target_masks: Sequence[np.ndarray],
                 ignore_masks: Sequence[np.ndarray | None] | None = None,
                 answer: str | None = None, extra: dict | None = None) -> Path:
    """Write a sample from masks: polygons are traced with
    :func:`lisa_ros.data.polygons.masks_to_shapes` (group ``k`` for ``target_masks[k]``).

    :param image: (H, W, 3) uint8 RGB.
    :param texts: 1+ phrasings of the query.
    :param target_masks: one (H, W) mask per ``[SEG]`` of ``answer``.
    :param ignore_masks: optional per-target ignore masks (same length as ``target_masks``).
    :param answer: answer with ``[SEG]`` markers; when given, its count must equal
        ``len(target_masks)``; when None, the file is official-style (one group).
    :param extra: further JSON keys (``family``, ``objects``, ...), written after the
        official ones.
    :returns: path of the JSON file.
    """
    texts = [str(t) for t in texts]
    if not texts:
        raise DatasetError(f"{name}: at least one text is required")
    if answer is not None and count_seg(answer) != len(target_masks):
        raise DatasetError(f"{name}: answer has {count_seg(answer)} [SEG] but "
                           f"{len(target_masks)} target masks were given")
    h, w = np.asarray(image).shape[:2]
    for m in target_masks:
        if np.asarray(m).shape != (h, w):
            raise DatasetError(f"{name}: mask shape {np.asarray(m).shape} != image {(h, w)}")
    record: dict[str, Any] = {
        "text": texts,
        "is_sentence": bool(is_sentence),
        "shapes": masks_to_shapes(target_masks, ignore_masks),
        "imagePath": name + IMAGE_SUFFIX,
        "imageHeight": int(h),
        "imageWidth": int(w),
    }
    if answer is not None:
        record["answer"] = answer
    if extra:
        record.update(extra)
    return write_record(folder, name, image, record)
