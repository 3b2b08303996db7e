"""``lisa-train``: fine-tune a LISA checkpoint (LoRA, the official setup) or train one from scratch.

Examples::

    # LoRA on a real checkpoint with your own ReasonSeg-format folder (GPU)
    lisa-train --model xinlai/LISA-7B-v1 --data my_objects/train --out runs/mine \\
        --steps 500 --images-per-batch 2 --grad-accum 10 --grad-checkpointing

    # the bundled demo model, from scratch on this CPU (see bench/train_lisa_tiny.sh)
    lisa-train --init lisa-tiny --full --data data/synth_train --out runs/lisa-tiny --steps 3000

    # continue an interrupted run with the same arguments
    lisa-train ... --resume

The model lands in ``OUT/model/`` in the official LISA layout (LoRA merged), loadable by every
tool: ``lisa-eval --model OUT/model``, ``lisa-segment --model OUT/model``, the node's
``model`` parameter.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main", "build_parser", "config_from_args"]


def _families(text: str) -> list[str]:
    from lisa_ros.data.synth import FAMILIES

    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in FAMILIES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown families {unknown or text!r}; choose from {', '.join(FAMILIES)}")
    return names


def lora_modules_arg(text: str) -> tuple[str, ...]:
    """``--lora-modules`` value (argparse ``type``; also bench/fewshot.py's): comma-separated LLM
    Linear layer names, checked here."""
    from lisa_ros.train.trainable import lora_target_regex

    modules = tuple(m.strip() for m in text.split(",") if m.strip())
    try:
        lora_target_regex(modules)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return modules


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def absent_lead_arg(text: str) -> str:
    """``--absent-lead`` value (argparse ``type``): one alphabetic word that begins no answer with
    a mask, else the first answer token would not decide "not there" on its own."""
    from lisa_ros.train.scratch.answers import present_answer_openings

    word = text.strip()
    if word and not word.isalpha():
        raise argparse.ArgumentTypeError(f"--absent-lead must be one word of letters, got {text!r}")
    if word in present_answer_openings():
        raise argparse.ArgumentTypeError(f"--absent-lead {word!r} also begins answers with a mask")
    return word


def build_parser() -> argparse.ArgumentParser:
    from lisa_ros.train.scratch.config import ScratchTrainConfig

    d = ScratchTrainConfig(out="")
    p = argparse.ArgumentParser(prog="lisa-train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_argument_group("model")
    src.add_argument("--model", help="checkpoint to start from: lisa-tiny, a folder or a hub id")
    src.add_argument("--init", help="build a fresh random model instead: a preset name (lisa-tiny) or a JSON spec "
                                    "(from-scratch runs)")
    src.add_argument("--clip", help="CLIP folder or hub id (default: the checkpoint's vision_tower)")
    src.add_argument("--full", action="store_true",
                     help="train every parameter (CLIP and SAM encoder too) instead of the official LoRA setup")
    src.add_argument("--lora-r", type=int, default=d.lora_r)
    src.add_argument("--lora-alpha", type=int, default=d.lora_alpha)
    src.add_argument("--lora-dropout", type=float, default=d.lora_dropout)
    src.add_argument("--lora-modules", type=lora_modules_arg, default=d.lora_modules,
                     help="comma-separated LLM Linear layers that get LoRA (official: q_proj,v_proj; also k_proj, "
                          "o_proj, gate_proj, up_proj, down_proj)")

    data = p.add_argument_group("data")
    data.add_argument("--data", action="append", default=[], help="ReasonSeg-format folder (repeatable)")
    data.add_argument("--synth-seed", type=int, help="also/instead render synthetic scenes of this seed on the fly")
    data.add_argument("--synth-count", type=int, help="distinct synthetic scenes to cycle through (default: endless)")
    data.add_argument("--families", type=_families, help="comma-separated families to keep (synthetic data)")
    data.add_argument("--limit", type=int, help="use only the first N samples of each folder")
    data.add_argument("--conversations-per-image", type=int, default=d.conversations_per_image,
                      help="conversations (different texts) per image; the encoders run once per image. 0 with no "
                           "--extra-* conversation either: an encoder pretraining stage (only the dense, "
                           "presence and image-token terms train; no LLM pass)")
    data.add_argument("--data-workers", type=int, default=d.data_workers,
                      help="processes reading/rendering samples ahead (0: in the training process)")
    data.add_argument("--phrase-long-prob", type=float, default=d.phrase_long_prob,
                      help="probability that a phrase gets a LONG question template (official: 0)")
    data.add_argument("--max-length", type=int, help="truncate token ids to this length")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--steps", type=int, default=d.steps, help="optimizer steps")
    opt.add_argument("--images-per-batch", type=int, default=d.images_per_batch)
    opt.add_argument("--grad-accum", type=int, default=d.grad_accum)
    opt.add_argument("--lr", type=float, default=d.lr)
    opt.add_argument("--beta1", type=float, default=d.beta1)
    opt.add_argument("--beta2", type=float, default=d.beta2)
    opt.add_argument("--weight-decay", type=float, default=d.weight_decay)
    opt.add_argument("--warmup", type=int, default=d.warmup)
    opt.add_argument("--schedule", choices=["linear", "cosine", "constant"], default=d.schedule)
    opt.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    opt.add_argument("--grad-clip", type=float, default=d.grad_clip)
    opt.add_argument("--ce-weight", type=float, default=d.ce_weight)
    opt.add_argument("--bce-weight", type=float, default=d.bce_weight)
    opt.add_argument("--dice-weight", type=float, default=d.dice_weight)
    opt.add_argument("--seed", type=int, default=d.seed)

    aid = p.add_argument_group(
        "from-scratch aids", "for small models trained from scratch (lisa-tiny's recipes; "
        "docs/training-from-scratch.md); all off by default, which is LISA's own objective and data")
    aid.add_argument("--extra-explicit", type=int, default=d.extra_explicit,
                     help="synthetic scenes: up to N extra conversations naming other objects of the image")
    aid.add_argument("--extra-absent", type=float, default=d.extra_absent,
                     help="synthetic scenes: on average N extra conversations asking for an object that is not there")
    aid.add_argument("--extra-multi", type=float, default=d.extra_multi,
                     help="synthetic scenes: probability of one extra conversation asking for two objects at once")
    aid.add_argument("--extra-spatial", type=int, default=d.extra_spatial,
                     help="synthetic scenes: up to N extra spatial conversations (\"the thing left of the "
                          "plate\") asked of each image's layout, whatever its own family")
    aid.add_argument("--extra-comparative", type=int, default=d.extra_comparative,
                     help="synthetic scenes: up to N extra comparative conversations (\"the largest "
                          "object\") asked of each image's layout, whatever its own family")
    aid.add_argument("--extra-vqa", type=int, default=d.extra_vqa,
                     help="synthetic scenes: up to N text-only questions about the image (LISA's VQA share)")
    aid.add_argument("--extra-checklist", type=int, default=d.extra_checklist,
                     help="synthetic scenes: N text-only checklists per image (\"Which of these are in the "
                          "image: ...?\", one here / not-here sentence per item)")
    aid.add_argument("--stated-answers", type=float, default=d.stated_answers,
                     help="synthetic scenes: probability that an extra explicit or absent conversation is "
                          "answered \"The mug is here: [SEG].\" / \"The mug is not here.\" (the verdict right "
                          "after the name, as in --extra-checklist)")
    aid.add_argument("--absent-lead", type=absent_lead_arg, default=d.absent_lead, metavar="WORD",
                     help="begin every absent-target answer with WORD (\"No, there is no mug here.\"), so that "
                          "\"not there\" is decided by one first token; must be one word that no answer with a "
                          "mask begins with (default: the data's own answers)")
    aid.add_argument("--described-answers", type=float, default=d.described_answers,
                     help="probability of training on an answer that names its target before [SEG] "
                          "(\"It is the red mug [SEG].\"), where the sample has one (0: uniform choice)")
    aid.add_argument("--dense-aux-weight", type=float, default=d.dense_aux_weight,
                     help="from-scratch runs on synthetic scenes: add this weight times a dense "
                          "category/colour loss on the CLIP tokens and SAM embedding cells, a stand-in "
                          "for the encoder pretraining real LISA starts from (0: LISA objective only)")
    aid.add_argument("--grounding-aux-weight", type=float, default=d.grounding_aux_weight,
                     help="from-scratch runs: add this weight times a loss that asks each [SEG] prompt, "
                          "projected with SAM's embedding cells into a shared space, to point at the cells "
                          "of its target mask (0: LISA objective only)")
    aid.add_argument("--decision-aux-weight", type=float, default=d.decision_aux_weight,
                     help="from-scratch runs: add this weight times a class-balanced loss that asks the "
                          "LLM state choosing the first answer token whether the answer will hold a [SEG] "
                          "(target there) or not (absent target) (0: LISA objective only)")
    aid.add_argument("--image-token-weight", type=float, default=d.image_token_weight,
                     help="from-scratch runs: add this weight times the mean square of the projected "
                          "CLIP tokens, which otherwise grow into one shared vector the LLM never learns "
                          "to read (0: LISA objective only)")
    aid.add_argument("--presence-aux-weight", type=float, default=d.presence_aux_weight,
                     help="from-scratch runs on synthetic scenes: add this weight times a loss that asks the "
                          "dense loss's per-cell category heads, at their most confident cell, which "
                          "categories the image shows at all (0: LISA objective only)")
    aid.add_argument("--lookup-aux-weight", type=float, default=d.lookup_aux_weight,
                     help="full or LoRA runs: add this weight times a loss that tells one attention head of "
                          "the LLM, at the state choosing the first answer token, to look at the targets' "
                          "image tokens, or at the first position when the target is absent "
                          "(0: LISA objective only)")
    aid.add_argument("--lookup-aux-layer", type=int, default=d.lookup_aux_layer,
                     help="the LLM layer of the look-up head (default: the middle one)")
    aid.add_argument("--lookup-aux-head", type=int, default=d.lookup_aux_head,
                     help="the attention head of the look-up loss in that layer")
    aid.add_argument("--sam-prompt-weight", type=float, default=d.sam_prompt_weight,
                     help="from-scratch runs on synthetic scenes: add this weight times the mask loss (the "
                          "run's BCE and Dice weights) of SAM's masks for a jittered box or one point on "
                          "objects of each image, SAM's own training signal (0: LISA objective only)")
    aid.add_argument("--sam-prompt-objects", type=positive_int, default=d.sam_prompt_objects,
                     help="objects per image prompted for --sam-prompt-weight (at most; in a random order)")

    run = p.add_argument_group("run")
    run.add_argument("--out", required=True, help="run folder (model/, state.pt, log.jsonl)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")
    run.add_argument("--time-budget", type=float,
                     help="seconds of training after which the run ends; the lr decay follows the time used "
                          "when that is ahead of the steps (a run that must fit a wall-clock limit)")
    run.add_argument("--stop-after", type=int,
                     help="stop (saving model and state) after this many steps of this invocation; --resume continues")
    run.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    run.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=d.precision,
                     help="auto: bf16 autocast on CUDA (fp32 trainable weights), fp32 on the CPU")
    run.add_argument("--threads", type=int, help="torch CPU threads (per process)")
    run.add_argument("--processes", type=int, default=1,
                     help="data-parallel processes (gloo); each takes --images-per-batch images per micro-batch. "
                          "On a shared CPU, 2 processes x 1 thread use 2 cores more robustly than 1 x 2 threads")
    run.add_argument("--grad-checkpointing", action="store_true", help="recompute LLM activations (less memory)")
    run.add_argument("--no-share-prefix", action="store_true",
                     help="run every conversation's full sequence (default: the shared system prompt + image "
                          "prefix once per image; the same result, faster)")
    run.add_argument("--save-every", type=int, default=d.save_every, help="steps between checkpoints (0: at the end)")
    run.add_argument("--val", help="ReasonSeg folder for validation during training")
    run.add_argument("--val-limit", type=int, default=d.val_limit)
    run.add_argument("--val-every", type=int, default=d.val_every)
    run.add_argument("--val-mode", choices=["teacher-forced", "generate"], default=d.val_mode)
    run.add_argument("--llm-dtype", choices=["fp32", "bf16", "fp16"], default=d.llm_dtype,
                     help="storage dtype of the LLM weights (official: bf16)")
    run.add_argument("--sam-dtype", choices=["fp32", "bf16", "fp16"], default=d.sam_dtype,
                     help="storage dtype of SAM and text_hidden_fcs (official: fp32)")
    run.add_argument("--clip-dtype", choices=["fp32", "bf16", "fp16"], default=d.clip_dtype,
                     help="storage dtype of a written CLIP folder")
    run.add_argument("--safetensors", action="store_true", help="write safetensors instead of .bin shards")
    run.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    return p


def config_from_args(args: argparse.Namespace):
    """The :class:`~lisa_ros.train.scratch.config.ScratchTrainConfig` of parsed flags: every flag
    sets the field of its name; ``--full``, ``--no-share-prefix`` and ``--no-progress`` set
    ``mode``, ``share_prefix`` and ``progress``."""
    from dataclasses import fields

    from lisa_ros.train.scratch.config import ScratchTrainConfig

    if bool(args.model) == bool(args.init):
        raise SystemExit("lisa-train: give exactly one of --model and --init")
    values = {f.name: getattr(args, f.name) for f in fields(ScratchTrainConfig) if hasattr(args, f.name)}
    values.update(data=list(args.data), mode="full" if args.full else "lora", share_prefix=not args.no_share_prefix,
                  progress=not args.no_progress)
    return ScratchTrainConfig(**values)


def main(argv: list[str] | None = None) -> int:
    import logging
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    from lisa_ros.core.errors import LisaError
    from lisa_ros.data.errors import DatasetError
    from lisa_ros.train.loop import train

    try:
        result = train(cfg)
    except (LisaError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"lisa-train: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({
        "model": str(result.model_folder), "steps": result.steps, "seconds": round(result.seconds, 1),
        "trainable": result.trainable, "last": result.last_losses, "validations": result.validations,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
