"""The demo runner end to end (lisa_ros/demo/run.py) with the tiny checkpoint standing in for
lisa-tiny: the real node process, the synthetic camera, scripted instructions, overlays."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_demo_runs_and_writes_overlays(tiny_model, subprocess_env, tmp_path, repo_root):
    out = tmp_path / "demo_out"
    proc = subprocess.run(
        [sys.executable, "-m", "lisa_ros.demo", "--model", str(tiny_model), "--device", "cpu",
         "--count", "3", "--out", str(out)],
        cwd=repo_root, env=subprocess_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(rows) == 3 and all("IoU" in row for row in rows)
    assert "      Q: " in proc.stdout and "      A: " in proc.stdout
    assert "3/3 answered" in proc.stdout
    assert len(list(out.glob("*.png"))) >= 1 and (out / "lisa_node.log").is_file()


def test_demo_reports_a_missing_model(tmp_path, repo_root, subprocess_env):
    proc = subprocess.run([sys.executable, "-m", "lisa_ros.demo", "--model", str(tmp_path / "nothing")],
                          cwd=repo_root, env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--model" in proc.stderr


def test_demo_with_lisa_tiny_reports_3d_and_writes_clouds(subprocess_env, tmp_path, repo_root):
    """`make demo`'s run, shortened: with the synthetic depth, each answered mask gets a 3D
    centroid compared with the scene's ground truth, and the node's object cloud is saved."""
    from lisa_ros.core.ply import read_ply

    out = tmp_path / "demo_out"
    proc = subprocess.run([sys.executable, "-m", "lisa_ros.demo", "--count", "2", "--out", str(out)],
                          cwd=repo_root, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("3D: mask 0: centroid (") == 2, proc.stdout
    assert "mm from the nearest target" in proc.stdout and "3D centroid error to the nearest target" in proc.stdout
    clouds = sorted(out.glob("*_objects.ply"))
    assert len(clouds) == 2
    points, labels = read_ply(clouds[0])
    assert len(points) >= 30 and set(labels.tolist()) == {1}
    assert 0.3 < float(points[:, 2].min()) and float(points[:, 2].max()) < 2.0  # metres, on the table
