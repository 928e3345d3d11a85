"""How fast each contract error answers: wall seconds of ``python -m fsanet ...`` from start to exit
(interpreter start included), median of several runs, and whether TensorFlow was imported.

    FSANET_SHARED=../shared .venv/bin/python benchmarks/startup.py [--repeat 5]

Each of these is checked before TensorFlow loads (tests/test_startup.py asserts the lines and a
generous bound); ``plot`` on a real data file never loads it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FSANET_SHARED", ROOT.parent / "shared"))
VIDEO = SHARED / "data" / "video" / "obama.mp4"
PORTRAIT = SHARED / "data" / "images" / "portrait_750x375.jpg"


def cases(tmp):
    data = tmp / "clip.csv"
    data.write_text("frame,time,source,track,x,y,w,h,detected,confidence,yaw,pitch,roll\n"
                    "0,0.0,clip,0,1,2,30,30,1,0.9,10,-5,2\n")
    return {
        "fsanet nosuch.jpg": ["nosuch.jpg"],
        "fsanet clip.mp4 --output x.gif": [VIDEO, "--output", tmp / "x.gif"],
        "fsanet photo --data x.txt": [PORTRAIT, "--data", tmp / "x.txt"],
        "fsanet test": ["test"],
        "fsanet test --models fusion --test nosuch.npz": ["test", "--models", "fusion", "--test", "nosuch.npz"],
        "fsanet plot nosuch.csv": ["plot", "nosuch.csv"],
        "fsanet train nosuch.toml": ["train", "nosuch.toml"],
        "fsanet export fusion ... x.tflite": ["export", "fusion", "--format", "onnx", "--output", tmp / "x.tflite"],
        "fsanet photo --model nosuch.keras": [PORTRAIT, "--model", tmp / "nosuch.keras", "--no-video"],
        "fsanet plot clip.csv (works)": ["plot", data, "--output", tmp / "clip.png"],
    }


def timed(argv):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fsanet", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, done.returncode, any(line.endswith("| tensorflow") for line in done.stderr.splitlines())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'command':<48} {'status':>6} {'median s':>9} {'max s':>6}  TensorFlow")
        for name, argv in cases(Path(folder)).items():
            runs = [timed(argv) for _ in range(args.repeat)]
            seconds = [s for s, _, _ in runs]
            print(f"{name:<48} {runs[0][1]:>6} {statistics.median(seconds):>9.2f} {max(seconds):>6.2f}  "
                  f"{'imported' if any(tf for _, _, tf in runs) else 'not imported'}")


if __name__ == "__main__":
    main()
