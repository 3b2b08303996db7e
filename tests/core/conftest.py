"""Fixtures for the model core (the tiny checkpoints themselves come from tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def segmenter(tiny_official):
    """An fp32 CPU segmenter on the taught tiny checkpoint."""
    from lisa_ros.core.segmenter import LisaSegmenter

    return LisaSegmenter.from_pretrained(tiny_official, precision="fp32", device="cpu")
