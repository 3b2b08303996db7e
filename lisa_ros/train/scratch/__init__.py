"""Aids for training a small LISA from scratch on a CPU (the bundled lisa-tiny), not for fine-tuning.

Real LISA starts from a pretrained CLIP, a pretrained SAM and a LLaVA-tuned LLM; a model built by
``lisa-train --init`` starts from random weights and has under an hour of CPU time. These modules
stand in for the missing pretraining and data. Each is switched on by a ``lisa-train`` flag (off by
default) and joins the official loop only through :mod:`lisa_ros.train.extension`; the official
modules of :mod:`lisa_ros.train` never import this package. docs/training-from-scratch.md
explains when each one helped.

Modules (import them directly; nothing heavy is imported here):

- :mod:`~lisa_ros.train.scratch.config`: :class:`ScratchTrainConfig`, the aids' options.
- :mod:`~lisa_ros.train.scratch.aids`: :class:`ScratchAids`, which plugs them into the loop.
- :mod:`~lisa_ros.train.scratch.init_spec`: fresh random models from a spec (the ``lisa-tiny`` preset).
- :mod:`~lisa_ros.train.scratch.tokenizer_training`: a LLaMA-style SentencePiece tokenizer for them.
- :mod:`~lisa_ros.train.scratch.data_hooks`: what the aids add to each training item.
- :mod:`~lisa_ros.train.scratch.extras`: extra conversations about synthetic scenes (other objects,
  two objects, absent objects, questions asked of the layout).
- :mod:`~lisa_ros.train.scratch.vqa`: text-only questions and checklists about the scene.
- :mod:`~lisa_ros.train.scratch.answers`: described and stated answers, the absent-target lead word.
- :mod:`~lisa_ros.train.scratch.terms`: the extra loss terms, each wrapping one loss of the next three.
- :mod:`~lisa_ros.train.scratch.dense_aux`: dense encoder supervision, category presence, prompt
  grounding, mask decision and image-token scale;
- :mod:`~lisa_ros.train.scratch.lookup_aux`: a supervised look-up attention head;
- :mod:`~lisa_ros.train.scratch.prompt_aux`: SAM's own box and point prompts.
"""
