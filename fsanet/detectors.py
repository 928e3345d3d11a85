"""Face detectors for the demos: boxes (x, y, w, h) in pixel coordinates of a BGR image."""

from __future__ import annotations

import dataclasses

import cv2


@dataclasses.dataclass(frozen=True)
class Face:
    box: tuple  # x, y, width, height
    confidence: float


class MTCNNDetector:
    """MTCNN (Zhang et al. 2016) from the ``mtcnn`` package, which ships its weights.

    MTCNN expects RGB: the BGR frame is converted first (the authors' demo fed BGR, a bug).
    """

    def __init__(self, min_confidence=0.95):
        from mtcnn import MTCNN
        self.min_confidence = min_confidence
        self._mtcnn = MTCNN(stages="face_detection_only")

    def __call__(self, image_bgr) -> list:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        faces = [Face(tuple(int(v) for v in d["box"]), float(d["confidence"]))
                 for d in self._mtcnn.detect_faces(rgb)]
        return [f for f in faces if f.confidence >= self.min_confidence and f.box[2] > 0 and f.box[3] > 0]
