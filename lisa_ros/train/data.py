"""Training samples: images with several conversations each (LISA's ``offset`` batching).

A *source* yields :class:`SceneRecord` objects (one image, its texts, its target masks); a
:class:`TrainStream` turns them into :class:`TrainItem` objects, each an image with up to
``conversations_per_image`` conversations built from different texts of that image (the
official ReasonSeg loader samples up to 3 texts per image). The image encoders then run once
per image for all of its conversations.

Sampling is stateless: the item at global position ``t`` depends only on ``(seed, t)``, so a
resumed run sees exactly the samples the uninterrupted run would have seen.

Sources:

* :class:`FolderSource`: a ReasonSeg-format folder (ours or the official one), read lazily.
  Samples with an ``answer`` use it (or one of their ``answers``); official samples get a
  random :data:`~lisa_ros.train.templates.ANSWER_LIST` answer and one target mask.
* :class:`SynthSource`: synthetic scenes rendered on the fly by :mod:`lisa_ros.data.synth`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from .dense_aux import LabelMaps, label_maps
from .prompt_aux import draw_object_prompts
from .templates import official_answer, training_question

__all__ = [
    "SceneRecord",
    "Conversation",
    "TrainItem",
    "Source",
    "FolderSource",
    "SynthSource",
    "TrainStream",
    "Prefetcher",
    "make_conversations",
    "explicit_extras",
    "layout_extras",
    "absent_extras",
    "multi_extras",
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
        layout: the scene's object layout (synthetic scenes only; :func:`layout_extras`).
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


@dataclass
class Conversation:
    """One training conversation: the user turn, the answer and one mask per ``[SEG]``.

    ``absent_target`` marks a question about an object the image does not show (its answer says
    so, without ``[SEG]``), as opposed to a maskless question about the scene (VQA): the look-up
    loss (:mod:`~lisa_ros.train.lookup_aux`) treats the two differently.
    """

    question: str
    answer: str
    masks: list[np.ndarray] = field(default_factory=list)
    absent_target: bool = False


@dataclass
class TrainItem:
    """An image with its conversations (all share the image's encoder passes)."""

    name: str
    image: np.ndarray
    family: str | None
    conversations: list[Conversation]
    label_maps: "LabelMaps | None" = None  # per-pixel category/colour (synthetic scenes; dense_aux)
    object_prompts: list = field(default_factory=list)  # box / point prompts on objects (prompt_aux)


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


# An object gets an extra "explicit" conversation only if this much of it is visible.
_EXTRA_MIN_PIXELS = 24
# Words that do not describe a target ("Sure, it is [SEG]." names nothing).
_GENERIC_WORDS = frozenset(
    "sure it is the segmentation result they are here this and that i found a an there".split()
)


def names_target_first(answer: str) -> bool:
    """True when the text before the first ``[SEG]`` names something ("It is the mug [SEG].")."""
    head = answer.split("[SEG]", 1)[0]
    words = "".join(ch.lower() if ch.isalnum() or ch.isspace() else " " for ch in head).split()
    return any(word not in _GENERIC_WORDS for word in words)


def _pick_answer(answers: list[str], rng: np.random.Generator, described_prob: float) -> str:
    """One of ``answers``; with probability ``described_prob`` one that names its target before
    the ``[SEG]`` (when there is one), so the ``[SEG]`` state can build on the generated name."""
    if described_prob > 0 and rng.random() < described_prob:
        named = [a for a in answers if names_target_first(a)]
        if named:
            return named[int(rng.integers(len(named)))]
    return answers[int(rng.integers(len(answers)))]


# Stated answers: the verdict comes right after the name, in the words of the checklists of
# train.vqa ("The cup is not here."), so that deciding whether to answer with a mask is the same
# look-up those drill, made at the same place.
STATED_PRESENT = "The {desc} {be} here: [SEG]."
STATED_ABSENT = "The {desc} {be} not here."


def explicit_extras(
    record: SceneRecord, rng: np.random.Generator, count: int, described_prob: float = 0.0, *, stated_prob: float = 0.0
) -> list[Conversation]:
    """Up to ``count`` extra conversations about other objects of a synthetic scene.

    Each names one object by a description unique in the scene (its category, else colour and
    category: "the red mug"), in a SHORT question template, with a LISA template answer and
    the object's visible mask (with probability ``described_prob`` an answer that names the
    object, from the synthetic data's own answer templates; with probability ``stated_prob``,
    drawn last, :data:`STATED_PRESENT`). More mask supervision per image-encoder pass; records
    without object masks (folders) give none.
    """
    if count <= 0 or not record.object_masks:
        return []
    from lisa_ros.data.synth import templates as T
    from lisa_ros.data.synth.language import be, capitalise

    options = _describable_objects(record)
    extras = []
    for choice in rng.permutation(len(options))[:count]:
        names, mask, category = options[int(choice)]
        name = names[int(rng.integers(len(names)))]
        # SHORT templates carry the article themselves ("Can you segment the {class_name} ...")
        question = training_question(name, False, rng)
        if described_prob > 0 and rng.random() < described_prob:
            template = T.DESCRIBED_ANSWERS[int(rng.integers(len(T.DESCRIBED_ANSWERS)))]
            answer = capitalise(template.format(desc=name, be=be(category)))
        else:
            answer = official_answer(rng)
        if stated_prob > 0 and rng.random() < stated_prob:
            answer = STATED_PRESENT.format(desc=name, be=be(category))
        extras.append(Conversation(question, answer, [mask]))
    return extras


def layout_extras(record: SceneRecord, rng: np.random.Generator, family: str, count: int,
                  described_prob: float = 0.0, phrase_long_prob: float = 0.0) -> list[Conversation]:
    """Up to ``count`` extra conversations of ``family`` (spatial or comparative) about a synthetic
    scene of any family, from its layout: the family's own queries and answers
    (:func:`~lisa_ros.data.synth.families.phrase_on_layout`), one phrasing each, with the targets'
    visible masks.

    The reasoning families are otherwise asked once per scene of their own, an eighth of the
    images, while every image shows a layout they could be asked of. A query whose target is
    (nearly) hidden is skipped; records without a layout (folders) give none.
    """
    if count <= 0 or record.layout is None:
        return []
    from lisa_ros.data.synth.families import phrase_on_layout

    extras, asked = [], set()
    for _ in range(count):
        query = phrase_on_layout(family, rng, record.layout)
        if query is None:
            break
        masks = [record.object_masks[target] for target in query.targets]
        key = (tuple(query.targets), repr(sorted(query.info.items())))
        if key in asked or any(int(mask.sum()) < _EXTRA_MIN_PIXELS for mask in masks):
            continue  # the same question again, or a target too hidden to learn from
        asked.add(key)
        text = query.texts[int(rng.integers(len(query.texts)))]
        question = training_question(text, query.is_sentence, rng, phrase_long_prob)
        answer = _pick_answer([query.answer, *query.answers], rng, described_prob)
        extras.append(Conversation(question, answer, masks))
    return extras


def _describable_objects(record: SceneRecord) -> list[tuple[list[str], np.ndarray, str]]:
    """(unique names, visible mask, category) of the objects a phrase can single out."""
    from lisa_ros.data.synth.categories import describe

    categories = [c for c, _ in record.objects]
    pairs = [describe(c, colour) for c, colour in record.objects]
    options = []
    for index, (category, colour) in enumerate(record.objects):
        mask = record.object_masks[index]
        if int(mask.sum()) < _EXTRA_MIN_PIXELS:
            continue
        if categories.count(category) == 1:
            names = [describe(category, None), pairs[index]] if pairs[index] != category else [category]
        elif pairs.count(pairs[index]) == 1 and pairs[index] != category:
            names = [pairs[index]]
        else:
            continue
        options.append((names, mask, category))
    return options


def multi_extras(record: SceneRecord, rng: np.random.Generator, prob: float, described_prob: float = 0.0) -> list[Conversation]:
    """With probability ``prob``, one extra conversation asking for two objects of a synthetic
    scene at once (the data's multi-target templates; two ``[SEG]``, two masks in order)."""
    if prob <= 0 or not record.object_masks or rng.random() >= prob:
        return []
    options = _describable_objects(record)
    if len(options) < 2:
        return []
    from lisa_ros.data.synth import templates as T
    from lisa_ros.data.synth.language import be, capitalise

    first, second = (options[int(i)] for i in rng.choice(len(options), size=2, replace=False))
    slots = {"a": first[0][-1], "b": second[0][-1], "be_a": be(first[2]), "be_b": be(second[2])}
    if rng.random() < 0.5:
        sentence = T.MULTI_SENTENCES[int(rng.integers(len(T.MULTI_SENTENCES)))].format(**slots)
        question = training_question(sentence, True, rng)
    else:
        phrase = T.MULTI_PHRASES[int(rng.integers(len(T.MULTI_PHRASES)))].format(**slots)
        question = training_question(phrase, False, rng)
    answers = [a.format(**slots) for a in T.MULTI_ANSWERS]
    answer = capitalise(_pick_answer(answers, rng, described_prob))
    return [Conversation(question, answer, [first[1], second[1]])]


def present_answer_openings() -> frozenset[str]:
    """First words of every answer template that carries a ``[SEG]`` (the synthetic data's own,
    the official ``ANSWER_LIST`` and :data:`STATED_PRESENT`), template slots stripped of their
    braces: the words an absent-target lead word must differ from."""
    from lisa_ros.data.synth import templates as T

    from .templates import ANSWER_LIST

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)

    texts = [t for v in vars(T).values() for t in strings(v)] + list(ANSWER_LIST) + [STATED_PRESENT]
    return frozenset(t.split(" ", 1)[0].rstrip(",.:;").strip("{}") for t in texts if "[SEG]" in t)


def lead_absent_answer(answer: str, lead: str) -> str:
    """``answer`` with ``lead`` as its first word: "I can't find a mug here." -> "No, I can't find a
    mug here."; "There is no mug." -> "No, there is no mug.". An answer that already begins with
    ``lead`` is kept. Empty ``lead``: unchanged.

    Why: absent-target answers otherwise begin with several words, two of which ("I", "The") also
    begin answers with a mask, so the "not there" probability at the first answer token is split
    and greedy decoding picks a present-target opening unless it is very sure. With one lead word
    that no present-target answer uses, the decision is made by one token (lisa-train --absent-lead).
    """
    if not lead or answer.split(" ", 1)[0].rstrip(",.") == lead:
        return answer
    if answer != "I" and not answer.startswith(("I ", "I'")):  # "I" keeps its capital
        answer = answer[:1].lower() + answer[1:]
    return f"{lead}, {answer}"


def absent_extras(record: SceneRecord, rng: np.random.Generator, expected: float, *,
                  stated_prob: float = 0.0) -> list[Conversation]:
    """Extra conversations about objects that are *not* in a synthetic scene (no ``[SEG]``).

    ``expected`` conversations on average (its integer part always, one more with the
    fractional part as probability). Each asks for a category absent from the scene, or for a
    colour of a present category that no object of it has, in a SHORT question template, and
    is answered with the synthetic data's own absent-target answers. They balance the positive
    :func:`explicit_extras`: the model must look at the image to decide whether to answer
    with a mask (with probability ``stated_prob``, drawn last: :data:`STATED_ABSENT`). Records
    without object lists give none.
    """
    if expected <= 0 or not record.objects:
        return []
    from lisa_ros.data.synth import templates as T
    from lisa_ros.data.synth.categories import CATEGORIES, CATEGORY_NAMES, get_category
    from lisa_ros.data.synth.language import capitalise, slots_for

    count = int(expected) + int(rng.random() < expected - int(expected))
    present = {c for c, _ in record.objects}
    colours = {colour for _, colour in record.objects}
    missing = [c for c in CATEGORY_NAMES if c not in present and c not in colours]
    out = []
    for _ in range(count):
        recolour = [c for c in sorted(present) if get_category(c).colour_adjective]
        if recolour and rng.random() < 0.35:
            category = recolour[int(rng.integers(len(recolour)))]
            have = {colour for c, colour in record.objects if c == category}
            options = [colour for colour in CATEGORIES[category].colours if colour not in have]
            if not options:
                continue
            colour = options[int(rng.integers(len(options)))]
        elif missing:
            category = missing[int(rng.integers(len(missing)))]
            cat = get_category(category)
            colour = cat.colours[int(rng.integers(len(cat.colours)))] if cat.colour_adjective and rng.random() < 0.3 else None
        else:
            continue
        slots = slots_for(category, colour)
        answer = capitalise(T.ABSENT_ANSWERS[int(rng.integers(len(T.ABSENT_ANSWERS)))].format(**slots))
        if stated_prob > 0 and rng.random() < stated_prob:
            answer = STATED_ABSENT.format(**slots)
        out.append(Conversation(training_question(slots["desc"], False, rng), answer, [], absent_target=True))
    return out


def make_conversations(
    record: SceneRecord, rng: np.random.Generator, count: int, phrase_long_prob: float = 0.0, extra_explicit: int = 0,
    extra_absent: float = 0.0, described_prob: float = 0.0, extra_multi: float = 0.0, extra_vqa: int = 0,
    extra_checklist: int = 0, stated_prob: float = 0.0,
) -> list[Conversation]:
    """Up to ``count`` conversations of one record, each from a different text (plus up to
    ``extra_explicit`` :func:`explicit_extras` and about ``extra_absent`` :func:`absent_extras`).

    Each gets a random question template and a random answer (own answers, or a template
    answer for official samples). Official samples' single mask goes with every answer;
    own answers carry one mask per ``[SEG]``.
    """
    from lisa_ros.data.reasonseg import count_seg

    texts = list(record.texts)
    chosen = rng.choice(len(texts), size=min(count, len(texts)), replace=False)
    conversations = []
    for text_index in chosen:
        question = training_question(texts[int(text_index)], record.is_sentence, rng, phrase_long_prob)
        if record.answers:
            answer = _pick_answer(record.answers, rng, described_prob)
            masks = list(record.target_masks)
        else:
            answer = official_answer(rng)
            masks = list(record.target_masks[:1])
        if count_seg(answer) != len(masks):
            raise ValueError(
                f"{record.name}: answer {answer!r} has {count_seg(answer)} [SEG] but {len(masks)} masks"
            )
        absent = record.family == "absent" and not masks
        conversations.append(Conversation(question, answer, masks, absent_target=absent))
    extras = (
        explicit_extras(record, rng, extra_explicit, described_prob, stated_prob=stated_prob)
        + multi_extras(record, rng, extra_multi, described_prob)
        + absent_extras(record, rng, extra_absent, stated_prob=stated_prob)
    )
    if extra_vqa > 0:
        from .vqa import vqa_extras

        extras += vqa_extras(record, rng, extra_vqa)
    if extra_checklist > 0:  # drawn last, so that runs without checklists keep their streams
        from .vqa import checklist_extras

        extras += checklist_extras(record, rng, extra_checklist)
    return conversations + extras


class TrainStream:
    """The deterministic stream of training items over a source.

    Item ``t`` is record ``perm_e[t mod N]`` of epoch ``e = t // N`` (a fresh permutation per
    epoch, seeded by ``(seed, e)``); endless sources are read in order. Its conversations are
    drawn with a generator seeded by ``(seed, t)``.
    """

    def __init__(self, source: Source, seed: int, conversations_per_image: int = 3, phrase_long_prob: float = 0.0,
                 extra_explicit: int = 0, extra_absent: float = 0.0, described_prob: float = 0.0,
                 extra_multi: float = 0.0, extra_vqa: int = 0, dense_labels: bool = False, extra_checklist: int = 0,
                 stated_prob: float = 0.0, absent_lead: str = "", object_prompts: int = 0,
                 extra_layout: dict[str, int] | None = None):
        self.source = source
        # extra spatial / comparative conversations per image, asked of its layout (layout_extras)
        self.extra_layout = {family: int(n) for family, n in (extra_layout or {}).items() if int(n) > 0}
        # up to this many objects per image get a box or point prompt (train.prompt_aux; synthetic
        # scenes, which know every object's mask)
        self.object_prompts = int(object_prompts)
        self.absent_lead = str(absent_lead)
        # per-pixel category/colour maps only for runs that use them (train.dense_aux): they cost
        # a paint per object and 300 KB per 320x240 item on the way from a prefetch worker
        self.dense_labels = bool(dense_labels)
        self.extra_vqa = int(extra_vqa)
        self.extra_checklist = int(extra_checklist)
        self.stated_prob = float(stated_prob)
        self.extra_multi = float(extra_multi)
        self.described_prob = float(described_prob)
        self.extra_explicit = int(extra_explicit)
        self.extra_absent = float(extra_absent)
        self.seed = int(seed)
        self.conversations_per_image = int(conversations_per_image)
        self.phrase_long_prob = float(phrase_long_prob)
        self._perm_epoch = -1
        self._perm = None

    def _index(self, position: int) -> int:
        size = len(self.source)
        if size >= 2**62:
            return position
        epoch, offset = divmod(position, size)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, 1, epoch]).permutation(size)
            self._perm_epoch = epoch
        return int(self._perm[offset])

    def item(self, position: int) -> TrainItem:
        record = self.source.record(self._index(position))
        rng = np.random.default_rng([self.seed, 2, position])
        conversations = make_conversations(
            record, rng, self.conversations_per_image, self.phrase_long_prob, self.extra_explicit, self.extra_absent,
            self.described_prob, self.extra_multi, self.extra_vqa, self.extra_checklist, self.stated_prob,
        )
        if self.extra_layout:  # a generator of its own, so that the other draws do not change with it
            layout_rng = np.random.default_rng([self.seed, 4, position])
            for family, count in self.extra_layout.items():
                conversations += layout_extras(record, layout_rng, family, count, self.described_prob,
                                               self.phrase_long_prob)
        if self.absent_lead:  # rewritten after the draws, so the stream's randomness is unchanged
            for conversation in conversations:
                if conversation.absent_target:
                    conversation.answer = lead_absent_answer(conversation.answer, self.absent_lead)
        maps = label_maps(record.objects, record.object_masks) if self.dense_labels else None
        prompts = []
        if self.object_prompts and record.object_masks:
            # a generator of its own, so that the conversations' draws do not change with it
            prompt_rng = np.random.default_rng([self.seed, 3, position])
            prompts = draw_object_prompts(record.object_masks, prompt_rng, self.object_prompts)
        return TrainItem(record.name, record.image, record.family, conversations, maps, prompts)

    def items(self, start: int, count: int) -> list[TrainItem]:
        return [self.item(start + k) for k in range(count)]


_WORKER_STREAM: TrainStream | None = None


def _worker_init(stream: TrainStream) -> None:
    global _WORKER_STREAM
    _WORKER_STREAM = stream


def _worker_item(position: int) -> TrainItem:
    return _WORKER_STREAM.item(position)


class Prefetcher:
    """Reads a :class:`TrainStream` ahead in worker processes (positions are known in advance).

    With ``workers == 0`` it reads in the calling process. The items are the same either way.
    """

    def __init__(self, stream: TrainStream, workers: int = 0, lookahead: int = 32):
        self.stream = stream
        self.lookahead = int(lookahead)
        self._futures: dict = {}
        self._next = None
        self._pool = None
        if workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init, initargs=(stream,)
            )

    def items(self, start: int, count: int) -> list[TrainItem]:
        if self._pool is None:
            return self.stream.items(start, count)
        if self._next is None or self._next < start:
            self._next = start
        while self._next < start + count + self.lookahead:
            self._futures[self._next] = self._pool.submit(_worker_item, self._next)
            self._next += 1
        out = []
        for position in range(start, start + count):
            future = self._futures.pop(position, None)
            out.append(future.result() if future is not None else self.stream.item(position))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
