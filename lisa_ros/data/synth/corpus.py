"""Every sentence the generator can say, for training the demo model's tokenizer.

:func:`instruction_corpus` fills each template with every category (and, where a template
takes one, a colour of that category), every concept question with and without an
explanation suffix, every answer template, and LISA's own prompt templates, so a
SentencePiece model trained on it has a piece for every word the data uses.
"""
from __future__ import annotations

from lisa_ros.data.synth import templates as T
from lisa_ros.data.synth.categories import CATEGORIES, describe
from lisa_ros.data.synth.knowledge import CONCEPTS, FUNCTIONAL
from lisa_ros.data.synth.language import capitalise, slots_for

__all__ = ["instruction_corpus", "LISA_PROMPT_TEMPLATES"]

# Prompt wrappers of LISA's training and evaluation (docs/model-reference.md §10.3, §9.1).
LISA_PROMPT_TEMPLATES = (
    "Can you segment the {x} in this image?", "Please segment the {x} in this image.",
    "What is {x} in this image? Please respond with segmentation mask.",
    "What is {x} in this image? Please output segmentation mask.",
    "{x} Please respond with segmentation mask.", "{x} Please output segmentation mask.",
)


def _fill(templates, slots) -> list[str]:
    return [capitalise(t.format(**slots)) if t.rstrip().endswith((".", "?", "!"))
            else t.format(**slots) for t in templates]


def instruction_corpus() -> list[str]:
    """Unique example sentences (queries, answers, explanations, prompt wrappers), in a fixed
    order. About 20k lines; deterministic (no randomness)."""
    out: list[str] = []
    names = list(CATEGORIES)
    for cat in CATEGORIES.values():
        colours = [None] + (list(cat.colours) if cat.colour_adjective else [])
        for colour in colours:
            s = slots_for(cat.name, colour)
            out += _fill(T.EXPLICIT_PHRASES + T.EXPLICIT_SENTENCES, s)
            out += _fill(T.DESCRIBED_ANSWERS + T.ABSENT_ANSWERS, s)
            for present in cat.colours:
                out += _fill(T.ABSENT_COLOUR_ANSWERS, {**s, "colour": present})
            out += [t.format(x=f"the {s['desc']}") for t in LISA_PROMPT_TEMPLATES]
        s = slots_for(cat.name, None)
        out += _fill(T.FUNCTIONAL_ANSWERS + T.KNOWLEDGE_ANSWERS, s)
    out += list(T.GENERIC_ANSWERS)
    for k, ref in enumerate(names):
        for thing in T.THINGS + (names[(k + 3) % len(names)],):
            for words in T.SPATIAL_RELATIONS.values():
                for rel in words:
                    out += _fill(T.SPATIAL_PHRASES + T.SPATIAL_SENTENCES,
                                 {"thing": thing, "ref": ref, "rel": rel})
            for phrases, sentences in T.COMPARATIVE.values():
                out += _fill(phrases + sentences, {"thing": thing, "ref": ref})
    for i, a in enumerate(names):
        b = names[(i + 5) % len(names)]
        ca, cb = CATEGORIES[a], CATEGORIES[b]
        da = describe(a, ca.colours[i % len(ca.colours)])
        slots = {"a": da, "b": b, "be_a": "are" if ca.plural else "is",
                 "be_b": "are" if cb.plural else "is"}
        out += _fill(T.MULTI_PHRASES + T.MULTI_SENTENCES + T.MULTI_ANSWERS, slots)
    for concept in CONCEPTS:
        out += list(concept.phrases) + list(concept.sentences)
        for q in concept.sentences:
            out += [f"{q} {suffix}" for suffix in T.EXPLAIN_SUFFIXES]
            out += [t.format(x=q) for t in LISA_PROMPT_TEMPLATES if t.startswith("{x}")]
        for member, reason in concept.reasons.items():
            s = {**slots_for(member, None), "reason": reason, "Reason": capitalise(reason)}
            pool = T.EXPLAIN_FUNCTIONAL if concept.kind == FUNCTIONAL else T.EXPLAIN_KNOWLEDGE
            out += _fill(pool, s)
            out.append(f"Sure, [SEG]. {capitalise(reason)}.")
    return list(dict.fromkeys(out))
