"""BIWI preparation's detector on real faces pasted into 640x480 frames: frames kept per colour order,
crop boxes of MTCNN's two-stage (R-net) and three-stage (O-net) cascade, and time per frame.

    .venv/bin/python benchmarks/biwi_detector.py --samples ../shared/data/aflw2000_samples \\
        [--mtcnn-009 /tmp/m/mtcnn-0.0.9]   # also the authors' mtcnn 0.0.9 (see benchmarks/mtcnn_009.py)

Each AFLW2000 sample's face (the authors' landmark crop, 150 and 220 px) is pasted at three places on
a grey frame, as tests/test_biwi.py does. "Kept" counts frames with a face above protocol 1's 0.90 and
protocol 2's 0.95; boxes are the 0.4-widened crop boxes of the face each protocol-1 rule chooses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from fsanet.core import quiet as runtime
from fsanet.core.protocols import PROTOCOLS
from fsanet.data.biwi import MARGIN, authors_face_box
from fsanet.data.type1 import pair_type1_files
from fsanet.faces.crop import landmark_crop
from fsanet.faces.detectors import Face, MTCNNCascadeDetector, MTCNNDetector

MTCNN_009_RUNNER = Path(__file__).resolve().parent / "mtcnn_009.py"

WIDTH, HEIGHT = 640, 480
PLACES = ((60, 40), (230, 130), (400, 200))  # top-left corners (x, y)


def pasted_frames(samples):
    frames = []
    for _, jpg, mat in pair_type1_files(samples)[0]:
        image, pt2d = cv2.imread(str(jpg)), scipy.io.loadmat(str(mat))["pt2d"]
        for size in (150, 220):
            face = landmark_crop(image, pt2d, size=size)
            for x, y in PLACES:
                frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
                frame[y:y + size, x:x + size] = face
                frames.append(frame)
    return frames


def run_009(source, frames, rgb):
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "frames.npz", frames=np.stack([f[..., ::-1] if rgb else f for f in frames]))
        start = time.perf_counter()
        subprocess.run([sys.executable, str(MTCNN_009_RUNNER),
                        str(Path(tmp) / "frames.npz"), str(Path(tmp) / "faces.json")], check=True,
                       stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(Path(source).resolve())))
        seconds = time.perf_counter() - start  # includes the process start: not comparable
        faces = json.loads((Path(tmp) / "faces.json").read_text())
    return [[Face(tuple(f[:4]), f[4]) for f in frame] for frame in faces], seconds


def detect_interleaved(detectors, frames):
    """Faces and seconds per detector, timed frame by frame in turn so that load on a shared
    machine falls on all of them alike."""
    for detector in detectors.values():
        detector(frames[0])  # warm-up
    faces = {name: [] for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    for frame in frames:
        for name, detector in detectors.items():
            start = time.perf_counter()
            faces[name].append(detector(frame))
            seconds[name] += time.perf_counter() - start
    return {name: (faces[name], seconds[name]) for name in detectors}


def chosen(faces, protocol):
    return [authors_face_box(f, PROTOCOLS[protocol], WIDTH, HEIGHT, MARGIN) for f in faces]


def compare(name, a, b):
    """Edge differences, aspect, size and IoU of two detectors' protocol-1 crop boxes, where both have one."""
    pairs = [(p, q) for p, q in zip(a, b) if p is not None and q is not None]
    p, q = np.array([x for x, _ in pairs], float), np.array([y for _, y in pairs], float)
    edges = np.abs(p - q).mean(axis=0)
    size_p, size_q = p[:, 2:] - p[:, :2], q[:, 2:] - q[:, :2]
    overlap = np.clip(np.minimum(p[:, 2:], q[:, 2:]) - np.maximum(p[:, :2], q[:, :2]), 0, None).prod(axis=1)
    iou = overlap / (size_p.prod(axis=1) + size_q.prod(axis=1) - overlap)
    print(f"{name} ({len(pairs)} frames): mean |edge difference| left {edges[0]:.1f}, top {edges[1]:.1f}, "
          f"right {edges[2]:.1f}, bottom {edges[3]:.1f} px; width/height "
          f"{(size_p[:, 0] / size_p[:, 1]).mean():.2f} vs {(size_q[:, 0] / size_q[:, 1]).mean():.2f}; "
          f"sqrt(area) {np.sqrt(size_p.prod(axis=1)).mean():.0f} vs {np.sqrt(size_q.prod(axis=1)).mean():.0f} px; "
          f"IoU mean {iou.mean():.3f}, min {iou.min():.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, required=True, help="a folder of .jpg + .mat samples")
    parser.add_argument("--mtcnn-009", type=Path, help="an unpacked mtcnn 0.0.9 source (optional)")
    args = parser.parse_args()
    runtime.quiet_tensorflow()
    frames = pasted_frames(args.samples)
    print(f"{len(frames)} frames of 640x480")
    runs = detect_interleaved({"two-stage, RGB (before)": MTCNNDetector(min_confidence=0.0),
                               "three-stage, BGR (default)": MTCNNCascadeDetector(),
                               "three-stage, RGB (--detector-rgb)": MTCNNCascadeDetector(rgb=True)}, frames)
    if args.mtcnn_009:
        runs["mtcnn 0.0.9, BGR (the authors')"] = run_009(args.mtcnn_009, frames, rgb=False)
        runs["mtcnn 0.0.9, RGB"] = run_009(args.mtcnn_009, frames, rgb=True)
    boxes = {}
    for name, (faces, seconds) in runs.items():
        boxes[name] = chosen(faces, 1)
        kept = [sum(b is not None for b in chosen(faces, p)) for p in (1, 2)]
        timing = "" if "0.0.9" in name else f", {1000 * seconds / len(frames):.0f} ms/frame"
        print(f"{name}: kept {kept[0]} (> 0.90), {kept[1]} (> 0.95) of {len(frames)}{timing}")
    names = list(runs)
    compare("two-stage RGB vs three-stage RGB", boxes[names[0]], boxes[names[2]])
    compare("three-stage BGR vs three-stage RGB", boxes[names[1]], boxes[names[2]])
    if args.mtcnn_009:
        compare("three-stage BGR vs mtcnn 0.0.9 BGR", boxes[names[1]], boxes[names[3]])
        compare("three-stage RGB vs mtcnn 0.0.9 RGB", boxes[names[2]], boxes[names[4]])
        compare("two-stage RGB vs mtcnn 0.0.9 BGR", boxes[names[0]], boxes[names[3]])
        for ours, theirs in ((names[1], names[3]), (names[2], names[4])):
            same = sum((a is None) == (b is None) for a, b in zip(boxes[ours], boxes[theirs]))
            print(f"{ours} and {theirs} agree on keeping {same} of {len(frames)} frames (protocol 1)")


if __name__ == "__main__":
    main()
