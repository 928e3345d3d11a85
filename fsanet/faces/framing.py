"""Crop rules for detector boxes that reproduce the training crops' framing (issue 19).

The networks were trained on crops around a *landmark* box (SPEC §5, ``fsanet.faces.crop.landmark_box``:
the landmarks' extent, widened by 0.6 of its size on each side, clipped to the image, end-exclusive,
last row / column never included). A face detector's box is framed differently: MTCNN's box is
larger than the landmark box and centred higher, dlib's boxes sit on the eyes-to-chin area. The
authors' demo crop (``fsanet.faces.crop.detection_box``: margin 0.6 around the detector box) therefore
shows the network a face that is too small and too high, which costs accuracy on photos.

``crop_box(box, detector, width, height, rule, image=None)`` has three rules. ``"fitted"`` maps a
detector box (x, y, w, h) to the landmark box the training rule would have started from (centre shift
and scale in units of the detector box, ``CROP_RULES``, fitted on faces other than the AFLW2000 samples
it is evaluated on), then applies the training margin and border rule. ``"landmarks68"`` finds dlib's
68 points inside the box (it needs the image) and applies the training rule to them, fitting nothing.
``"authors"`` keeps ``detection_box``. ``DEFAULT_RULES`` holds the choice per detector.
"""

from __future__ import annotations

import numpy as np

from fsanet.faces.boxes import iou
from fsanet.faces.crop import detection_box, landmark_box, landmark_extent, training_box  # noqa: F401

CROP_RULES = {
    "mtcnn": {"dx": 0.028, "dy": 0.166, "sw": 0.798, "sh": 0.816},
    "mtcnn_cascade": {"dx": 0.023, "dy": 0.168, "sw": 0.951, "sh": 0.791},
    "dlib": {"dx": -0.001, "dy": 0.166, "sw": 0.875, "sh": 0.906},
    "dlib_cnn": {"dx": 0.033, "dy": 0.181, "sw": 0.934, "sh": 0.907},
}
"""Detector name -> the landmark box it stands for: centre shift ``dx``, ``dy`` (in detector box
widths / heights; positive = right / down) and size ``sw``, ``sh`` (landmark box / detector box).

Fitted (``fit_crop_rule``: per-parameter medians) on faces that are NOT the 16 AFLW2000 samples the
rules are evaluated on: ``benchmarks/wild.py --fit`` (``wild.other_faces``) detects, as the demo does
(``PoseAnnotator.detect``), every face in every 2nd frame of ``data/video/obama.mp4`` (the 55 frames
OpenCV decodes), ``data/images/portrait_750x375.jpg``, ``data/images/group_1920x1080.jpg`` and the
300W-LP sample, each also mirrored; the teacher is the extent of the 300W-LP sample's labelled
landmarks, and elsewhere of dlib's 68 points (``shape_landmarks``, iBUG's scheme, the scheme of
300W-LP's labels) found inside that detector's own box. No AFLW2000 face and no pose label is used.
Faces: mtcnn 78, mtcnn_cascade 73, dlib 60, dlib_cnn 60. Detectors: ``mtcnn`` is ``MTCNNDetector``
(P- and R-net, square boxes); ``mtcnn_cascade`` is ``MTCNNCascadeDetector(rgb=True)`` (the full
cascade, O-net boxes) with faces of confidence >= 0.9; ``dlib``, ``dlib_cnn`` as in
``fsanet.faces.detectors``. Held-out MAE on the 16 AFLW2000 samples with the 300W-LP fusion
(landmark crops 3.98): mtcnn_cascade 4.37, dlib_cnn 4.48, mtcnn 4.99, dlib 3.60 on its 12 (3.41).
On 16 faces these numbers move by up to 0.2 when a constant moves in its 4th decimal (the crop's
integer corners flip by a pixel): differences below about 0.2 are noise.
"""

DEFAULT_RULES = {"mtcnn_cascade": "fitted", "dlib_cnn": "landmarks68", "dlib": "landmarks68", "mtcnn": "landmarks68"}
"""The rule chosen per detector by held-out MAE on the 16 AFLW2000 samples (``benchmarks/wild.py``;
300W-LP fusion, landmark crops 3.98 on the same faces): mtcnn_cascade ``fitted`` 4.37 (landmarks68
4.51, authors 4.71); dlib_cnn ``landmarks68`` 4.41 (fitted 4.30 to 4.49 as its constants' 4th decimal
changes, authors 4.66); dlib ``landmarks68``
3.42 on its 12 faces (landmark crops 3.41, fitted 3.60); mtcnn ``landmarks68`` 4.79 (fitted 4.99,
authors 6.36)."""

RULES = ("fitted", "landmarks68", "authors")

_SHAPE_PREDICTOR = None


def shape_landmarks(image_bgr, box):
    """2 x 68 float array: dlib's 68-point shape predictor (``face_recognition_models``' iBUG 300-W
    model) run inside the detector box (x, y, w, h), as a ``dlib.rectangle`` of its rounded corners."""
    global _SHAPE_PREDICTOR
    import cv2

    from fsanet.faces.detectors import import_dlib
    dlib = import_dlib()
    if _SHAPE_PREDICTOR is None:
        try:
            import face_recognition_models
        except ImportError:
            from fsanet.errors import DetectorError
            raise DetectorError("the landmarks68 crop rule needs face-recognition-models "
                                "(pip install face-recognition-models)") from None
        _SHAPE_PREDICTOR = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    x, y, w, h = (float(v) for v in box)
    rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
    shape = _SHAPE_PREDICTOR(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), rect)
    return np.array([[p.x for p in shape.parts()], [p.y for p in shape.parts()]], dtype=np.float64)


def estimated_landmark_box(box, detector):
    """(x_min, y_min, x_max, y_max) floats: the landmark box (before the margin) that ``detector``'s
    box (x, y, w, h) stands for, under ``CROP_RULES[detector]``."""
    rule = CROP_RULES[detector]
    x, y, w, h = (float(v) for v in box)
    cx = x + w / 2 + rule["dx"] * w
    cy = y + h / 2 + rule["dy"] * h
    half_w, half_h = rule["sw"] * w / 2, rule["sh"] * h / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def crop_box(box, detector, image_width, image_height, rule="fitted", image=None):
    """The crop (x_min, y_min, x_max, y_max), end-exclusive, for a detector box (x, y, w, h), which
    may reach outside the image (pass it unclipped: clipping first moves its centre).

    ``rule="fitted"``: ``CROP_RULES[detector]``, then the training margin and border rule.
    ``rule="landmarks68"``: dlib's 68 points found inside the box (``shape_landmarks``), then the
    training rule itself (``fsanet.faces.crop.landmark_box``); fits nothing, works for any detector,
    and needs ``image`` (the BGR image the box is in; about 5 ms a face on a CPU).
    ``rule="authors"``: the authors' demo crop, ``fsanet.faces.crop.detection_box`` (margin 0.6).
    ``rule=None``: ``DEFAULT_RULES[detector]``.
    """
    if rule is None:
        if detector not in DEFAULT_RULES:
            raise ValueError(f"no default crop rule for detector {detector!r}; have {', '.join(DEFAULT_RULES)}")
        rule = DEFAULT_RULES[detector]
    if rule == "authors":
        return detection_box(box, image_width, image_height)
    if rule == "landmarks68":
        if image is None:
            raise ValueError("the landmarks68 crop rule needs the image")
        return landmark_box(shape_landmarks(image, box), image_width, image_height)
    if rule != "fitted":
        raise ValueError(f"unknown crop rule {rule!r}; choose from {', '.join(RULES)}")
    if detector not in CROP_RULES:
        raise ValueError(f"no fitted crop rule for detector {detector!r}; have {', '.join(CROP_RULES)}")
    return training_box(estimated_landmark_box(box, detector), image_width, image_height)


def matching_face(boxes, reference, min_iou=0.1):
    """Index of the box (x, y, w, h) overlapping ``reference`` (x_min, y_min, x_max, y_max, e.g. a
    labelled face's landmark extent) most, with IoU >= ``min_iou``; None when none does."""
    if len(boxes) == 0:
        return None
    x0, y0, x1, y1 = reference
    overlaps = iou(boxes, [(x0, y0, x1 - x0, y1 - y0)])[:, 0]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= min_iou else None


def fit_crop_rule(detector_boxes, landmark_boxes):
    """{"dx", "dy", "sw", "sh"}: medians over faces of the landmark box's centre offset (in detector
    box widths / heights) and of its size relative to the detector box. ``detector_boxes``: (N, 4)
    x, y, w, h; ``landmark_boxes``: (N, 4) x_min, y_min, x_max, y_max before the margin."""
    d = np.asarray(detector_boxes, np.float64).reshape(-1, 4)
    l = np.asarray(landmark_boxes, np.float64).reshape(-1, 4)
    if len(d) == 0 or len(d) != len(l):
        raise ValueError(f"need matching, non-empty box lists, got {len(d)} and {len(l)}")
    w, h = d[:, 2], d[:, 3]
    dx = ((l[:, 0] + l[:, 2]) / 2 - (d[:, 0] + w / 2)) / w
    dy = ((l[:, 1] + l[:, 3]) / 2 - (d[:, 1] + h / 2)) / h
    sw, sh = (l[:, 2] - l[:, 0]) / w, (l[:, 3] - l[:, 1]) / h
    return {k: float(np.median(v)) for k, v in (("dx", dx), ("dy", dy), ("sw", sw), ("sh", sh))}
