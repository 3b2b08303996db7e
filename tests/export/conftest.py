"""Fixtures for export tests: ``exported`` (parametrised over the model variants: the two tiny
test checkpoints and, once it exists, the bundled demo model ``lisa-tiny``) and ``official``.
Both come from the session fixture ``exports`` (tests/conftest.py), which the node tests share.
"""

import pytest

VARIANTS = ("official", "safetensors", "lisa-tiny")


@pytest.fixture(scope="session", params=VARIANTS)
def exported(request, exports):
    return exports(request.param)


@pytest.fixture(scope="session")
def official(exports):
    return exports("official")
