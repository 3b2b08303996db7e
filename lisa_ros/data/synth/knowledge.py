"""What the objects are for and what people know about them: the concepts behind the
``functional``, ``world_knowledge`` and ``explanatory`` instructions.

A :class:`Concept` is a set of member categories plus ways to ask for "the one object of this
kind". An instruction built from a concept is only used in a scene that holds exactly one
object of a member category, so it always has one answer. ``reasons`` give, per member, the
clause an explanatory answer uses ("a hammer has a heavy metal head for driving nails").
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Concept", "CONCEPTS", "concepts_of", "FUNCTIONAL", "WORLD_KNOWLEDGE"]

FUNCTIONAL = "functional"
WORLD_KNOWLEDGE = "world_knowledge"


@dataclass(frozen=True)
class Concept:
    """A kind of object described by use or by knowledge.

    Attributes:
        key: short identifier (stored in the sample JSON as ``concept``).
        kind: :data:`FUNCTIONAL` or :data:`WORLD_KNOWLEDGE`.
        members: the categories that fit.
        phrases: noun-phrase queries (``is_sentence`` false).
        sentences: sentence queries (``is_sentence`` true).
        reasons: member -> reason clause, lower-case, no final full stop.
    """

    key: str
    kind: str
    members: tuple[str, ...]
    phrases: tuple[str, ...]
    sentences: tuple[str, ...]
    reasons: dict[str, str]


def _c(key, kind, members, phrases, sentences, reasons) -> Concept:
    return Concept(key, kind, tuple(members), tuple(phrases), tuple(sentences), dict(reasons))


F, W = FUNCTIONAL, WORLD_KNOWLEDGE

CONCEPTS: tuple[Concept, ...] = (
    # ---------------------------------------------------------------- functional
    _c("drink", F, ["mug", "cup", "bottle", "can"],
       ["something I can drink from", "a thing to drink out of", "something that holds a drink",
        "what I could use to have a drink"],
       ["I'm thirsty, what can I use?", "I am thirsty. What on the table can help?",
        "What can I drink from?", "Which object could I use to have a drink?",
        "I want something to drink. What should I take?",
        "Is there anything here I could drink from?",
        "I'd like a drink. Which item should I use?",
        "After my run I need a drink. What should I grab?",
        "Give me something I can drink out of."],
       {"mug": "a mug is made for hot and cold drinks",
        "cup": "a cup is made for holding a drink",
        "bottle": "a bottle holds a drink that you can sip straight from it",
        "can": "a can usually holds a soft drink that is ready to open"}),
    _c("pour_into", F, ["mug", "cup", "bowl"],
       ["something I could pour water into", "a container to pour milk into",
        "something that can hold a liquid I pour"],
       ["What can I pour water into?",
        "I need something to pour some milk into. What can I use?",
        "Which item could I pour juice into?", "Where can I pour this tea?",
        "Is there a container here that I could pour water into?",
        "I want to pour some water. Which object can catch it?",
        "Which object on the table could I fill with water?"],
       {"mug": "a mug is an open container that holds liquid",
        "cup": "a cup has an open top and holds liquid",
        "bowl": "a bowl is an open, deep dish that can hold liquid"}),
    _c("hot_drink", F, ["mug", "cup"],
       ["something for my hot coffee", "what I would serve tea in"],
       ["Which item should I pour my hot coffee into?", "What can I serve tea in?",
        "I'm making hot chocolate. What should I put it in?",
        "Which object is meant for a hot drink in the morning?"],
       {"mug": "a mug has thick walls and a handle, so you can hold a hot drink",
        "cup": "a cup is made to hold a drink such as tea or coffee"}),
    _c("carry_water", F, ["bottle"],
       ["something to take water with me on a hike", "a container I can close and carry"],
       ["What can I take water in on a hike?",
        "I need a container with a lid to carry my drink in my bag. What should I use?",
        "Which item can I refill and carry around?",
        "Which container can be closed with a cap?"],
       {"bottle": "a bottle has a cap, so you can close it and carry it without spilling"}),
    _c("slice", F, ["knife"],
       ["something to slice bread with", "a tool for slicing food",
        "something to spread butter with"],
       ["What can I use to slice bread?", "I want to cut this cheese. What should I use?",
        "Which item would help me chop vegetables?", "What could I spread butter with?",
        "I need to cut a steak. What do I use?", "Which object can slice a tomato?"],
       {"knife": "a knife has a sharp blade for slicing food"}),
    _c("cut", F, ["scissors", "knife"],
       ["something to cut paper with", "what I could use to cut a piece of string",
        "a tool for cutting a ribbon"],
       ["What can I use to cut paper?", "I need to cut this ribbon. What can I use?",
        "Which object can cut a piece of string?",
        "I want to cut open this plastic bag. What should I use?",
        "What could I use to cut a picture out of a magazine?",
        "Is there anything here that can cut tape?"],
       {"scissors": "scissors have two sharp blades that cut paper cleanly",
        "knife": "a knife has a sharp edge that cuts through paper and string"}),
    _c("nail", F, ["hammer"],
       ["something to drive a nail with", "a tool for hitting nails",
        "what I would use to hang a picture on a nail"],
       ["What should I use to hammer a nail?",
        "I need to drive a nail into the wall. What can I use?",
        "Which tool can knock a nail into wood?",
        "I want to hang a picture frame. Which tool helps me put the nail in?",
        "What could I use to pull out an old nail?",
        "Which object would help me build a birdhouse from boards and nails?"],
       {"hammer": "a hammer has a heavy metal head for driving nails and a claw for "
                  "pulling them out"}),
    _c("screw", F, ["screwdriver"],
       ["something to tighten a screw with", "a tool for turning screws"],
       ["What can I use to tighten a screw?",
        "The screw on this cabinet is loose. What should I use?",
        "Which tool can I use to take out a screw?",
        "I need to open a battery cover held by a small screw. What do I use?",
        "What would help me assemble furniture with screws?"],
       {"screwdriver": "a screwdriver has a tip that fits into the head of a screw so you "
                       "can turn it"}),
    _c("hungry", F, ["apple", "banana", "orange"],
       ["something I can eat", "a healthy snack", "something to eat on the go"],
       ["I'm hungry, what can I eat?", "What on the table is edible?",
        "I want a healthy snack. What should I eat?", "Which item could I eat right now?",
        "I skipped lunch. Is there anything here to eat?", "Give me something to eat.",
        "What could I pack as a snack for school?"],
       {"apple": "an apple is a fruit you can eat as it is",
        "banana": "a banana is a sweet fruit that is easy to peel and eat",
        "orange": "an orange is a juicy fruit you can peel and eat"}),
    _c("serve", F, ["plate"],
       ["something to put my food on", "what I would serve a slice of cake on"],
       ["Where can I put a slice of cake?", "What can I serve dinner on?",
        "I made a sandwich. What should I put it on?",
        "Which item is for putting food on?",
        "I need something flat to serve cookies on. What do I use?"],
       {"plate": "a plate is a flat dish for serving food"}),
    _c("soup", F, ["bowl"],
       ["something to eat soup from", "a dish for cereal with milk"],
       ["What should I eat my soup from?",
        "I want some cereal with milk. Which item should I use?",
        "What could I serve the salad in?", "Where should I put the popcorn?",
        "Which object can hold a portion of noodles with broth?"],
       {"bowl": "a bowl is deep and round, so it holds soup or cereal without spilling"}),
    _c("clean", F, ["sponge"],
       ["something to wipe up a spill", "what I could use to wash the dishes"],
       ["I spilled juice on the table. What should I use to clean it?",
        "What can I use to wash the dishes?", "Which item helps me scrub a dirty pan?",
        "The counter is wet. What could soak up the water?",
        "Which object is for wiping surfaces?"],
       {"sponge": "a sponge soaks up liquid and has a rough side for scrubbing"}),
    _c("read", F, ["book"],
       ["something to read", "something to pass the time on a long train ride"],
       ["I'm bored. What could I read?", "What can I read before bed?",
        "Which item would help me learn something new?",
        "I have a long flight. What could keep me busy?",
        "What could I read to a child at bedtime?"],
       {"book": "a book is full of pages with text to read"}),
    _c("play", F, ["ball"],
       ["something to play catch with", "something a child could play with",
        "a thing to throw and kick"],
       ["I want to play catch. What can I use?",
        "What could the kids play with in the garden?",
        "Which object can I throw to my dog?", "What would I kick in a game?",
        "We want to play a game outside. What should we bring?"],
       {"ball": "a ball is round and bounces, so it is made for throwing and kicking"}),
    # ----------------------------------------------------------- world knowledge
    _c("fruit", W, ["apple", "banana", "orange"],
       ["the fruit", "the piece of fruit", "the item that is a fruit",
        "the thing that grew on a plant"],
       ["Which object is a fruit?", "Segment the fruit.", "Where is the fruit?",
        "Find the item that grew on a tree or plant.",
        "Which thing would you find in a fruit bowl?", "Show me the fruit in this picture.",
        "What here would a greengrocer sell?"],
       {"apple": "an apple is a fruit that grows on trees",
        "banana": "a banana is a tropical fruit",
        "orange": "an orange is a citrus fruit"}),
    _c("citrus", W, ["orange"],
       ["the citrus fruit", "the fruit that shares its name with a colour",
        "the fruit famous for vitamin C"],
       ["Which object is a citrus fruit?",
        "Segment the fruit that has the same name as a colour.",
        "Which item is usually squeezed to make breakfast juice?",
        "Find the fruit known for its vitamin C."],
       {"orange": "an orange is a citrus fruit full of vitamin C and is named like its "
                  "colour"}),
    _c("monkey_fruit", W, ["banana"],
       ["the fruit monkeys love in cartoons", "the fruit known for potassium",
        "the fruit people slip on in cartoons"],
       ["Which fruit do monkeys love in cartoons?",
        "Segment the fruit that is rich in potassium.",
        "Find the fruit whose peel people slip on in cartoons."],
       {"banana": "bananas are the classic monkey food, rich in potassium, and their peel "
                  "is the cartoon slipping hazard"}),
    _c("newton_fruit", W, ["apple"],
       ["the fruit that fell on Newton's head in the famous story",
        "the fruit that keeps the doctor away", "the fruit from the story of Snow White"],
       ["Which fruit is said to keep the doctor away?",
        "Segment the fruit from the story about Isaac Newton and gravity.",
        "Find the fruit that the witch gave to Snow White."],
       {"apple": "the famous stories of Newton's gravity and of Snow White are about an "
                 "apple"}),
    _c("carpenter", W, ["hammer", "screwdriver"],
       ["what a carpenter would use", "the tool from a toolbox", "the hand tool",
        "something you would find in a workshop"],
       ["What would a carpenter use here?", "Which object belongs in a toolbox?",
        "Segment the hand tool.", "Which item would you find in a workshop?",
        "Find the tool a handyman would carry."],
       {"hammer": "a hammer is one of the basic tools of every carpenter",
        "screwdriver": "a screwdriver is a hand tool that every toolbox has"}),
    _c("nail_tool", W, ["hammer"],
       ["the item that is a tool for driving nails", "the tool with a claw for pulling nails",
        "the kind of tool Thor carries"],
       ["Which tool is used to drive nails?", "Find the tool that has a claw on its head.",
        "Which object is a smaller version of what Thor carries?",
        "Segment the tool a builder swings at nails."],
       {"hammer": "a hammer is the tool with a heavy head that drives nails"}),
    _c("screw_tool", W, ["screwdriver"],
       ["the tool for turning screws", "the tool an electrician uses on terminal screws"],
       ["Which tool is made for screws?", "Segment the tool an electrician uses on screws.",
        "Find the tool with a handle and a thin metal shaft."],
       {"screwdriver": "a screwdriver has a thin metal shaft whose tip turns screws"}),
    _c("crockery", W, ["plate", "bowl", "mug"],
       ["the piece of crockery", "the ceramic item you would put in the dishwasher"],
       ["Which object is crockery?", "What would go in the dishwasher?",
        "Find the ceramic piece of tableware."],
       {"plate": "a plate is ceramic crockery that goes in the dishwasher",
        "bowl": "a bowl is ceramic crockery that goes in the dishwasher",
        "mug": "a mug is ceramic crockery that goes in the dishwasher"}),
    _c("library", W, ["book"],
       ["something you would read", "the object with pages",
        "the thing you would borrow from a library"],
       ["Which object has pages?", "Segment the thing you would borrow from a library.",
        "Find what an author writes.", "Which item would a librarian put on a shelf?"],
       {"book": "a book has pages, is what authors write and what libraries lend"}),
    _c("sport", W, ["ball"],
       ["the toy", "the sports equipment", "the object that is round and bounces"],
       ["Which object is a toy?", "Segment the sports equipment.",
        "Find the thing athletes throw, catch or kick.",
        "Which object is used in many team sports?"],
       {"ball": "a ball is the main equipment of many sports and games"}),
    _c("aluminium", W, ["can"],
       ["the aluminium container", "the drink container made of metal",
        "the thing you open with a pull tab"],
       ["Which item is made of aluminium?", "Find the container that opens with a pull tab.",
        "Segment the metal drink container.",
        "Which object goes into the metal recycling bin?"],
       {"can": "a drink can is made of aluminium and opens with a pull tab"}),
    _c("cutlery", W, ["knife"],
       ["the piece of cutlery", "the item from the cutlery drawer",
        "what a chef keeps sharp"],
       ["Which object is cutlery?", "Segment the item that belongs in the cutlery drawer.",
        "Find what a chef sharpens before cooking."],
       {"knife": "a knife is cutlery that chefs keep sharp"}),
    _c("hairdresser", W, ["scissors"],
       ["the office supply", "the thing a hairdresser uses",
        "the tool with two blades joined by a pivot"],
       ["Which object would a hairdresser use?", "Segment the office supply.",
        "Find the tool with two blades that open and close."],
       {"scissors": "scissors have two blades on a pivot and are used by hairdressers and "
                    "in offices"}),
    _c("sink_item", W, ["sponge"],
       ["the cleaning supply", "the soft thing full of tiny holes",
        "what you find next to the kitchen sink"],
       ["Which object is a cleaning supply?",
        "Find the soft item full of tiny holes that absorbs water.",
        "Segment what usually sits next to the kitchen sink."],
       {"sponge": "a sponge is a soft, porous cleaning tool kept by the sink"}),
    _c("capped", W, ["bottle"],
       ["the container with a screw cap", "the thing with a narrow neck"],
       ["Which container has a screw cap?", "Find the object with a narrow neck.",
        "Segment the thing you would refill at a water fountain."],
       {"bottle": "a bottle has a narrow neck closed by a screw cap"}),
)

def concepts_of(kind: str | None = None) -> tuple[Concept, ...]:
    """The concepts of one kind (None: all)."""
    return tuple(c for c in CONCEPTS if kind is None or c.kind == kind)
