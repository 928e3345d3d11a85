"""Crop rules for detector boxes that reproduce the training crops' framing (issue 19).

The networks were trained on crops around a *landmark* box (SPEC §5, ``fsanet.faces.crop.landmark_box``:
the landmarks' extent, widened by 0.6 of its size on each side, clipped to the image, end-exclusive,
last row / column never included). A face detector's box is framed differently: MTCNN's box is
larger than the landmark box and centred higher, dlib's boxes sit on the eyes-to-chin area. The
authors' demo crop (``fsanet.faces.crop.detection_box``: margin 0.6 around the detector box) therefore
shows the network a face that is too small and too high, which costs accuracy on photos.

``crop_box(box, detector, width, height)`` maps a detector box (x, y, w, h) to the landmark box the
training rule would have started from (centre shift and scale in units of the detector box), then
applies the training margin and border rule. ``rule="authors"`` keeps ``detection_box``.
"""

from __future__ import annotations

import numpy as np

from fsanet.faces.boxes import iou
from fsanet.faces.crop import LANDMARK_MARGIN, detection_box

CROP_RULES = {
    "mtcnn": {"dx": -0.005, "dy": 0.135, "sw": 0.809, "sh": 0.821},
    "mtcnn_cascade": {"dx": 0.019, "dy": 0.138, "sw": 1.009, "sh": 0.766},
    "dlib": {"dx": 0.033, "dy": 0.085, "sw": 0.935, "sh": 0.931},
    "dlib_cnn": {"dx": 0.059, "dy": 0.135, "sw": 0.888, "sh": 0.947},
}
"""Detector name -> the landmark box it stands for: centre shift ``dx``, ``dy`` (in detector box
widths / heights; positive = right / down) and size ``sw``, ``sh`` (landmark box / detector box).

Fitted (``fit_crop_rule``: per-parameter medians) on the 16 AFLW2000 samples of the shared data
(``data/aflw2000_samples``): each detector's box of the labelled face, as the demo detects it
(``PoseAnnotator.detect``), against the extent of the face's labelled landmarks (``landmark_extent``);
no pose label is used. ``benchmarks/wild.py --fit`` prints them. Detectors: ``mtcnn`` is
``MTCNNDetector`` (P- and R-net, square boxes); ``mtcnn_cascade`` is ``MTCNNCascadeDetector(rgb=True)``
(the full cascade, O-net boxes, as the authors' demo ran MTCNN) with faces of confidence >= 0.9;
``dlib`` (12 of 16 faces found: HOG misses the profiles) and ``dlib_cnn`` as in ``fsanet.faces.detectors``.
Leave-one-out MAE of this fit with the 300W-LP fusion (fit on 15, evaluate the 16th; landmark crops
3.98 on the same faces): mtcnn 5.37, mtcnn_cascade 4.33, dlib_cnn 4.20, dlib 3.72 on its 12 (3.41).
"""


def estimated_landmark_box(box, detector):
    """(x_min, y_min, x_max, y_max) floats: the landmark box (before the margin) that ``detector``'s
    box (x, y, w, h) stands for, under ``CROP_RULES[detector]``."""
    rule = CROP_RULES[detector]
    x, y, w, h = (float(v) for v in box)
    cx = x + w / 2 + rule["dx"] * w
    cy = y + h / 2 + rule["dy"] * h
    half_w, half_h = rule["sw"] * w / 2, rule["sh"] * h / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def training_box(landmark_box, image_width, image_height, margin=LANDMARK_MARGIN):
    """The training rule (SPEC §5) applied to a landmark box (x_min, y_min, x_max, y_max) before its
    margin: ``int`` of the extent, ``margin`` times its size on each side, clipped to 0 and to
    width - 1 / height - 1; end-exclusive (x_min, y_min, x_max, y_max) ints."""
    x_min, y_min, x_max, y_max = (int(v) for v in landmark_box)
    w, h = x_max - x_min, y_max - y_min
    x_min = max(int(x_min - margin * w), 0)
    x_max = min(int(x_max + margin * w), image_width - 1)
    y_min = max(int(y_min - margin * h), 0)
    y_max = min(int(y_max + margin * h), image_height - 1)
    if x_max <= x_min or y_max <= y_min:
        raise ValueError(f"empty crop box x {x_min}:{x_max}, y {y_min}:{y_max}")
    return x_min, y_min, x_max, y_max


def crop_box(box, detector, image_width, image_height, rule="fitted"):
    """The crop (x_min, y_min, x_max, y_max), end-exclusive, for a detector box (x, y, w, h), which
    may reach outside the image (pass it unclipped: clipping first moves its centre).

    ``rule="fitted"``: ``CROP_RULES[detector]``, then the training margin and border rule.
    ``rule="authors"``: the authors' demo crop, ``fsanet.faces.crop.detection_box`` (margin 0.6).
    """
    if rule == "authors":
        return detection_box(box, image_width, image_height)
    if rule != "fitted":
        raise ValueError(f"unknown crop rule {rule!r}; choose 'fitted' or 'authors'")
    if detector not in CROP_RULES:
        raise ValueError(f"no fitted crop rule for detector {detector!r}; have {', '.join(CROP_RULES)}")
    return training_box(estimated_landmark_box(box, detector), image_width, image_height)


def landmark_extent(pt2d):
    """(x_min, y_min, x_max, y_max) ints: the landmarks' extent before the training margin, with the
    training rule's choice of valid points (``fsanet.faces.crop.landmark_box`` with margin 0)."""
    pt2d = np.asarray(pt2d, dtype=np.float64)
    keep_x, keep_y = pt2d[0] > 0, pt2d[1] > 0
    keep = keep_y if keep_x.sum() > keep_y.sum() else keep_x
    if not keep.any():
        raise ValueError("no valid landmark (all coordinates <= 0)")
    xs, ys = pt2d[0][keep], pt2d[1][keep]
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


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
