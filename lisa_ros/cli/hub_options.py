"""The command-line options that decide where a model comes from: download, and revisions.

Shared by ``lisa-segment``, ``lisa-eval`` and ``lisa-export``. Hub ids are read from the local
Hugging Face cache; ``--allow-download`` lets a missing one be fetched (see
:mod:`lisa_ros.core.resolve`).
"""

from __future__ import annotations

import argparse

__all__ = ["add_hub_arguments", "hub_options"]


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-download``, ``--revision`` and ``--clip-revision`` to ``parser``."""
    parser.add_argument("--allow-download", action="store_true",
                        help="download hub ids (model, CLIP) missing from the local Hugging Face cache "
                             "(default: only local folders and cached hub ids are used)")
    parser.add_argument("--revision", help="branch, tag or commit hash of the model's hub id (pin a commit "
                                           "for reproducible results)")
    parser.add_argument("--clip-revision", help="branch, tag or commit hash of the CLIP hub id")


def hub_options(args: argparse.Namespace) -> dict:
    """The parsed options as keyword arguments of ``LisaSegmenter.from_pretrained``."""
    return {"allow_download": args.allow_download, "revision": args.revision, "clip_revision": args.clip_revision}
