"""Fixtures for the model core: tiny official-layout checkpoints, written once per session."""

import pytest

from tiny_checkpoints import write_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_official(tmp_path_factory):
    """Folder of the taught tiny checkpoint (7B layout, sharded .bin, mixed bf16/fp32)."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), "official")


@pytest.fixture(scope="session")
def tiny_safetensors(tmp_path_factory):
    """Folder of the random tiny checkpoint (13B layout, safetensors, global-attention SAM)."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), "safetensors")


@pytest.fixture(scope="session")
def segmenter(tiny_official):
    from lisa_ros.core.segmenter import LisaSegmenter

    return LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu")
