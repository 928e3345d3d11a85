"""Face detectors, all in one place: boxes (x, y, w, h) in pixel coordinates of a BGR image.

Every detector is fed RGB (the frame is converted here); ``make_detector(name)`` builds one by name.
BIWI preparation uses ``MTCNNCascadeDetector``, MTCNN as the authors ran it there (BGR by default).

- ``mtcnn``: MTCNN (Zhang et al. 2016) from the ``mtcnn`` package, which ships its weights. The
  authors' demo used it (fed BGR, a bug we do not repeat).
- ``dlib``: dlib's HOG + linear SVM frontal face detector (``dlib-bin`` wheel, no compiler).
- ``dlib_cnn``: dlib's MMOD CNN face detector, model file from ``face-recognition-models``.

Both dlib detectors find faces from about 80 px wide without upsampling (``upsample=0``, the
default here: each upsampling step costs about 4x the time); smaller faces need a larger image.
"""

from __future__ import annotations

import cv2

from fsanet.errors import DetectorError
from fsanet.faces.boxes import LANDMARKS, Face  # noqa: F401  (a detector's output type)
from fsanet.faces.mtcnn_fast import FastMTCNNCascade, FastMTCNNDetector


def _rgb(image_bgr):
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)


class MTCNNDetector:
    """MTCNN's proposal and refinement stages (``face_detection_only``), RGB input."""

    framing = "mtcnn"  # whose boxes these are, for the crop rules (fsanet.faces.framing)

    def __init__(self, min_confidence=0.95):
        from mtcnn import MTCNN
        self.min_confidence = min_confidence
        self._mtcnn = MTCNN(stages="face_detection_only")

    def __call__(self, image_bgr) -> list:
        faces = [Face(tuple(int(v) for v in d["box"]), float(d["confidence"]))
                 for d in self._mtcnn.detect_faces(_rgb(image_bgr))]
        return [f for f in faces if f.confidence >= self.min_confidence and f.box[2] > 0 and f.box[3] > 0]


class MTCNNCascadeDetector:
    """MTCNN's full cascade as the authors ran it to prepare BIWI (mtcnn 0.0.9's ``MTCNN()``).

    P-, R- and O-net with 0.0.9's stage thresholds 0.6 / 0.7 / 0.7 (1.0.0's O-net default is 0.8)
    and minimum face size 20 px; each face's confidence is the O-net's and its box the O-net's, not
    squared, reported as 0.0.9 did: ``int`` of the corner and of the size, not clipped to the image.
    ``landmarks``: O-net's five points (``LANDMARKS``), float pixels, not clipped (the package's
    keypoints before its rounding). Every face the cascade keeps is returned; the caller applies its
    own confidence rule. ``fsanet.faces.mtcnn_fast.FastMTCNNCascade`` is the same, faster.

    The frame goes in with its channels as given: the authors fed ``cv2.imread``'s BGR, which
    decides which frames their BIWI sets contain. ``rgb=True`` converts it first, as MTCNN expects.
    """

    framing = "mtcnn_cascade"
    STAGE_THRESHOLDS = {"threshold_pnet": 0.6, "threshold_rnet": 0.7, "threshold_onet": 0.7}
    MIN_FACE_SIZE = 20

    def __init__(self, rgb=False):
        from mtcnn import MTCNN
        self.rgb = rgb
        self._mtcnn = MTCNN(stages="face_and_landmarks_detection")

    def __call__(self, image_bgr) -> list:
        image = _rgb(image_bgr) if self.rgb else image_bgr
        rows = self._mtcnn.detect_faces(image, fit_to_image=False, box_format="xyxy", output_type="numpy",
                                        min_face_size=self.MIN_FACE_SIZE, **self.STAGE_THRESHOLDS)
        return [Face((int(x1), int(y1), int(x2 - x1), int(y2 - y1)), float(confidence),
                     tuple((float(x), float(y)) for x, y in zip(row[6:11], row[11:16])))
                for (x1, y1, x2, y2, confidence), row in zip(rows[:, 1:6], rows)]


def import_dlib():
    try:
        import dlib
    except ImportError:
        raise DetectorError("the dlib detectors need the dlib package (pip install dlib-bin)") from None
    return dlib


class DlibDetector:
    """dlib's HOG frontal face detector; ``confidence`` is the SVM score (> 0 means a face)."""

    framing = "dlib"

    def __init__(self, upsample=0, min_score=0.0):
        self._detector = import_dlib().get_frontal_face_detector()
        self.upsample, self.min_score = upsample, min_score

    def __call__(self, image_bgr) -> list:
        rects, scores, _ = self._detector.run(_rgb(image_bgr), self.upsample, self.min_score)
        return [Face((r.left(), r.top(), r.width(), r.height()), float(s)) for r, s in zip(rects, scores)]


class DlibCNNDetector:
    """dlib's MMOD CNN face detector (more poses than HOG, slower on a CPU)."""

    framing = "dlib_cnn"

    def __init__(self, upsample=0, min_confidence=0.0):
        dlib = import_dlib()
        try:
            import face_recognition_models
        except ImportError:
            raise DetectorError("dlib_cnn needs its model file from face-recognition-models "
                                "(pip install face-recognition-models)") from None
        self._detector = dlib.cnn_face_detection_model_v1(
            face_recognition_models.cnn_face_detector_model_location())
        self.upsample, self.min_confidence = upsample, min_confidence

    def __call__(self, image_bgr) -> list:
        found = self._detector(_rgb(image_bgr), self.upsample)
        return [Face((d.rect.left(), d.rect.top(), d.rect.width(), d.rect.height()), float(d.confidence))
                for d in found if d.confidence >= self.min_confidence]


DETECTORS = {"mtcnn_cascade": FastMTCNNCascade, "mtcnn": MTCNNDetector, "mtcnn_fast": FastMTCNNDetector,
             "dlib": DlibDetector, "dlib_cnn": DlibCNNDetector}
"""Detector name -> class; the demo's ``--detector`` choices. ``mtcnn_cascade``: MTCNN's full cascade
(O-net boxes and five landmarks, faces of confidence >= 0.9) under ONNX Runtime; ``mtcnn``: the
``mtcnn`` package's P- and R-net as before; ``mtcnn_fast``: the same boxes under ONNX Runtime."""


def default_detector(kind) -> str:
    """The demo's detector for a kind of input (``fsanet.video.media.Source.kind``), chosen with
    ``benchmarks/detectors.py`` and ``benchmarks/photo_detectors.py`` (README, Demo): on video
    ``dlib`` finds the face in every frame of obama.mp4 in a fraction of MTCNN's time, which real-time
    video needs; on photos ``mtcnn_cascade`` finds the small faces (down to ~20 px) that dlib's HOG
    misses (it needs ~80 px), several times faster than the ``mtcnn`` package, and its O-net boxes
    frame faces closest to the training crops (``fsanet.faces.framing``)."""
    return "mtcnn_cascade" if kind in ("image", "folder") else "dlib"


def default_detection_width(kind) -> int:
    """The width of the copy faces are detected on, by kind of input: photos 960 (MTCNN's cascade finds
    the seventh, 22-pixel face of the shared group photo from 960 on; a photo is detected once),
    videos and cameras 640 (detection runs every few frames of a live stream)."""
    return 960 if kind in ("image", "folder") else 640


def make_detector(name):
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
    return DETECTORS[name]()
