"""Synthetic tabletop scenes with reasoning-segmentation instructions.

Public API::

    from lisa_ros.data.synth import render_scene, generate_dataset, instruction_corpus

    sample = render_scene(seed=7, index=3, size=(640, 480))   # SynthSample, in memory
    summary = generate_dataset("data/synth", seed=0, count=1000, split_name="train")
    scene = render_depth(sample, defects=True)   # depth_mm (uint16), intrinsics, truth (3D)
    frame = render_sequence(seed=7, index=3, size=(640, 480)).frame(10)   # moving camera

Modules, one concern each: ``palette`` (named colours), ``geometry`` (parts and placement),
``objects_*`` (how each category is drawn), ``categories`` (registry and naming),
``raster`` (drawing), ``background`` (table, wall, light, noise), ``layout`` (object
placement and occlusion), ``knowledge`` (what objects are for), ``templates`` and
``language`` (phrasings), ``families`` (the eight instruction families), ``scene``
(:func:`render_scene`), ``writer`` (ReasonSeg folders), ``corpus`` (tokenizer text),
``depth_render`` (aligned depth, camera and 3D ground truth), ``depth_defects`` (what depth
cameras get wrong), ``depth_files`` (depth sidecars on disk), ``sequence`` (one scene under a
moving camera, frame by frame).
"""
from lisa_ros.data.synth.categories import CATEGORIES, CATEGORY_NAMES
from lisa_ros.data.synth.corpus import instruction_corpus
from lisa_ros.data.synth.depth_defects import DepthDefects
from lisa_ros.data.synth.depth_render import ObjectTruth3D, SceneDepth, render_depth
from lisa_ros.data.synth.families import DEFAULT_FAMILY_WEIGHTS, FAMILIES, family_for_index
from lisa_ros.data.synth.palette import COLOUR_NAMES
from lisa_ros.data.synth.scene import DEFAULT_SIZE, SceneObject, SynthSample, render_scene
from lisa_ros.data.synth.sequence import MOTIONS, SynthSequence, render_sequence
from lisa_ros.data.synth.writer import GenerationSummary, generate_dataset, write_synth_sample

__all__ = [
    "CATEGORIES", "CATEGORY_NAMES", "COLOUR_NAMES", "FAMILIES", "DEFAULT_FAMILY_WEIGHTS",
    "DEFAULT_SIZE", "SceneObject", "SynthSample", "GenerationSummary", "family_for_index",
    "render_scene", "generate_dataset", "write_synth_sample", "instruction_corpus",
    "render_depth", "SceneDepth", "ObjectTruth3D", "DepthDefects",
    "render_sequence", "SynthSequence", "MOTIONS",
]
