#!/usr/bin/env python3
"""Fetch the Python packages the GPU machine lacks into ``.whl/`` (run here, before device_check).

The lent GPU machine (Python 3.12, torch 2.11 CUDA 13, transformers 5.17) has no network and
lacks segment-anything and bitsandbytes. Carried files count against a 64 MiB limit, so the
bitsandbytes wheel (43 MB: kernels for every CUDA and ROCm release) is repacked with only the
CUDA 13.0 and CPU libraries. ``.whl/`` is ignored by git.

    python bench/prepare_device_wheels.py      # then: device run with carry [".whl"]
"""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / ".whl"
PACKAGES = ["segment-anything==1.0", "bitsandbytes==0.50.2"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]
KEEP_LIBRARIES = ("libbitsandbytes_cuda130.so", "libbitsandbytes_cpu.so")


def _slim(wheel: Path) -> None:
    """Drop the GPU libraries the H100/H200 image (CUDA 13.0) does not use; fix RECORD."""
    slim = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as out:
        dropped = {
            name for name in source.namelist()
            if name.startswith("bitsandbytes/libbitsandbytes_") and not name.endswith(KEEP_LIBRARIES)
        }
        for item in source.infolist():
            if item.filename in dropped:
                continue
            data = source.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                lines = [l for l in data.decode().splitlines() if l.split(",")[0] not in dropped]
                data = ("\n".join(lines) + "\n").encode()
            out.writestr(item, data)
    slim.replace(wheel)


def main() -> int:
    TARGET.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
               "--implementation", "cp", "-d", str(TARGET), *PACKAGES]
    for platform in PLATFORMS:
        command[5:5] = ["--platform", platform]
    subprocess.run(command, check=True)
    for wheel in TARGET.glob("bitsandbytes-*.whl"):
        _slim(wheel)
    for wheel in sorted(TARGET.glob("*.whl")):
        print(f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
