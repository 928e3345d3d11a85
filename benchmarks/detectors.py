"""Face detectors compared on the repository's images and video: faces found and milliseconds per frame.

    FSANET_SHARED=../shared .venv/bin/python benchmarks/detectors.py

Every detector sees what the demo gives it: a copy at most 640 pixels wide (the group photo and
obama.mp4 become 640x360), RGB. obama.mp4 holds one face in all 158 frames: a good detector finds it
in every frame and nothing else. group_1920x1080.jpg shows seven people. (dlib_cnn with upsample 1
takes about 7 s per frame on two cores and is left out.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2

from fsanet.core.images import read_image
from fsanet.faces.boxes import suppress_duplicates
from fsanet.faces.detectors import DlibCNNDetector, DlibDetector, MTCNNDetector
from fsanet.video.media import Source

WIDTH = 640


def small(frame):
    height, width = frame.shape[:2]
    return cv2.resize(frame, (WIDTH, round(height * WIDTH / width)), interpolation=cv2.INTER_AREA)


def timed(detector, image):
    start = time.perf_counter()
    faces = suppress_duplicates(detector(image))
    return faces, 1000 * (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("FSANET_SHARED", "../shared")))
    args = parser.parse_args()
    group = small(read_image(args.shared / "data" / "images" / "group_1920x1080.jpg"))
    frames = [small(frame) for _, frame in Source(args.shared / "data" / "video" / "obama.mp4")]
    detectors = {"mtcnn": MTCNNDetector(), "dlib (HOG, upsample 0)": DlibDetector(upsample=0),
                 "dlib (HOG, upsample 1)": DlibDetector(upsample=1),
                 "dlib_cnn (upsample 0)": DlibCNNDetector(upsample=0)}
    print(f"| detector | group photo: faces | group photo: ms | obama.mp4: frames with its face "
          f"(of {len(frames)}) | obama.mp4: other boxes | obama.mp4: ms per frame (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, detector in detectors.items():
        timed(detector, group)  # warm-up
        faces, group_ms = timed(detector, group)
        found, other, times = 0, 0, []
        for frame in frames:
            boxes, ms = timed(detector, frame)
            times.append(ms)
            found += bool(boxes)
            other += max(len(boxes) - 1, 0)
        print(f"| {name} | {len(faces)} | {group_ms:.0f} | {found} | {other} | "
              f"{statistics.median(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()
