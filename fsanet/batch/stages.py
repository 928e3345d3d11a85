"""The three stages of a batch job on Ray Data, one row per unit (``fsanet.batch.plan``) throughout:

1. ``DetectStage`` (an actor pool; CPUs only): a unit's frames decoded in order, faces detected
   (every ``every`` frames), tracked and cropped by the crop rule exactly as the single-process
   command does (``PoseAnnotator.locate`` / ``crops``); the detectors load once per actor, no pose
   model and no TensorFlow (dlib's HOG for videos, the ONNX MTCNN cascade for photos). Out: the
   faces' metadata and their 64x64 crops, which travel to stage 2 through Ray's object store
   (12 KiB a face).
2. ``PoseStage`` (an actor pool; CPUs or a GPU): the exported model loaded once per actor
   (``PosePredictor.from_file``, one thread; ONNX Runtime's CUDA provider when given a GPU), run
   on a unit's crops in batches of ``POSE_BATCH``. Out: the angles, the crops dropped.
3. ``write_units`` (one task at a time, no CPU reserved): the unit's rows, One-Euro smoothing in
   frame order (it needs the angles, so it runs here), written atomically under the unit's name.
   Out: a status per unit, the only thing the driver collects.

Tracking needs a unit's frames in order and smoothing needs its poses in order: both stay within
one unit (stage 1 and stage 3 each see a whole unit), which is why the rows are one per unit.
A failure in a stage marks the unit (``error``, ``stage``) and later stages pass it on.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from fsanet.batch import storage
from fsanet.batch.plan import Unit
from fsanet.batch.tables import segment_path, unit_table, write_table
from fsanet.errors import FSANetError, one_line
from fsanet.model.variants import IMAGE_SIZE
from fsanet.video.records import FaceRecord
from fsanet.video.smoothing import PoseSmoother

ERROR_TEXT = 300
POSE_BATCH = 256
"""Crops per call of the pose model: a long segment's thousands of crops in bounded memory."""
FACE_COLUMNS = ("frame", "time", "track", "box", "detected", "confidence")
STATUS = ("key", "frames", "faces", "error", "stage", "detect_seconds", "pose_seconds", "write_seconds")


def unit_rows(units) -> list:
    """The job's input rows, one per unit."""
    return [{"key": u.key, "path": u.path, "kind": u.kind, "start": u.start,
             "stop": -1 if u.stop is None else u.stop} for u in units]


def _unit(row) -> Unit:
    return Unit(str(row["path"]), str(row["kind"]), int(row["start"]), None if row["stop"] < 0 else int(row["stop"]))


def _rows(batch) -> list:
    """A numpy batch as one dict per row."""
    return [dict(zip(batch, values)) for values in zip(*batch.values())]


def input_error(error, *paths) -> str:
    """An input's failure as one line for errors.parquet, whose row names the input: our own message
    without the path it starts with (``paths``: the input's, a local copy's), others' as ``Type: message``."""
    if not isinstance(error, FSANetError):
        return one_line(error, ERROR_TEXT)
    text = " ".join(str(error).split())
    for path in paths:
        text = text.removeprefix(f"{path}: ")
    return text if len(text) <= ERROR_TEXT else text[:ERROR_TEXT - 3] + "..."


def _columns(rows) -> dict:
    return {name: [row[name] for row in rows] for name in rows[0]}


class DetectStage:
    """Stage 1 (see the module docstring); ``options``: ``HeadPoseEstimator``'s detection options."""

    def __init__(self, options, every):
        from fsanet.api.estimator import HeadPoseEstimator
        self.estimator = HeadPoseEstimator(None, **options)
        self.every = every
        self.folder = tempfile.mkdtemp(prefix="fsanet-batch-")
        atexit.register(shutil.rmtree, self.folder, True)
        self.copy = (None, None)

    def __call__(self, batch):
        return _columns([self.locate(row) for row in _rows(batch)])

    def local(self, path) -> str:
        """A local file of ``path``: a URI's file copied here, kept while the next units are its own."""
        if not storage.is_uri(path):
            return path
        if self.copy[0] != path:
            if self.copy[1] is not None:
                os.remove(self.copy[1])
            self.copy = (None, None)
            self.copy = (path, storage.copy_to(path, self.folder))
        return str(self.copy[1])

    def locate(self, row) -> dict:
        from fsanet.video.media import Source
        from fsanet.video.pipeline import timed_frames
        from fsanet.video.tracking import FaceTracker
        started = time.perf_counter()
        unit = _unit(row)
        faces, crops, frames, name, error, stage, local = [], [], 0, "", "", "open", unit.path
        try:
            local = self.local(unit.path)
            source = Source(local, unit.start, unit.stop)
            annotator = self.estimator.annotator(source.kind, self.every if source.kind == "video" else 1)
            for name, frame, time_s in timed_frames(source):
                stage = "detect"  # a frame decoded: the input opened
                if time_s is None:  # a photo: tracks of its own
                    annotator.tracker = FaceTracker()
                found = annotator.locate(frame)
                crops.extend(annotator.crops(frame, found))
                faces.extend((annotator.frames + unit.start, np.nan if time_s is None else time_s, track.id,
                              box, track.detected, track.confidence) for track, box in found)
                annotator.frames += 1
                frames += 1
        except Exception as e:  # noqa: BLE001  (OpenCV, a detector: the input's problem, recorded)
            faces, crops, error = [], [], input_error(e, unit.path, local)
        columns = list(zip(*faces)) or [()] * len(FACE_COLUMNS)
        types = (np.int64, np.float64, np.int64, np.int64, np.bool_, np.float64)
        out = {column: np.asarray(values, dtype).reshape(-1) for column, values, dtype in zip(FACE_COLUMNS, columns, types)}
        return dict(row, **out, name=name, frames=frames, error=error, stage=stage if error else "",
                    crops=np.asarray(crops, np.uint8).reshape(-1), detect_seconds=time.perf_counter() - started)


class PoseStage:
    """Stage 2 (see the module docstring): ``model_bytes`` of an exported ``model_name`` file,
    written to a local file once per actor; ``providers``: ONNX Runtime's (None: the CPU's);
    ``flip_average``: ``PosePredictor``'s option."""

    def __init__(self, model_bytes, model_name, providers=None, flip_average=False):
        from fsanet.deploy.predictor import PosePredictor
        folder = tempfile.mkdtemp(prefix="fsanet-batch-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / model_name
        path.write_bytes(model_bytes)
        self.predictor = PosePredictor.from_file(path, threads=1, normalize=True, providers=providers,
                                                 flip_average=flip_average)

    def __call__(self, batch):
        rows = _rows(batch)
        for row in rows:  # each unit on its own: a failure marks its unit alone
            started = time.perf_counter()
            crops = row.pop("crops").reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 3)
            try:
                angles = np.concatenate([self.predictor(crops[i:i + POSE_BATCH])
                                         for i in range(0, len(crops), POSE_BATCH)] + [np.empty((0, 3), np.float32)])
            except Exception as e:  # noqa: BLE001  (a runtime's failure on this unit: recorded)
                angles = np.full((len(crops), 3), np.nan, np.float32)
                if not row["error"]:
                    row["error"], row["stage"] = one_line(e, ERROR_TEXT), "pose"
            row["angles"] = angles.astype(np.float32).reshape(-1)
            row["pose_seconds"] = time.perf_counter() - started
        return _columns(rows)


def write_units(batch, output, smooth):
    """Stage 3 (see the module docstring): each unit's file, and its status."""
    statuses = []
    for row in _rows(batch):
        started = time.perf_counter()
        unit = _unit(row)
        faces = 0
        if not row["error"]:
            try:
                table = unit_table(unit, records(row, smooth and unit.kind == "video"), int(row["frames"]),
                                   smooth and unit.kind == "video")
                write_table(segment_path(output, unit), table)
                faces = table.num_rows
            except Exception as e:  # noqa: BLE001  (the output's filesystem: recorded)
                row["error"], row["stage"] = one_line(e, ERROR_TEXT), "write"
        statuses.append({"key": row["key"], "frames": int(row["frames"]), "faces": faces, "error": str(row["error"]),
                         "stage": str(row["stage"]), "detect_seconds": float(row["detect_seconds"]),
                         "pose_seconds": float(row["pose_seconds"]), "write_seconds": time.perf_counter() - started})
    return _columns(statuses)


def records(row, smooth) -> list:
    """A unit's ``FaceRecord`` objects in frame order; ``smooth``: with One-Euro-smoothed angles,
    one filter per track as ``PoseAnnotator`` runs them (a filter whose track ended is never
    called again, so forgetting it there changes nothing)."""
    smoother = PoseSmoother() if smooth else None
    angles = row["angles"].reshape(-1, 3)
    boxes = row["box"].reshape(-1, 4)
    out = []
    for i, frame in enumerate(row["frame"]):
        time_s = None if np.isnan(row["time"][i]) else float(row["time"][i])
        track = int(row["track"][i])
        smoothed = tuple(smoother(track, time_s, angles[i])) if smoother is not None else None
        out.append(FaceRecord(int(frame), time_s, str(row["name"]), track, tuple(int(v) for v in boxes[i]),
                              bool(row["detected"][i]), float(row["confidence"][i]), tuple(angles[i]), None, smoothed))
    return out
