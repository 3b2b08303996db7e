"""Shared test setup for lisa_ros (generic: sub-folders add their own conftest.py).

Every test run gets its own DDS world so parallel runs on one machine (several checkouts,
pytest-xdist workers, CI jobs) never see each other's topics:

- ``ROS_DOMAIN_ID``: a domain in 1..100, starting from a pid-derived guess and held for the
  whole run by an ``flock`` on ``$TMPDIR/lisa_ros_domains/<id>.lock`` (released when the
  process exits, even if it crashes), so two live runs never share one;
- ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: no discovery traffic leaves the machine;
- the repository's shared-memory profile (config/fastdds_shm.xml), in the variable that this venv's
  Fast DDS reads (``fastdds_profile_variables``): ``FASTDDS_DEFAULT_PROFILES_FILE`` for Fast DDS 3
  (kilted), ``FASTRTPS_DEFAULT_PROFILES_FILE`` for Fast DDS 2 (Jazzy, Humble), which ignores the
  other name without a word.

Plus the Hugging Face switches for offline, quiet runs. The variables are set in
``pytest_configure`` (before collection, since huggingface_hub reads them at import time);
the session fixture ``ros_test_env`` exposes them and checks they are still in place.

Fixtures: ``ros_test_env`` (session, autouse), ``fresh_domain_id`` (a further reserved domain
id), ``subprocess_env`` (a copy of os.environ with a fresh domain id, for a child process),
``repo_root``, ``run_python`` (run code in a child interpreter of this venv), the tiny
checkpoints ``tiny_official`` / ``tiny_safetensors``, and ``exports`` (``variant -> Exported``:
an fp32 CPU segmenter and its lisa-export folder, made once per session).
"""
from __future__ import annotations

import fcntl
import os
from importlib import metadata
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FASTDDS_PROFILE = REPO_ROOT / "config" / "fastdds_shm.xml"

DOMAIN_MIN, DOMAIN_MAX = 1, 100  # inclusive; Fast DDS ports stay valid up to 232 on Linux

_held_locks: dict[int, int] = {}  # domain id -> open fd holding its flock


def _lock_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "lisa_ros_domains"
    path.mkdir(mode=0o777, exist_ok=True)
    return path


def reserve_domain_id() -> int:
    """Reserve a ROS domain id in [1, 100] that no other live process on this machine holds.

    The search starts at a pid-derived id; the reservation lasts until this process exits.
    :raises RuntimeError: when all 100 ids are held.
    """
    span = DOMAIN_MAX - DOMAIN_MIN + 1
    start = os.getpid() % span
    for step in range(span):
        domain = DOMAIN_MIN + (start + step) % span
        if domain in _held_locks:
            continue
        fd = os.open(_lock_dir() / f"{domain}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held_locks[domain] = fd
        return domain
    raise RuntimeError("no free ROS domain id in 1..100 on this machine")


# Environment variable naming a Fast DDS XML profile file, by Fast DDS major version. Fast DDS 3
# still reads the old name, but warns on every participant, so each venv gets only its own.
PROFILE_VARIABLES = {3: "FASTDDS_DEFAULT_PROFILES_FILE", 2: "FASTRTPS_DEFAULT_PROFILES_FILE"}


def fastdds_profile_variables(profile: Path = FASTDDS_PROFILE) -> dict[str, str]:
    """``{variable: profile}`` for the Fast DDS of this venv (wheel ``ros-fastdds`` 3.x on kilted,
    ``ros-fastrtps`` 2.x on Jazzy); both variables when neither wheel is installed."""
    for wheel in ("ros-fastdds", "ros-fastrtps"):
        try:
            major = int(metadata.version(wheel).split(".")[0])
        except metadata.PackageNotFoundError:
            continue
        if major in PROFILE_VARIABLES:
            return {PROFILE_VARIABLES[major]: str(profile)}
    return {name: str(profile) for name in PROFILE_VARIABLES.values()}


def _test_environment() -> dict[str, str]:
    return {
        "ROS_DOMAIN_ID": str(reserve_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        **fastdds_profile_variables(),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


_SESSION_ENV: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds (make test runs it too)")
    config.addinivalue_line("markers", "ros: needs rclpy / DDS / generated lisa_ros interfaces")
    if not _SESSION_ENV:
        _SESSION_ENV.update(_test_environment())
    os.environ.update(_SESSION_ENV)


@pytest.fixture(scope="session", autouse=True)
def ros_test_env() -> dict[str, str]:
    """The per-run environment (ROS domain, discovery range, DDS profile, HF switches)."""
    os.environ.update(_SESSION_ENV)  # a test may have changed one; restore for the rest
    return dict(_SESSION_ENV)


@pytest.fixture
def fresh_domain_id() -> int:
    """A further ROS domain id reserved for this run (not the session's), e.g. for a test
    that wants its processes isolated even from the other tests of this run."""
    return reserve_domain_id()


@pytest.fixture
def subprocess_env(fresh_domain_id: int) -> dict[str, str]:
    """A copy of os.environ for child processes, with its own ROS_DOMAIN_ID.

    Give the same dict to every process that should talk to each other (and use
    ``int(env["ROS_DOMAIN_ID"])`` for an in-test ``rclpy.init(domain_id=...)``).
    """
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(fresh_domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 120,
                cwd: Path | str | None = REPO_ROOT) -> subprocess.CompletedProcess:
    """Run ``code`` with ``python -c`` in this venv's interpreter (cwd: the repository root, so
    the repository's sources are imported); capture text output; never raise on failure."""
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, timeout=timeout,
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def run_python():
    """``run_python(code, env=None, timeout=120, cwd=REPO_ROOT) -> CompletedProcess``."""
    return _run_python


# -- tiny LISA checkpoints, shared by every test folder (written once per session) ------------

@pytest.fixture(scope="session")
def tiny_checkpoint_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_checkpoints")


@pytest.fixture(scope="session")
def tiny_official(tiny_checkpoint_root) -> Path:
    """Folder of the taught tiny checkpoint (7B layout, sharded .bin, mixed bf16/fp32); see
    tests/tiny_checkpoints.py."""
    from tiny_checkpoints import write_tiny_checkpoint

    return write_tiny_checkpoint(tiny_checkpoint_root, "official")


@pytest.fixture(scope="session")
def tiny_safetensors(tiny_checkpoint_root) -> Path:
    """Folder of the random tiny checkpoint (13B layout, safetensors, global-attention SAM)."""
    from tiny_checkpoints import write_tiny_checkpoint

    return write_tiny_checkpoint(tiny_checkpoint_root, "safetensors")


# Exported SAM parts (lisa-export) of the test models: used by tests/export and tests/node.
LISA_TINY = Path(__file__).resolve().parents[1] / "lisa_ros" / "models" / "lisa-tiny"


@dataclass
class Exported:
    """A loaded fp32 CPU segmenter and the export folder written from its model."""

    variant: str
    model_folder: Path
    segmenter: object
    folder: Path


@pytest.fixture(scope="session")
def checkpoint_folder(request):
    """``variant -> checkpoint folder`` (``official``, ``safetensors``: the session's tiny
    checkpoints above, written on first use; ``lisa-tiny``: the bundled model)."""

    def get(variant: str) -> Path:
        if variant == "lisa-tiny":
            if not LISA_TINY.is_dir():
                pytest.skip("lisa_ros/models/lisa-tiny is missing")
            return LISA_TINY
        return request.getfixturevalue({"official": "tiny_official", "safetensors": "tiny_safetensors"}[variant])

    return get


@pytest.fixture(scope="session")
def exports(checkpoint_folder, tmp_path_factory):
    """``variant -> Exported`` (segmenter + folder with decoder, decoder_fcs and encoder ONNX)."""
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.export.exporter import ExportOptions, export_folder

    made = {}

    def get(variant: str) -> Exported:
        if variant not in made:
            model_folder = checkpoint_folder(variant)
            segmenter = LisaSegmenter.from_pretrained(model_folder, precision="fp32", device="cpu")
            folder = tmp_path_factory.mktemp(f"export_{variant}")
            export_folder(segmenter.model, folder, ExportOptions(with_fcs=True), model_path=str(model_folder))
            made[variant] = Exported(variant, model_folder, segmenter, folder)
        return made[variant]

    return get
