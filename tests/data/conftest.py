"""Shared synthetic samples for the data tests (rendered once per test session)."""
from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reasonseg"
SAMPLE_SEED = 1234
PER_FAMILY = 10


@pytest.fixture(scope="session")
def reasonseg_fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def synth_samples():
    """``PER_FAMILY`` samples of every family (indices 0 .. 8*PER_FAMILY-1 of one seed)."""
    from lisa_ros.data.synth import FAMILIES, render_scene
    return [render_scene(SAMPLE_SEED, i) for i in range(PER_FAMILY * len(FAMILIES))]
