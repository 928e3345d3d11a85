"""Photo face detectors side by side: faces found and milliseconds per photo, speed-up over MTCNN.

    FSANET_SHARED=../shared .venv/bin/python benchmarks/photo_detectors.py [--repeats 5]

Every detector runs as the demo runs one on a photo (``PoseAnnotator.detect``): on a copy at most
640 pixels wide (the group photo becomes 640x360; the AFLW2000 photos, 450x450, stay as they are;
rows marked "width 960" use 960x540, where the full cascade finds the seventh group face;
"pyramid 640": ``FastMTCNNCascade(pyramid_width=640)``, P-net's pyramid as at 640, R- and O-net at 960),
then ``suppress_duplicates``; the time covers all of it, the downscaling included. The full cascade
(the package's ``MTCNNCascadeDetector(rgb=True)`` and ``FastMTCNNCascade``) keeps faces of
confidence >= 0.9, the photo rule. ``--only-mtcnn`` leaves dlib out. Detectors take
turns photo by photo, repeat after repeat, so that load from other processes falls on all of them
alike; each time is the median over the repeats (the AFLW2000 one: of the mean over its 16 photos),
and the speed-up is MTCNN's median over the detector's.

- group_1920x1080.jpg shows seven people (``GROUP_FACES``); a face counts as found as below, and
  boxes that match none of them are counted apart.
- aflw2000_samples: 16 photos, one labelled face each (some in profile, one at the border). The
  face counts as found when a reported box overlaps the box around its ``pt2d`` landmarks
  (``fsanet.faces.crop.landmark_box``, no margin) with IoU >= ``MATCH_IOU``; other boxes are counted apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from fsanet.faces.crop import landmark_box
from fsanet.faces.detectors import DlibCNNDetector, DlibDetector, MTCNNCascadeDetector, MTCNNDetector
from fsanet.faces.mtcnn_fast import FastMTCNNCascade, FastMTCNNDetector
from fsanet.video.pipeline import PoseAnnotator

MATCH_IOU = 0.4
GROUP_FACES = [(633, 321, 78, 78), (792, 225, 54, 54), (1299, 390, 69, 69), (849, 453, 84, 84),
               (1041, 333, 75, 75), (552, 495, 102, 102), (408, 234, 66, 66)]
"""The seven people's faces in group_1920x1080.jpg (x, y, w, h), checked by eye (as in
tests/test_fast_detector.py)."""


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def iou(a, b) -> float:
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(dx, 0) * max(dy, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def aflw_photos(shared):
    """(name, BGR image, labelled face box (x, y, w, h)) of each AFLW2000 sample."""
    for jpg in sorted((shared / "data" / "aflw2000_samples").glob("*.jpg")):
        image = cv2.imread(str(jpg))
        x0, y0, x1, y1 = landmark_box(scipy.io.loadmat(jpg.with_suffix(".mat"))["pt2d"],
                                      image.shape[1], image.shape[0], margin=0)
        yield jpg.stem, image, (x0, y0, x1 - x0, y1 - y0)


def found(faces, box) -> bool:
    return any(iou(f.box, box) >= MATCH_IOU for f in faces)


class _AtLeast:
    """A detector's faces of confidence >= ``threshold`` (the photo rule of the full cascade)."""

    def __init__(self, detector, threshold):
        self.detector, self.threshold = detector, threshold

    def __call__(self, image):
        return [f for f in self.detector(image) if f.confidence >= self.threshold]


def candidates(with_dlib_cnn=True, only_mtcnn=False):
    """Detector name -> ``PoseAnnotator`` running it (detection width 640 unless the name says)."""
    made = {"mtcnn (as today)": (MTCNNDetector, 640),
            "mtcnn_fast (ONNX Runtime, 1 worker)": (lambda: FastMTCNNDetector(workers=1), 640),
            "mtcnn_fast (ONNX Runtime, 2 workers)": (lambda: FastMTCNNDetector(workers=2), 640),
            "mtcnn cascade (package, >= 0.9)": (lambda: _AtLeast(MTCNNCascadeDetector(rgb=True), 0.9), 640),
            "mtcnn cascade (package, >= 0.9, width 960)":
                (lambda: _AtLeast(MTCNNCascadeDetector(rgb=True), 0.9), 960),
            "mtcnn_fast cascade (1 worker)": (lambda: FastMTCNNCascade(workers=1), 640),
            "mtcnn_fast cascade (2 workers)": (lambda: FastMTCNNCascade(workers=2), 640),
            "mtcnn_fast cascade (1 worker, width 960)": (lambda: FastMTCNNCascade(workers=1), 960),
            "mtcnn_fast cascade (2 workers, width 960)": (lambda: FastMTCNNCascade(workers=2), 960),
            "mtcnn_fast cascade (1 worker, width 960, pyramid 640)":
                (lambda: FastMTCNNCascade(workers=1, pyramid_width=640), 960),
            "mtcnn_fast cascade (2 workers, width 960, pyramid 640)":
                (lambda: FastMTCNNCascade(workers=2, pyramid_width=640), 960)}
    if not only_mtcnn:
        made["dlib HOG (upsample 0)"] = (lambda: DlibDetector(upsample=0), 640)
        made["dlib HOG (upsample 1)"] = (lambda: DlibDetector(upsample=1), 640)
        if with_dlib_cnn:
            made["dlib_cnn (upsample 0)"] = (lambda: DlibCNNDetector(upsample=0), 640)
    return {name: PoseAnnotator(make(), predictor=None, detection_width=width)
            for name, (make, width) in made.items()}


def timed(annotator, image):
    start = time.perf_counter()
    faces = annotator.detect(image)
    return faces, 1000 * (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("FSANET_SHARED", "../shared")))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-dlib-cnn", action="store_true", help="leave out dlib's CNN (slowest)")
    parser.add_argument("--only-mtcnn", action="store_true", help="MTCNN's variants only (no dlib)")
    args = parser.parse_args()
    group = cv2.imread(str(args.shared / "data" / "images" / "group_1920x1080.jpg"))
    aflw = list(aflw_photos(args.shared))
    detectors = candidates(not args.no_dlib_cnn, args.only_mtcnn)
    group_ms = {name: [] for name in detectors}
    aflw_ms = {name: [] for name in detectors}
    group_found, group_other, aflw_found, aflw_other = {}, {}, {}, {}
    for annotator in detectors.values():  # warm-up (graph building, first-call costs)
        annotator.detect(group)
    for repeat in range(args.repeats):
        for name, annotator in detectors.items():
            faces, ms = timed(annotator, group)
            group_ms[name].append(ms)
            group_found[name] = sum(found(faces, box) for box in GROUP_FACES)
            group_other[name] = sum(all(iou(f.box, box) < MATCH_IOU for box in GROUP_FACES) for f in faces)
        per_photo = {name: [] for name in detectors}
        hits = {name: 0 for name in detectors}
        other = {name: 0 for name in detectors}
        for _, image, box in aflw:
            for name, annotator in detectors.items():
                faces, ms = timed(annotator, image)
                per_photo[name].append(ms)
                hits[name] += found(faces, box)
                other[name] += sum(iou(f.box, box) < MATCH_IOU for f in faces)
        for name in detectors:
            aflw_ms[name].append(statistics.mean(per_photo[name]))
        aflw_found, aflw_other = hits, other
    base_group = statistics.median(group_ms["mtcnn (as today)"])
    base_aflw = statistics.median(aflw_ms["mtcnn (as today)"])
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); {args.repeats} repeats, medians")
    print(f"| detector | group photo: faces found (of {len(GROUP_FACES)}) | other boxes | ms | speed-up "
          f"| AFLW2000: faces found (of {len(aflw)}) | other boxes | ms per photo | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in detectors:
        g, a = statistics.median(group_ms[name]), statistics.median(aflw_ms[name])
        print(f"| {name} | {group_found[name]} | {group_other[name]} | {g:.1f} | {base_group / g:.1f}x | {aflw_found[name]} | "
              f"{aflw_other[name]} | {a:.1f} | {base_aflw / a:.1f}x |", flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
