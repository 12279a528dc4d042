"""The README's main job on the embedded default: build and verify the shipped plugin packages.

Later steps (publish to a local folder index, sync into a plugin dir, run the example entry
point) are added as those parts land.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
CLI = [sys.executable, "-m", "dioptra_plugins"]


def step(title: str, *args: str) -> None:
    print(f"\n== {title}\n$ dioptra-plugins {' '.join(args)}", flush=True)
    subprocess.run([*CLI, *args], check=True, cwd=ROOT)


def main() -> None:
    dist = WORK / "dist"
    packages = sorted(str(p) for p in (ROOT / "plugin-packages").iterdir() if p.is_dir())
    step("build the shipped plugin packages", "build", *packages, "-o", str(dist))
    for wheel in sorted(dist.glob("*.whl")):
        step(f"verify {wheel.name}", "inspect", str(wheel))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
