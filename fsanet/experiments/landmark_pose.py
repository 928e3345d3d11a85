"""Head pose from 68 facial landmarks: the paper's "Dlib (68 points)" baseline (Tables 1 and 2).

A face detector finds the face, dlib's 68-landmark model (``shape_predictor_68_face_landmarks.dat``
from the ``face-recognition-models`` package) places the iBUG 300-W points, and ``cv2.solvePnP``
fits a generic 3-D face (``face_model_68.csv``, OpenFace's mean shape; its source is named there)
to them under a pinhole camera with focal length = image width, principal point = image centre and
no lens distortion. The fitted rotation is turned into [yaw, pitch, roll] in the project's
convention (``fsanet.core.pose``). It needs the whole image, not the 64x64 crops the networks take.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from fsanet.core.pose import pose_from_rotation
from fsanet.errors import BaselineError
from fsanet.faces.boxes import best_face

FACE_MODEL_68 = np.loadtxt(Path(__file__).with_name("face_model_68.csv"), delimiter=",", comments="#")
"""(68, 3) generic face in OpenCV camera axes for a frontal face (x right, y down, z away)."""

_OPENCV_TO_HEAD = np.diag([1.0, 1.0, -1.0])
"""OpenCV's camera z points away from the camera, the project's towards it (``rotation_from_pose``)."""


def camera_matrix(width, height) -> np.ndarray:
    """The usual uncalibrated pinhole camera: focal length = width, principal point = centre."""
    return np.array([[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]])


def pose_from_landmarks(points, width, height) -> np.ndarray:
    """[yaw, pitch, roll] degrees of a face whose 68 landmarks (68, 2) lie in a width x height image.

    The fit starts from a frontal face at the distance its landmarks' width implies, so that the
    iterative solver settles on the face looking at the camera, not on the mirror solution behind it.
    """
    points = np.asarray(points, dtype=np.float64).reshape(68, 2)
    camera = camera_matrix(width, height)
    focal, centre = camera[0, 0], camera[:2, 2]
    depth = focal * np.ptp(FACE_MODEL_68[:, 0]) / max(np.ptp(points[:, 0]), 1.0)
    guess = np.append((points.mean(axis=0) - centre) * depth / focal, depth)
    found, rvec, _ = cv2.solvePnP(FACE_MODEL_68, points, camera, np.zeros(4), rvec=np.zeros(3),
                                  tvec=guess, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not found:
        return None
    rotation = cv2.Rodrigues(rvec)[0]  # face model -> OpenCV camera; identity for a frontal face
    return pose_from_rotation(_OPENCV_TO_HEAD @ rotation @ _OPENCV_TO_HEAD)


def _shape_predictor_path():
    try:
        import face_recognition_models
    except ImportError:
        raise BaselineError("the dlib68 baseline needs the face-recognition-models package "
                            "(pip install face-recognition-models)") from None
    return face_recognition_models.pose_predictor_model_location()


class Dlib68:
    """The Dlib-68 baseline as a callable: BGR image (+ optional labelled face box) -> pose or None.

    ``detector(bgr) -> [Face]`` defaults to dlib's HOG detector (``fsanet.faces.detectors``) upsampling
    the image once, as dlib's own landmark example runs it (the demo's default, no upsampling, is
    3.4x faster here but moves the boxes the landmarks start from).
    """

    name = "dlib68"
    UPSAMPLE = 1

    def __init__(self, detector=None, predictor_path=None):
        try:
            import dlib
        except ImportError:
            raise BaselineError("the dlib68 baseline needs the dlib package (pip install dlib-bin)") from None
        if detector is None:
            from fsanet.faces.detectors import DlibDetector
            detector = DlibDetector(upsample=self.UPSAMPLE)
        self.detector = detector
        self.predictor_path = os.fspath(predictor_path or _shape_predictor_path())
        if not os.path.isfile(self.predictor_path):
            raise BaselineError(f"{self.predictor_path}: landmark model file not found")
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(self.predictor_path)

    @property
    def size_mb(self) -> float:
        """The landmark model file, in MB (10^6 bytes): the size column of the tables."""
        return os.path.getsize(self.predictor_path) / 1e6

    def landmarks(self, image_bgr, box) -> np.ndarray:
        """(68, 2) landmark positions inside the face box (x, y, w, h)."""
        x, y, w, h = box
        shape = self._predictor(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB),
                                self._dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1)))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def __call__(self, image_bgr, reference_box=None):
        face = best_face(self.detector(image_bgr), reference_box)
        if face is None:
            return None
        height, width = image_bgr.shape[:2]
        return pose_from_landmarks(self.landmarks(image_bgr, face.box), width, height)
