"""End-to-end accuracy on photos: detector -> crop rule -> network, on the 16 AFLW2000 samples.

    FSANET_SHARED=../shared FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/wild.py

Each photo goes through the demo's detection (``PoseAnnotator.detect``: a copy at most 640 px wide,
boxes scaled back, duplicates suppressed); the labelled face is the detection overlapping its
landmark extent most (IoU >= 0.1), and a photo where none does counts as not found. Crops:

- ``authors``: the photo pipeline as it was, ``clip_box`` then ``fsanet.faces.crop.detection_box``
  (margin 0.6) and the predictor's min-max normalisation;
- ``fitted``: ``fsanet.faces.framing.crop_box`` with the shipped ``CROP_RULES`` (fitted on other
  faces, ``other_faces``: held out), raw pixels (as in training);
- ``landmarks68``: dlib's 68 points found in the detector box, then the training rule (fits nothing);
  ``landmarks68 + minmax`` adds the predictor's min-max normalisation;
- ``fitted on the 16, LOO``: a rule fitted on the *other 15* AFLW2000 photos (in-sample reference
  only: the same 16 photos supply the rule's data, so it is not a held-out number).

The reference row crops from the labelled landmarks (the training rule, ``fsanet.faces.crop.landmark_crop``).
MAE and geodesic error (``fsanet.experiments.metrics.pose_errors``) are over the faces found; "ref" is the
landmark crop's MAE on those same faces. ms/photo: detection + crop + network (Keras, batch 1).
"fitted on" names the faces a rule's constants come from. ``--fit`` prints the constants fitted on
``other_faces`` (how ``CROP_RULES`` was made; about 3 minutes with dlib_cnn on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import scipy.io

SHARED = Path(os.environ.get("FSANET_SHARED", Path(__file__).resolve().parents[2] / "shared"))
os.environ.setdefault("FSANET_WEIGHTS_MIRROR", str(SHARED / "official"))

from fsanet.core.images import read_image  # noqa: E402
from fsanet.core.pose import pose_from_pose_para  # noqa: E402
from fsanet.experiments.metrics import pose_errors  # noqa: E402
from fsanet.faces.boxes import clip_box  # noqa: E402
from fsanet.faces.crop import crop_and_resize, detection_box, landmark_crop  # noqa: E402
from fsanet.faces.detectors import DlibCNNDetector, DlibDetector, MTCNNCascadeDetector, MTCNNDetector  # noqa: E402
from fsanet.faces.framing import (CROP_RULES, crop_box, fit_crop_rule, landmark_extent, matching_face,  # noqa: E402
                                  shape_landmarks)  # noqa: E402
from fsanet.video.pipeline import PoseAnnotator  # noqa: E402

CASCADE_MIN_CONFIDENCE = 0.9


class ConfidentCascade(MTCNNCascadeDetector):
    """MTCNN's full cascade (O-net boxes, RGB), faces with confidence >= 0.9."""

    def __init__(self):
        super().__init__(rgb=True)

    def __call__(self, image_bgr):
        return [f for f in super().__call__(image_bgr)
                if f.confidence >= CASCADE_MIN_CONFIDENCE and f.box[2] > 0 and f.box[3] > 0]


DETECTORS = {"mtcnn": MTCNNDetector, "mtcnn_cascade": ConfidentCascade, "dlib": DlibDetector,
             "dlib_cnn": DlibCNNDetector}


def load_samples(folder):
    """[(name, BGR image, 2xK landmarks, [yaw, pitch, roll])] of a folder of jpg + mat."""
    samples = []
    for jpg in sorted(Path(folder).glob("*.jpg")):
        mat = scipy.io.loadmat(jpg.with_suffix(".mat"))
        samples.append((jpg.stem, read_image(jpg), mat["pt2d"], pose_from_pose_para(mat["Pose_Para"])))
    return samples


def detect_all(detector, samples):
    """Per sample the matched detector box (x, y, w, h) or None, and the seconds detection took."""
    annotator = PoseAnnotator(detector, predictor=None)
    boxes, seconds = [], []
    for _, image, pt2d, _ in samples:
        start = time.perf_counter()
        faces = annotator.detect(image)
        seconds.append(time.perf_counter() - start)
        index = matching_face([f.box for f in faces], landmark_extent(pt2d))
        boxes.append(None if index is None else faces[index].box)
    return boxes, seconds


def leave_one_out_rules(boxes, samples):
    """For each sample, the rule fitted on the other samples' found faces (None where not found)."""
    found = [i for i, b in enumerate(boxes) if b is not None]
    extents = [landmark_extent(s[2]) for s in samples]
    return [None if boxes[i] is None else
            fit_crop_rule([boxes[j] for j in found if j != i], [extents[j] for j in found if j != i])
            for i in range(len(samples))]


def other_faces():
    """[(name, BGR image, 2xK landmarks or None)]: the faces ``CROP_RULES`` is fitted on, none of them
    an AFLW2000 sample: every 2nd frame of obama.mp4, the two shared photos and the 300W-LP sample
    (its labelled landmarks), each also mirrored (landmarks mirrored with it)."""
    import cv2
    images = []
    capture = cv2.VideoCapture(str(SHARED / "data" / "video" / "obama.mp4"))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 2 == 0:
            images.append((f"obama{index}", frame, None))
        index += 1
    for name in ("portrait_750x375", "group_1920x1080"):
        images.append((name, read_image(SHARED / "data" / "images" / f"{name}.jpg"), None))
    for jpg in sorted((SHARED / "data" / "300w_lp_sample").glob("*.jpg")):
        images.append((jpg.stem, read_image(jpg), scipy.io.loadmat(jpg.with_suffix(".mat"))["pt2d"]))
    mirrored = []
    for name, image, pt2d in images:
        flipped = None if pt2d is None else np.vstack([image.shape[1] - 1 - pt2d[0], pt2d[1]])
        mirrored.append((name + "_mirrored", np.ascontiguousarray(image[:, ::-1]), flipped))
    return images + mirrored


def fit_on_other_faces(detector):
    """``fit_crop_rule`` of ``detector``'s boxes on ``other_faces`` against the teacher landmark box:
    the labelled landmarks' extent where there are labels (the box must overlap them), else the extent
    of dlib's 68 points found in the box. Returns (rule, number of faces)."""
    annotator = PoseAnnotator(detector, predictor=None)
    boxes, extents = [], []
    for _, image, pt2d in other_faces():
        for face in annotator.detect(image):
            if pt2d is not None:
                if matching_face([face.box], landmark_extent(pt2d)) is None:
                    continue
                extents.append(landmark_extent(pt2d))
            else:
                extents.append(landmark_extent(shape_landmarks(image, face.box)))
            boxes.append(face.box)
    return fit_crop_rule(boxes, extents), len(boxes)


def crops_for(rule, detector, boxes, samples, rules=None):
    """Crops of the found faces under ``rule`` ("authors", "fitted", "landmarks68"), and their sample
    indices; ``rules``: per-sample fitted constants replacing ``CROP_RULES[detector]``."""
    crops, index = [], []
    for i, (box, (_, image, _, _)) in enumerate(zip(boxes, samples)):
        if box is None:
            continue
        height, width = image.shape[:2]
        if rule == "authors":
            clipped = clip_box(box, width, height)
            crop = detection_box(clipped, width, height)
        elif rule == "landmarks68":
            crop = crop_box(box, detector, width, height, rule="landmarks68", image=image)
        else:
            saved = CROP_RULES.get(detector)
            if rules is not None:
                CROP_RULES[detector] = rules[i]
            try:
                crop = crop_box(box, detector, width, height)
            finally:
                if rules is not None:
                    CROP_RULES[detector] = saved
        crops.append(crop_and_resize(image, crop))
        index.append(i)
    return crops, index


def row(label, fitted_on, predictions, poses, index, reference, ms):
    e = pose_errors(predictions, poses[index])
    ref = pose_errors(reference[index], poses[index])["mae"]
    return (f"| {label} | {fitted_on} | {len(index)}/{len(poses)} | {e['yaw']:.2f} | {e['pitch']:.2f} | {e['roll']:.2f} | "
            f"{e['mae']:.2f} | {ref:.2f} | {e['geodesic']:.2f} | {ms:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=SHARED / "data" / "aflw2000_samples", type=Path)
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--fit", action="store_true", help="print the constants fitted on all samples")
    args = parser.parse_args()
    from fsanet.deploy.predictor import PosePredictor
    from fsanet.deploy.threads import configure_cpu_threads
    from fsanet.hub.pretrained import load_pretrained
    configure_cpu_threads()
    model = load_pretrained("fusion", protocol="300W_LP")
    raw = PosePredictor(model, backend="keras")
    stretched = PosePredictor(model, normalize=True, backend="keras")
    samples = load_samples(args.folder)
    poses = np.stack([s[3] for s in samples])
    start = time.perf_counter()
    reference = raw([landmark_crop(s[1], s[2]) for s in samples])
    ms_ref = 1000 * (time.perf_counter() - start) / len(samples)
    print("| route | fitted on | found | yaw | pitch | roll | MAE | ref MAE (same faces) | geodesic | ms/photo |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row("landmark crop (training rule; labels' landmarks)", "-", reference, poses,
              list(range(len(samples))), reference, ms_ref))
    for name in args.detectors.split(","):
        if args.fit:
            fitted, count = fit_on_other_faces(DETECTORS[name]())
            print(f"<!-- {name} fitted on {count} other faces: "
                  f"{ {k: round(v, 3) for k, v in fitted.items()} } -->", flush=True)
        boxes, seconds = detect_all(DETECTORS[name](), samples)
        ms_detect = 1000 * float(np.mean(seconds))
        routes = [("authors", "authors", "-", stretched, None),
                  ("fitted (shipped CROP_RULES)", "fitted", "other faces", raw, None),
                  ("landmarks68", "landmarks68", "nothing", raw, None),
                  ("landmarks68 + minmax", "landmarks68", "nothing", stretched, None),
                  ("fitted on the 16, LOO (in-sample)", "fitted", "15 of the 16", raw,
                   leave_one_out_rules(boxes, samples))]
        for label, rule, fitted_on, predictor, rules in routes:
            start = time.perf_counter()
            crops, index = crops_for(rule, name, boxes, samples, rules)
            predictions = (np.stack([predictor(c) for c in crops]) if crops else np.empty((0, 3)))
            ms = ms_detect + 1000 * (time.perf_counter() - start) / len(samples)
            if index:
                print(row(f"{name}, {label}", fitted_on, predictions, poses, index, reference, ms), flush=True)
            else:
                print(f"| {name}, {label} | {fitted_on} | 0/{len(samples)} | | | | | | | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
