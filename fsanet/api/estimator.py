"""Head pose of whole images and videos from Python: detection, the crop rule and the pose network
as the ``fsanet`` command runs them, results as ``fsanet.video.records.FaceRecord`` objects.

    faces = fsanet.estimate("group.jpg")               # one record per face: box, yaw, pitch, roll, ...
    for records in fsanet.analyze("talk.mp4", smooth=True):   # one list per frame, with track IDs
        ...
    fsanet.to_dataframe(faces)                         # the columns of the command's --data file

The records are the rows ``fsanet INPUT --data`` writes for the same input and options (a photo's
faces carry ``track=None``: a photo has no tracks). ``HeadPoseEstimator`` holds the model and the
detectors for many calls; the module-level functions keep one per set of options.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from fsanet.core.images import as_bgr, read_image
from fsanet.core.protocols import DEFAULT_PROTOCOL
from fsanet.deploy.predictor import PosePredictor
from fsanet.errors import ArgumentTypeError, UsageError
from fsanet.faces.detectors import default_detection_width, default_detector, make_detector
from fsanet.model.variants import IMAGE_SIZE
from fsanet.video.drawing import DRAWINGS, draw_face
from fsanet.video.media import Source
from fsanet.video.pipeline import PoseAnnotator, annotated_frames
from fsanet.video.records import FaceRecord, columns, flat_row
from fsanet.video.smoothing import PoseSmoother


class HeadPoseEstimator:
    """The demo's pipeline held for many calls: a pose model and, per kind of input, its detector.

    ``model``: a model spec (``fsanet.hub.model_spec``: a released name, ``fusion``, a ``.keras``,
    ``.h5`` or exported file), a model object, or a ``PosePredictor`` (used as it is: give it
    ``normalize=True`` as the command does); None for faces and crops alone (``annotator(kind).locate``
    and ``crops``: the detection stage of ``fsanet.batch``, whose pose runs elsewhere); ``protocol``:
    whose released weights. ``detector``,
    ``crop``, ``detection_width``, ``backend``, ``min_confidence``, ``min_face``, ``flip_average``: as
    the command's flags; None takes the command's defaults for each kind of input (photos: MTCNN's cascade on a
    960-wide copy; videos: dlib at 640). A face's ``confidence`` is its detector's own score (MTCNN:
    a probability; dlib: an SVM score, > 0 is a face).
    """

    def __init__(self, model="fusion", protocol=DEFAULT_PROTOCOL, detector=None, crop=None,
                 detection_width=None, backend=None, min_confidence=None, min_face=0, flip_average=False):
        if isinstance(model, (str, os.PathLike)):
            from fsanet.hub.model_spec import resolve_model  # here: an exported file needs no TensorFlow
            model = resolve_model(os.fspath(model), protocol, exported=True)
        self.predictor = (model if model is None or isinstance(model, PosePredictor)  # e.g. one shipped to a worker
                          else PosePredictor(model, normalize=True, backend=backend, flip_average=flip_average))
        self.detector_name, self.crop, self.detection_width = detector, crop, detection_width
        self.min_confidence, self.min_face = min_confidence, min_face
        self._detectors = {}
        if detector is not None:
            self._detectors[detector] = make_detector(detector)  # a bad name fails now, not mid-video
        if self.predictor is not None:
            self.predictor.predict_members([np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)])  # first call's graph work

    def annotator(self, kind, every=1, smooth=False, style="axes") -> PoseAnnotator:
        """A fresh ``PoseAnnotator`` (new tracks) for a kind of input (``Source.kind``)."""
        name = self.detector_name or default_detector(kind)
        if name not in self._detectors:
            self._detectors[name] = make_detector(name)
        width = default_detection_width(kind) if self.detection_width is None else self.detection_width
        return PoseAnnotator(self._detectors[name], self.predictor, every, width,
                             smoother=PoseSmoother() if smooth else None, style=style, crop_rule=self.crop,
                             min_confidence=self.min_confidence, min_face=self.min_face)

    def estimate(self, image) -> list:
        """The faces of one photo: a path, or an image array (BGR as OpenCV reads it; gray, BGRA and
        other depths as ``fsanet.core.images.as_bgr`` takes them)."""
        if isinstance(image, (str, os.PathLike)):
            name, frame = Path(image).stem, read_image(image)
        else:
            name, frame = "", as_bgr(image)
            frame = frame if frame.dtype == np.uint8 else np.rint(frame).astype(np.uint8)
        records = self.annotator("image")(frame, None, name, draw=False)
        return [dataclasses.replace(r, track=None) for r in records]

    def analyze(self, source, every=10, smooth=False, start=0, stop=None):
        """An iterator of one list of records per frame of ``source``: a video file, a folder of
        photos, a photo, or a webcam index (an int); faces of videos and webcams are tracked
        (detection every ``every`` frames, boxes carried in between), ``smooth`` adds
        One-Euro-smoothed angles. A bad input or option fails here, not at the first frame.

        ``start`` / ``stop``: a video's frames [start, stop) only, numbered as in the whole video.
        Such a segment starts afresh: a detection on its first frame, new tracks (IDs from 0), the
        smoothing restarted (``fsanet.batch`` stitches the tracks of consecutive segments)."""
        for name, value in (("every", every), ("start", start), ("stop", stop)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (1 if name == "every" else 0)):
                raise ArgumentTypeError(f"{name} is a frame number (an int, at least "
                                        f"{1 if name == 'every' else 0}), got {value!r}")
        source = Source(None if source is None else str(source), start, stop)
        moving = source.kind in ("video", "camera")
        annotator = self.annotator(source.kind, every if moving else 1, smooth and moving)
        frames = (records for _, _, records in annotated_frames(source, annotator))
        if not start:
            return frames
        return ([dataclasses.replace(r, frame=r.frame + start) for r in records] for records in frames)


_ESTIMATORS = {}
"""Options -> ``HeadPoseEstimator``: the module-level functions load a model once per process."""


def _estimator(options) -> HeadPoseEstimator:
    key = tuple(sorted(options.items()))
    try:
        hash(key)
    except TypeError:  # a model object: not kept
        return HeadPoseEstimator(**options)
    if key not in _ESTIMATORS:
        _ESTIMATORS[key] = HeadPoseEstimator(**options)
    return _ESTIMATORS[key]


def estimate(image, **options) -> list:
    """``HeadPoseEstimator(**options).estimate(image)``, the estimator kept for the next call."""
    return _estimator(options).estimate(image)


def analyze(source, every=10, smooth=False, start=0, stop=None, **options):
    """``HeadPoseEstimator(**options).analyze(source, every, smooth, start, stop)``, the estimator kept."""
    return _estimator(options).analyze(source, every, smooth, start, stop)


def draw(image, faces, style="axes"):
    """A copy of ``image`` with each face's pose (``style``: axes or cube), box and angles drawn."""
    if style not in DRAWINGS:
        raise UsageError(f"style {style!r}: choose from {', '.join(DRAWINGS)}")
    faces = _records(faces)
    canvas = read_image(image) if isinstance(image, (str, os.PathLike)) else np.array(as_bgr(image), np.uint8)
    for face in faces:
        draw_face(canvas, face, DRAWINGS[style])
    return canvas


def to_dataframe(records):
    """A pandas DataFrame with the command's ``--data`` columns, from records or lists of them
    (what ``analyze`` yields). pandas is optional: ``pip install pandas``."""
    try:
        import pandas
    except ImportError:
        raise UsageError("to_dataframe needs pandas: pip install pandas") from None
    flat = _records(records)
    rows = [flat_row(r.as_dict()) for r in flat]
    names = columns(spread=any(r.spread is not None for r in flat), smoothed=any(r.smoothed is not None for r in flat))
    return pandas.DataFrame(rows, columns=names)


def _records(items) -> list:
    """``FaceRecord`` objects, or lists of them (``analyze``'s frames), as one flat list."""
    try:
        flat = [r for item in items for r in (item if isinstance(item, list) else [item])]
    except TypeError:
        flat = [items]
    wrong = [r for r in flat if not isinstance(r, FaceRecord)]
    if wrong:
        raise ArgumentTypeError(f"expected face records (what fsanet.estimate and analyze give), got "
                                f"{type(wrong[0]).__name__}")
    return flat
