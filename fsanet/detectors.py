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


class MTCNNCascadeDetector:
    """MTCNN's full cascade as the authors ran it to prepare BIWI (mtcnn 0.0.9's ``MTCNN()``).

    P-, R- and O-net with 0.0.9's stage thresholds 0.6 / 0.7 / 0.7 (1.0.0's O-net default is 0.8)
    and minimum face size 20 px; each face's confidence is the O-net's and its box the O-net's, not
    squared, reported as 0.0.9 did: ``int`` of the corner and of the size, not clipped to the image.
    Every face the cascade keeps is returned; the caller applies its own confidence rule.

    The frame goes in with its channels as given: the authors fed ``cv2.imread``'s BGR, which
    decides which frames their BIWI sets contain. ``rgb=True`` converts it first, as MTCNN expects.
    """

    STAGE_THRESHOLDS = {"threshold_pnet": 0.6, "threshold_rnet": 0.7, "threshold_onet": 0.7}
    MIN_FACE_SIZE = 20

    def __init__(self, rgb=False):
        from mtcnn import MTCNN
        self.rgb = rgb
        self._mtcnn = MTCNN(stages="face_and_landmarks_detection")

    def __call__(self, image_bgr) -> list:
        image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB) if self.rgb else image_bgr
        rows = self._mtcnn.detect_faces(image, fit_to_image=False, box_format="xyxy", output_type="numpy",
                                        min_face_size=self.MIN_FACE_SIZE, **self.STAGE_THRESHOLDS)
        return [Face((int(x1), int(y1), int(x2 - x1), int(y2 - y1)), float(confidence))
                for x1, y1, x2, y2, confidence in rows[:, 1:6]]
