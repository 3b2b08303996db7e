"""Model names: downloads happen only when allowed, and a missing path says so.

No test reaches the real hub. Hub requests go to a local HTTP server standing in for the hub
(``HF_ENDPOINT``), which records them: without ``allow_download`` it must see none. Cached
snapshots live in a hub cache folder built in ``tmp_path`` the way huggingface_hub lays it out
(``models--owner--name/{blobs,refs,snapshots}``), selected with ``HF_HUB_CACHE``. Both
variables are read when huggingface_hub is imported, so those checks run in a child process.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lisa_ros.core.errors import CheckpointError
from lisa_ros.core.resolve import resolve_clip_path, resolve_model_path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESOLVE = """
import json
from lisa_ros.core.errors import LisaError
from lisa_ros.core.resolve import resolve_model_path
try:
    print(json.dumps({{"path": str(resolve_model_path(**{kwargs!r}))}}))
except LisaError as exc:
    print(json.dumps({{"error": str(exc), "type": type(exc).__name__}}))
"""


class _RecordingHub(BaseHTTPRequestHandler):
    """Answers every request 404 (no such repository) and records its path."""

    seen: list[str] = []

    def _refuse(self):
        type(self).seen.append(self.path)
        body = json.dumps({"error": "Repository not found"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = _refuse

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def local_hub():
    """``(endpoint URL, list of request paths it received)``."""
    _RecordingHub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _RecordingHub.seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _hub_cache(root: Path, repo: str, files: dict[str, bytes], refs: dict[str, str]) -> Path:
    """A hub cache folder holding one snapshot of ``repo`` (commit :data:`COMMIT`): each file a
    blob under ``blobs/`` with a relative symlink from ``snapshots/<commit>/``, as huggingface_hub
    writes them."""
    import hashlib

    storage = root / ("models--" + repo.replace("/", "--"))
    snapshot = storage / "snapshots" / COMMIT
    for name, data in files.items():
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (len(Path(name).parts) + 1)) / "blobs" / blob.name)
    for ref, commit in refs.items():
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(commit)
    return snapshot


def _resolve_in_child(run_python, env: dict, **kwargs) -> dict:
    done = run_python(RESOLVE.format(kwargs=kwargs), env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _online_env(subprocess_env, endpoint: str, cache: Path) -> dict:
    env = dict(subprocess_env)
    env.update(HF_HUB_OFFLINE="0", HF_ENDPOINT=endpoint, HF_HUB_CACHE=str(cache), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5")
    return env


def test_a_missing_hub_shaped_path_is_an_error_that_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "models/LISA-7B-v1" is a relative path that does not exist here
    with pytest.raises(CheckpointError) as raised:
        resolve_model_path("models/LISA-7B-v1")
    message = str(raised.value)
    assert "does not exist" in message and str(tmp_path / "models" / "LISA-7B-v1") in message
    assert "allow_download" in message and "--allow-download" in message


def test_other_missing_paths_are_named(tmp_path):
    for name in (tmp_path / "nope", "./nope/x", "a/b/c"):
        with pytest.raises(CheckpointError, match="does not exist"):
            resolve_model_path(name)
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_clip_path(str(tmp_path / "no-clip"), tmp_path, "clip")


def test_without_allow_download_the_hub_is_never_asked(run_python, subprocess_env, local_hub, tmp_path):
    endpoint, seen = local_hub
    env = _online_env(subprocess_env, endpoint, tmp_path / "hub")
    refused = _resolve_in_child(run_python, env, name_or_path="someone/LISA-typo")
    assert refused["type"] == "ModelNotAvailableError", refused
    assert "does not exist" in refused["error"] and "allow_download" in refused["error"]
    assert seen == []  # online, and still nothing was requested
    # Allowed: the download is attempted, at the pinned revision, and its failure is reported.
    failed = _resolve_in_child(run_python, env, name_or_path="someone/LISA-typo", allow_download=True,
                               revision="v1.2")
    assert failed["type"] == "ModelNotAvailableError" and "could not be downloaded" in failed["error"], failed
    assert "/api/models/someone/LISA-typo/revision/v1.2" in seen, seen


def test_offline_with_allow_download_says_why_nothing_was_fetched(run_python, subprocess_env, tmp_path):
    env = dict(subprocess_env, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"))
    refused = _resolve_in_child(run_python, env, name_or_path="someone/model", allow_download=True)
    assert refused["type"] == "ModelNotAvailableError" and "HF_HUB_OFFLINE" in refused["error"], refused


def test_a_cached_snapshot_loads_at_its_revision_without_the_network(run_python, subprocess_env, local_hub,
                                                                     tiny_official, tmp_path):
    """The tiny checkpoint placed in a hub cache under ``lisa-test/tiny`` loads by hub id, at a
    branch or at a commit; an unknown revision is an error; the hub is never asked."""
    endpoint, seen = local_hub
    files = {str(p.relative_to(tiny_official)): p.read_bytes() for p in tiny_official.rglob("*") if p.is_file()}
    snapshot = _hub_cache(tmp_path / "hub", "lisa-test/tiny", files, {"main": COMMIT})
    env = _online_env(subprocess_env, endpoint, tmp_path / "hub")
    for revision in (None, "main", COMMIT):
        found = _resolve_in_child(run_python, env, name_or_path="lisa-test/tiny", revision=revision)
        assert Path(found["path"]) == snapshot, found
    unknown = _resolve_in_child(run_python, env, name_or_path="lisa-test/tiny", revision="v9")
    assert "v9" in unknown["error"] and "allow_download" in unknown["error"], unknown
    segmented = run_python(
        "from lisa_ros.core.segmenter import LisaSegmenter\n"
        "import sys; sys.path.insert(0, 'tests')\n"
        "from tiny_checkpoints import scene_image\n"
        f"seg = LisaSegmenter.from_pretrained('lisa-test/tiny', revision={COMMIT!r}, precision='fp32', device='cpu')\n"
        "print(seg.segment(scene_image(), 'Where is the mug?').answer)\n",
        env=env, timeout=300,
    )
    assert segmented.returncode == 0, segmented.stderr
    assert segmented.stdout.strip().splitlines()[-1] == "Sure, [SEG]."
    assert seen == []


def test_the_command_line_tools_take_the_download_flags():
    from lisa_ros.cli import eval as eval_cli
    from lisa_ros.cli import export as export_cli
    from lisa_ros.cli import segment as segment_cli

    common = ["--model", "owner/name", "--allow-download", "--revision", "v1.2", "--clip-revision", "abc"]
    parsed = [
        segment_cli.build_parser().parse_args([*common, "--image", "x.png", "--prompt", "p"]),
        eval_cli.build_parser().parse_args([*common, "--data", "d"]),
        export_cli.build_parser().parse_args([*common, "--out", "o"]),
    ]
    for args in parsed:
        assert (args.allow_download, args.revision, args.clip_revision) == (True, "v1.2", "abc")
    default = segment_cli.build_parser().parse_args(["--model", "m", "--image", "x", "--prompt", "p"])
    assert default.allow_download is False and default.revision is None


def test_lisa_segment_reports_a_missing_model_with_the_flag_to_use(tmp_path, capsys, monkeypatch):
    from lisa_ros.cli import segment as segment_cli

    import cv2

    from tiny_checkpoints import scene_image

    monkeypatch.chdir(tmp_path)
    cv2.imwrite("scene.png", scene_image())
    code = segment_cli.main(["--model", "owner/typo", "--image", "scene.png", "--prompt", "Where is the mug?"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["status"] == "ERROR"
    assert "does not exist" in out["error"] and "--allow-download" in out["error"]
