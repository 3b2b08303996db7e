"""End-to-end demo: the real ``lisa`` node, a synthetic camera and scripted instructions.

``make demo`` / ``python -m lisa_ros.demo`` / ``lisa-demo [--model lisa-tiny] [--count 10]``:

1. starts ``lisa_node`` in its own process (model ``lisa-tiny`` unless ``--model`` names a
   folder or hub id), on a ROS domain of its own unless ``ROS_DOMAIN_ID`` is set, with
   localhost-only discovery and the shared-memory Fast DDS profile;
2. in this process, publishes 640x480 rgb8 synthetic scenes at 10 Hz on ``image`` and sends
   about ten instructions from the generator's families (explicit, functional, world knowledge,
   spatial, comparative, multi-target, absent, explanatory), each about the scene on camera
   (:mod:`lisa_ros.demo.scene_camera`);
3. prints, per instruction, the instruction, answer, status, IoU against the ground truth and
   latency; writes the overlays (and the node's log) to ``demo_out/``;
4. stops the node with SIGINT and exits 0 when every instruction was answered.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main"]

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
# Fast DDS 3 (kilted on) reads the first, Fast DDS 2 (Humble, Jazzy) only the second (and
# Fast DDS 3 warns when the second is set).
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")


def profile_variables() -> tuple[str, ...]:
    """The profile variable(s) this ROS install's Fast DDS reads: by ``ROS_DISTRO`` (a sourced
    install), else by the Fast DDS wheel installed (the PyPI venvs), else both."""
    from importlib import metadata

    distro = os.environ.get("ROS_DISTRO", "")
    if distro:
        return PROFILE_VARIABLES[1:] if distro in FAST_DDS_2_DISTROS else PROFILE_VARIABLES[:1]
    for wheel, variables in (("ros-fastdds", PROFILE_VARIABLES[:1]), ("ros-fastrtps", PROFILE_VARIABLES[1:])):
        try:
            metadata.version(wheel)
        except metadata.PackageNotFoundError:
            continue
        return variables
    return PROFILE_VARIABLES


def _fastdds_profile() -> Path | None:
    for candidate in (REPO_CONFIG / "fastdds_shm.xml", Path(sys.prefix) / "share" / "lisa_ros" / "config" / "fastdds_shm.xml"):
        if candidate.is_file():
            return candidate
    return None


def demo_environment() -> dict[str, str]:
    """This process's environment for the demo's DDS world (set only what the user did not)."""
    env = {}
    if "ROS_DOMAIN_ID" not in os.environ:
        env["ROS_DOMAIN_ID"] = str(101 + os.getpid() % 100)  # tests use 1..100
    if "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    profile = _fastdds_profile()
    if profile is not None and not any(name in os.environ for name in PROFILE_VARIABLES):
        env.update(dict.fromkeys(profile_variables(), str(profile)))
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return env


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="lisa-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lisa-tiny", help="lisa-tiny (default), a checkpoint folder or a hub id")
    parser.add_argument("--clip", default="", help="CLIP folder or hub id (default: the checkpoint's)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--count", type=int, default=10, help="instructions (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene seed (default 0)")
    parser.add_argument("--out", default="demo_out", help="output folder (default demo_out/)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per instruction (default 60)")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds for the node to load the model")
    return parser.parse_args(argv)


def _check_model(name: str) -> str | None:
    from lisa_ros.core.errors import CheckpointError
    from lisa_ros.core.resolve import resolve_model_path

    try:
        resolve_model_path(name)
    except CheckpointError as exc:
        return str(exc)
    return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGINT (the node answers what is pending and exits), then kill after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problem = _check_model(args.model)
    if problem is not None:
        print(f"lisa-demo: {problem}\n  (pass --model <checkpoint folder> to use another model)", file=sys.stderr)
        return 2
    os.environ.update(demo_environment())
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "lisa_node.log"

    import rclpy

    from lisa_ros.demo import scene_camera as ds
    from lisa_ros.demo.script import build_script, summary

    print(f"lisa-demo: model {args.model}, ROS_DOMAIN_ID {os.environ.get('ROS_DOMAIN_ID')}, "
          f"node log {log_path}", flush=True)
    steps = build_script(args.count, args.seed)
    command = [sys.executable, "-m", "lisa_ros.node.lisa_node", "--ros-args",
               "-p", f"model:={args.model}", "-p", f"device:={args.device}", "-p", "pairing:=latest"]
    if args.clip:
        command += ["-p", f"clip:={args.clip}"]
    started = time.monotonic()
    with open(log_path, "w") as log:
        node_proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    rclpy.init()
    node = executor = None
    code = 1
    try:
        node = ds.DemoNode()
        executor, _ = ds.spin_in_background(node)
        node.show(steps[0])
        print("lisa-demo: waiting for the node to load the model...", flush=True)
        if not ds.wait_connected(node, args.startup_timeout, alive=lambda: node_proc.poll() is None):
            print(f"lisa-demo: the node did not come up (see {log_path}):\n{_tail(log_path)}", file=sys.stderr)
            return 1
        print(f"lisa-demo: node ready after {time.monotonic() - started:.1f} s; "
              f"{len(steps)} instructions\n", flush=True)
        outcomes = ds.run_script(node, steps, args.timeout, out_dir)
        print("\n" + summary(outcomes))
        print(f"overlays: {out_dir}/", flush=True)
        code = 0 if all(o.result is not None for o in outcomes) else 1
    except KeyboardInterrupt:
        code = 130
    finally:
        ds.shut_down(node, executor)
        stop_process(node_proc)
    print(f"lisa-demo: done in {time.monotonic() - started:.1f} s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
