"""Phrasing templates of the instruction families and their answers.

Slots (``str.format`` fields):

- ``{desc}``: noun phrase without article ("red mug"); ``{a_desc}``: with an indefinite
  article ("a red mug", "a pair of scissors"); ``{be}``: "is" or "are" to agree with it;
- ``{thing}``: "object", "thing", "item", or a category noun ("mug") for spatial and
  comparative queries; ``{ref}``: the reference object's noun phrase; ``{rel}``: a relation;
- ``{a}``, ``{b}``, ``{be_a}``, ``{be_b}``: the two targets of a multi-target query;
- ``{noun}``: the target's category noun in answers; ``{reason}`` / ``{Reason}``: an
  explanation clause, lower-case / capitalised;
- ``{colour}``: the actual colour of a present object (absent-colour answers).

Phrase templates (``is_sentence`` false) are noun phrases, the way ReasonSeg's short queries
are ("the red mug"); sentence templates are full requests or questions.
"""
from __future__ import annotations

__all__ = [
    "GENERIC_ANSWERS", "DESCRIBED_ANSWERS", "EXPLICIT_PHRASES", "EXPLICIT_SENTENCES",
    "FUNCTIONAL_ANSWERS", "KNOWLEDGE_ANSWERS", "SPATIAL_RELATIONS", "SPATIAL_PHRASES",
    "SPATIAL_SENTENCES", "THINGS", "COMPARATIVE", "MULTI_PHRASES", "MULTI_SENTENCES",
    "MULTI_ANSWERS", "ABSENT_ANSWERS", "ABSENT_COLOUR_ANSWERS", "EXPLAIN_SUFFIXES",
    "EXPLAIN_FUNCTIONAL", "EXPLAIN_KNOWLEDGE",
]

# LISA's own single-target answers (docs/model-reference.md §10.3), used as is.
GENERIC_ANSWERS = ("It is [SEG].", "Sure, [SEG].", "Sure, it is [SEG].",
                   "Sure, the segmentation result is [SEG].", "[SEG].")
# Answers that name what was found: the text before [SEG] becomes the mask's phrase.
DESCRIBED_ANSWERS = ("It is the {desc} [SEG].", "The {desc} {be} here: [SEG].",
                     "Sure, the {desc} [SEG].", "Here {be} the {desc}: [SEG].",
                     "I found the {desc} [SEG].", "Sure, this is the {desc} [SEG].")

EXPLICIT_PHRASES = ("the {desc}", "{desc}", "the {desc} on the table", "the {desc} here",
                    "the {desc} in the picture")
EXPLICIT_SENTENCES = (
    "Segment the {desc}.", "Please segment the {desc}.", "Where {be} the {desc}?",
    "Can you find the {desc}?", "Show me the {desc}.", "Find the {desc} in this image.",
    "Highlight the {desc}.", "Please point out the {desc}.", "I am looking for the {desc}.",
    "Mark the {desc} for me.", "Could you locate the {desc} on the table?",
    "Can you segment the {desc} in this image?", "Give me a mask of the {desc}.",
    "Pick out the {desc}.", "Where can I find the {desc}?", "Which object is the {desc}?",
)

FUNCTIONAL_ANSWERS = ("You can use the {noun} [SEG].", "Try the {noun} [SEG].",
                      "The {noun} [SEG] would work.", "Use the {noun} [SEG].",
                      "The {noun} [SEG] {be} what you need.")
KNOWLEDGE_ANSWERS = ("It is the {noun} [SEG].", "That is the {noun} [SEG].",
                     "The {noun} [SEG].", "Sure, the {noun} [SEG] fits.")

# relation key -> wordings, each fitting "the object {rel} the mug" and "What is {rel} the mug?"
SPATIAL_RELATIONS = {
    "left": ("to the left of", "left of", "on the left side of", "on the left of"),
    "right": ("to the right of", "right of", "on the right side of", "on the right of"),
    "above": ("above", "behind", "further back than"),
    "below": ("below", "in front of", "nearer to the camera than"),
}
THINGS = ("object", "thing", "item")
SPATIAL_PHRASES = ("the {thing} {rel} the {ref}", "the {thing} that is {rel} the {ref}",
                   "the {thing} located {rel} the {ref}", "whatever is {rel} the {ref}")
SPATIAL_SENTENCES = (
    "Segment the {thing} {rel} the {ref}.", "What is {rel} the {ref}?",
    "Which {thing} is {rel} the {ref}?", "Find the {thing} that is {rel} the {ref}.",
    "Show me what is {rel} the {ref}.", "Can you segment the {thing} located {rel} the {ref}?",
    "Please point out the {thing} {rel} the {ref}.",
    "There is something {rel} the {ref}. What is it?", "Highlight whatever is {rel} the {ref}.",
    "I need the {thing} {rel} the {ref}.", "Look at the {ref}. Which {thing} is {rel} it?",
    "Which {thing} sits {rel} the {ref}?",
)

# criterion -> (phrases, sentences); {thing} as above, {ref} for the relative criteria.
COMPARATIVE = {
    "largest": (
        ("the largest {thing}", "the biggest {thing} on the table", "the largest {thing} in "
         "the picture", "the {thing} that takes up the most space in the image"),
        ("Which {thing} is the largest?", "Segment the biggest {thing}.",
         "Find the largest {thing} on the table.", "What is the biggest {thing} here?",
         "Show me the {thing} that looks largest.",
         "Please segment the largest {thing} in the image.")),
    "smallest": (
        ("the smallest {thing}", "the tiniest {thing} on the table",
         "the smallest {thing} in the picture"),
        ("Which {thing} is the smallest?", "Segment the smallest {thing}.",
         "Find the tiniest {thing} on the table.", "What is the smallest {thing} here?",
         "Show me the {thing} that looks smallest.")),
    "leftmost": (
        ("the leftmost {thing}", "the {thing} furthest to the left",
         "the {thing} on the far left"),
        ("Which {thing} is furthest to the left?", "Segment the leftmost {thing}.",
         "What {thing} is on the far left of the table?",
         "Find the {thing} closest to the left edge of the image.")),
    "rightmost": (
        ("the rightmost {thing}", "the {thing} furthest to the right",
         "the {thing} on the far right"),
        ("Which {thing} is furthest to the right?", "Segment the rightmost {thing}.",
         "What {thing} is on the far right of the table?",
         "Find the {thing} closest to the right edge of the image.")),
    "front": (
        ("the {thing} closest to the camera", "the frontmost {thing}",
         "the {thing} at the front of the table"),
        ("Which {thing} is closest to the camera?", "Segment the {thing} at the front.",
         "Find the {thing} nearest to the viewer.",
         "What is the frontmost {thing} on the table?")),
    "back": (
        ("the {thing} furthest from the camera", "the {thing} at the back of the table",
         "the rearmost {thing}"),
        ("Which {thing} is furthest from the camera?", "Segment the {thing} at the back.",
         "Find the {thing} furthest back on the table.",
         "What is the rearmost {thing} on the table?")),
    "closest": (
        ("the {thing} closest to the {ref}", "the {thing} nearest to the {ref}",
         "the {thing} right next to the {ref}"),
        ("Which {thing} is closest to the {ref}?", "Segment the {thing} nearest to the {ref}.",
         "What is next to the {ref}?", "Find the {thing} nearest the {ref}.",
         "Show me the {thing} that is closest to the {ref}.")),
    "farthest": (
        ("the {thing} farthest from the {ref}", "the {thing} furthest away from the {ref}"),
        ("Which {thing} is farthest from the {ref}?",
         "Segment the {thing} furthest away from the {ref}.",
         "Find the {thing} that is farthest from the {ref}.")),
}

MULTI_PHRASES = ("the {a} and the {b}", "{a} and {b}", "both the {a} and the {b}",
                 "the {a} as well as the {b}")
MULTI_SENTENCES = (
    "Segment the {a} and the {b}.", "Where are the {a} and the {b}?",
    "Can you find the {a} and the {b}?", "Show me the {a} and the {b}.",
    "Please segment both the {a} and the {b}.", "Highlight the {a} as well as the {b}.",
    "Find the {a}, then the {b}.", "I need the {a} and the {b}. Where are they?",
    "Segment the {a}. Also segment the {b}.", "Point out the {a} and the {b} for me.",
    "Can you segment the {a} and the {b} in this image?",
)
MULTI_ANSWERS = (
    "The {a} [SEG] and the {b} [SEG].", "Sure, the {a} {be_a} [SEG] and the {b} {be_b} [SEG].",
    "The {a} {be_a} [SEG], and the {b} {be_b} [SEG].", "Sure, [SEG] and [SEG].",
    "Sure, they are [SEG] and [SEG].", "Here they are: the {a} [SEG] and the {b} [SEG].",
    "[SEG] and [SEG].",
)

ABSENT_ANSWERS = (
    "There {be} no {desc} in this image.", "I can't find {a_desc} here.",
    "Sorry, there {be} no {desc} in the picture.", "I don't see {a_desc} in this image.",
    "There isn't {a_desc} on the table.", "No {desc} can be seen in this image.",
    "I could not find {a_desc} in this image.", "The image does not contain {a_desc}.",
    "I looked, but there {be} no {desc} here.",
)
# When the category is present once but in another colour.
ABSENT_COLOUR_ANSWERS = (
    "There {be} no {desc} in this image; the {noun} here {be} {colour}.",
    "I can't find {a_desc}. The only {noun} in the image {be} {colour}.",
)

# LISA's explanatory question suffixes (docs/model-reference.md §10.3) plus a few plain ones.
EXPLAIN_SUFFIXES = (
    "Please output segmentation mask and explain why.",
    "Please output segmentation mask and explain the reason.",
    "Please output segmentation mask and give some explanation.",
    "Please explain why.", "Explain your answer.", "Can you also tell me why?",
    "Please give the reason.",
)
EXPLAIN_FUNCTIONAL = (
    "{Reason}, so you should use the {noun} [SEG].",
    "You can use the {noun} [SEG], because {reason}.",
    "The {noun} [SEG] {be} the best choice here: {reason}.",
    "Sure, it is the {noun} [SEG]. {Reason}.",
    "{Reason}. That makes the {noun} [SEG] the right object for this.",
    "I would pick the {noun} [SEG], since {reason}.",
)
EXPLAIN_KNOWLEDGE = (
    "{Reason}, so the answer is the {noun} [SEG].",
    "It is the {noun} [SEG], because {reason}.",
    "Sure, it is the {noun} [SEG]. {Reason}.",
    "The {noun} [SEG] fits the description, since {reason}.",
    "{Reason}. That is why it is the {noun} [SEG].",
)
