"""Box geometry, in one place: boxes are (x, y, w, h) in pixels, as the detectors give them."""

from __future__ import annotations

import dataclasses

import numpy as np


LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""The five points MTCNN's O-net gives, in ``Face.landmarks`` order, named as the ``mtcnn`` package
names its keypoints (its left eye is the one further left in the image, usually the person's right)."""


@dataclasses.dataclass(frozen=True)
class Face:
    """A detected face: what every detector (``fsanet.faces.detectors``) returns."""

    box: tuple  # x, y, width, height
    confidence: float
    landmarks: tuple | None = None  # ((x, y), ...) in image pixels, LANDMARKS order; None: not given


def iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every (x, y, w, h) box in ``boxes_a`` with every one in ``boxes_b``."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(1, -1, 4)
    dx = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    dy = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(dx, 0, None) * np.clip(dy, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def centre_shift(boxes_a, boxes_b) -> np.ndarray:
    """Distance between the centres of every box in ``boxes_a`` and every one in ``boxes_b``, in
    units of the ``boxes_a`` box's larger side."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(1, -1, 4)
    distance = np.hypot(a[..., 0] + a[..., 2] / 2 - b[..., 0] - b[..., 2] / 2,
                        a[..., 1] + a[..., 3] / 2 - b[..., 1] - b[..., 3] / 2)
    return distance / np.maximum(a[..., 2:].max(axis=-1), 1e-12)


def clip_box(box, width, height):
    """A detector box (x, y, w, h) cut to the frame, or None when nothing is left."""
    x, y, w, h = box
    x0, y0, x1, y1 = max(int(x), 0), max(int(y), 0), min(int(x + w), width), min(int(y + h), height)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def suppress_duplicates(faces, overlap=0.6):
    """Drop a face whose box lies mostly (> ``overlap`` of the smaller box) inside a more confident
    one: MTCNN sometimes returns the same face twice, which would draw two sets of axes."""
    kept = []
    for face in sorted(faces, key=lambda f: -f.confidence):
        x, y, w, h = face.box
        if all(_intersection(face.box, k.box) <= overlap * min(w * h, k.box[2] * k.box[3]) for k in kept):
            kept.append(face)
    return kept


def _intersection(a, b):
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(dx, 0) * max(dy, 0)


def best_face(faces, reference_box=None):
    """The detected face to use: the one overlapping ``reference_box`` (x, y, w, h) most, when one is
    known (the labelled face of a dataset image), else the most confident; None when none fits."""
    if reference_box is not None:
        if not faces:
            return None
        overlaps = iou([f.box for f in faces], [reference_box])[:, 0]
        best = int(np.argmax(overlaps))
        return faces[best] if overlaps[best] > 0 else None
    return max(faces, key=lambda f: f.confidence, default=None)
