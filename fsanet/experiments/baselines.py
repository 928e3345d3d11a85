"""Whole-image test sets and the methods evaluated on them: the paper's landmark baseline rows.

The networks are scored on the stored 64x64 crops (``fsanet.experiments.evaluation``); a baseline such as
Dlib-68 (``fsanet.experiments.landmark_pose``) needs whole images, so it reads a raw dataset folder:

- AFLW2000 (or any 300W-LP-style folder): ``<name>.jpg`` + ``<name>.mat``, paired by name; the
  labelled landmarks say which detected face is the annotated one;
- BIWI: the ``hpdb`` root (``NN/frame_XXXXX_rgb.png`` + ``frame_XXXXX_pose.txt``); the most
  confident face is used.

Labels are read exactly as data preparation reads them, and the ±99° rule drops samples by their
labels as it does for the npz sets. A face the method does not find is counted and named; the
scores are over the faces found.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fsanet.core.images import decode_image
from fsanet.core.progress import progress_bar
from fsanet.data.biwi import list_videos, pair_frames, read_pose_file
from fsanet.data.biwi_prepare import prepare as prepare_biwi
from fsanet.data.npz import load_pose_npz, within_range
from fsanet.data.type1 import pair_type1_files, prepare_type1_sample, read_type1_labels
from fsanet.errors import DatasetError, ImageError, SampleError
from fsanet.experiments.evaluation import score, yaw_bin_masks
from fsanet.faces.crop import landmark_box

BASELINES = ("dlib68",)
"""Methods evaluated on raw folders, by the name ``test --models`` takes."""


@dataclasses.dataclass(frozen=True)
class RawSample:
    name: str
    image: Path
    pose: np.ndarray  # [yaw, pitch, roll] degrees, float64
    landmarks: np.ndarray | None = None  # 2 x K, where the dataset labels them


@dataclasses.dataclass
class RawTestSet:
    name: str
    folder: Path
    samples: list
    outside_range: int = 0  # dropped by the ±99° rule
    failed: list = dataclasses.field(default_factory=list)  # (file name, why) of unusable samples

    @property
    def poses(self) -> np.ndarray:
        return np.array([s.pose for s in self.samples]).reshape(-1, 3)


def make_baseline(name):
    """The baseline called ``name`` (one of ``BASELINES``), ready to run."""
    from fsanet.experiments.landmark_pose import Dlib68
    return {"dlib68": Dlib68}[name]()


def _type1_samples(folder, failed):
    pairs, unpaired = pair_type1_files(folder)
    failed += [(p.name, why) for p, why in unpaired]
    for stem, jpg, mat in pairs:
        try:
            pose, landmarks = read_type1_labels(mat)
        except SampleError as e:
            failed.append((mat.name, str(e)))
            continue
        yield RawSample(stem, jpg, pose, np.asarray(landmarks, dtype=np.float64))


def _biwi_samples(folder, failed):
    for video in list_videos(folder):
        pairs, unpaired = pair_frames(video)
        failed += [(f"{video.name}/{p.name}", why) for p, why in unpaired]
        for _, png, txt in pairs:
            try:
                yield RawSample(f"{video.name}/{png.name}", png, read_pose_file(txt))
            except SampleError as e:
                failed.append((f"{video.name}/{txt.name}", str(e)))


def load_raw_test_set(folder, name=None, angle_filter=True) -> RawTestSet:
    """The labelled images of a raw AFLW2000-style or BIWI ``hpdb`` folder (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a directory")
    failed = []
    if any(folder.glob("*.mat")):
        samples = list(_type1_samples(folder, failed))
    elif any(p.is_dir() and p.name.isdigit() for p in folder.iterdir()):
        samples = list(_biwi_samples(folder, failed))
    else:
        raise DatasetError(f"{folder}: neither an AFLW2000-style folder (.jpg + .mat) "
                           "nor a BIWI hpdb root (video folders 01, 02, ...)")
    test_set = RawTestSet(name or folder.name, folder, samples, failed=failed)
    if angle_filter and samples:
        keep = within_range(test_set.poses)
        test_set.samples = [s for s, k in zip(samples, keep) if k]
        test_set.outside_range = int((~keep).sum())
    if not test_set.samples:
        raise DatasetError(f"{folder}: no usable test sample ({len(failed)} failed, "
                           f"{test_set.outside_range} outside ±99°)")
    return test_set


def raw_crops(test_set: RawTestSet, angle_filter=True, workers=None, progress=None):
    """(crops uint8 (N, 64, 64, 3), poses (N, 3)) of a raw set for the pose networks, cropped as the
    npz files are: an AFLW2000-style folder by the type1 crop around its landmarks (``fsanet.data.type1``,
    in memory: the crops ``prepare-type1`` would write), a BIWI hpdb folder as ``prepare-biwi --protocol
    1`` does (MTCNN's cascade and the authors' box rules, in a temporary folder; frames without a face
    are left out, so fewer than the set's images may be scored; ``angle_filter``: the ±99° rule, as
    the set was loaded with)."""
    if test_set.samples and test_set.samples[0].landmarks is not None:
        crops, poses = [], []
        for sample in progress_bar(test_set.samples, progress, desc=f"cropping {test_set.name}", unit="img"):
            try:
                crop, pose = prepare_type1_sample(sample.image, sample.image.with_suffix(".mat"))
            except SampleError:
                continue  # counted: the scores say how many were scored
            crops.append(crop)
            poses.append(pose)
        return np.stack(crops), np.array(poses, np.float32)
    with tempfile.TemporaryDirectory(prefix="fsanet-biwi-") as folder:
        summary = prepare_biwi(test_set.folder, folder, 1, workers=workers, progress=progress)
        images, poses = load_pose_npz(summary["outputs"]["all"]["path"])[:2]
    keep = within_range(poses) if angle_filter else np.ones(len(poses), bool)
    return images[keep], poses[keep]


def _reference_box(sample, width, height):
    """The labelled face as (x, y, w, h): the landmarks' bounding box, or None."""
    if sample.landmarks is None:
        return None
    try:
        x0, y0, x1, y1 = landmark_box(sample.landmarks, width, height, margin=0.0)
    except ValueError:
        return None
    return x0, y0, x1 - x0, y1 - y0


def evaluate_baseline(method, test_set: RawTestSet, progress=None) -> dict:
    """One method on one raw set: the score over the faces found, per-sample ``predictions`` (None
    where no face was found), ``missed`` names, ``faces_not_found``, ``scored`` and ``unreadable``
    images. ``progress``: show a bar (None: only on a terminal)."""
    predictions, missed, unreadable = [], [], []
    for sample in progress_bar(test_set.samples, progress, desc=f"{method.name} {test_set.name}", unit="img"):
        try:
            image = decode_image(sample.image, cv2.IMREAD_COLOR)  # strictly: a cut file is unreadable
        except ImageError:
            unreadable.append(sample.name)
            predictions.append(None)
            continue
        height, width = image.shape[:2]
        pose = method(image, _reference_box(sample, width, height))
        if pose is None:
            missed.append(sample.name)
        predictions.append(None if pose is None else [float(v) for v in pose])
    found = [i for i, p in enumerate(predictions) if p is not None]
    if found:
        result = score(np.array([predictions[i] for i in found]), test_set.poses[found])
    else:  # nothing to score: every measure is missing
        result = dict(dict.fromkeys(("yaw", "pitch", "roll", "mae", "geodesic", "maev", "maev_axes")),
                      yaw_bins={name: {"count": 0, "mae": None} for name in yaw_bin_masks(np.zeros((0, 3)))})
    return dict(result, predictions=predictions, missed=missed, faces_not_found=len(missed),
                unreadable=unreadable, scored=len(found))
