"""300W-LP and AFLW2000 ("type1") preparation: folders of ``<name>.jpg`` + ``<name>.mat`` into the
authors' npz, sample by sample (SPEC §5).

Crops follow SPEC §5 exactly; all samples are kept (the ±99° filter is applied when loading); each
sample's 68 landmarks are kept too, in crop pixels (npz key ``landmarks``, for mask augmentation). A
sample that fails in any way (a cut image, a malformed .mat) is skipped and reported by name
(``strict``: stop at the first one). Whole-dataset runs skip splits whose npz already exists and
reads back, so an interrupted run resumes; an unreadable one is prepared again.

Robustness test sets (``Perturbation``): the face masked before cropping (``fsanet.data.robustness.occlude``
from the sample's 68 landmarks: ``pt3d_68`` where the .mat has it, as AFLW2000 does, else ``pt2d``) and/or
the crop turned in plane about its centre with its label (``rotate_in_plane``); per-sample randomness
comes from (seed, sample name), so a set is the same however it is split across workers.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from fsanet.core.images import decode_image
from fsanet.core.outputs import check_output
from fsanet.core.pose import pose_from_pose_para
from fsanet.core.progress import progress_bar
from fsanet.core.workers import worker_pool
from fsanet.data.npz import load_pose_npz, within_range, write_pose_npz
from fsanet.data.robustness import MAX_TEST_ROTATION, occlude, rotate_in_plane, rotate_points
from fsanet.errors import DatasetError, ImageError, SampleError, one_line
from fsanet.faces.crop import crop_and_resize, crop_points, landmark_box
from fsanet.model.variants import IMAGE_SIZE

SPLITS_300W_LP = ("AFW", "AFW_Flip", "HELEN", "HELEN_Flip", "IBUG", "IBUG_Flip", "LFPW", "LFPW_Flip")
"""The 8 folders of 300W-LP; each becomes ``<split>.npz``, the training set of protocol 1."""


def pair_type1_files(directory):
    """Sorted (stem, jpg, mat) triples of a 300W-LP / AFLW2000 folder, and the unpaired files.

    Pairs are made by exact file stem, so an image is never matched with another sample's labels.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory")
    jpgs = {p.stem: p for p in directory.iterdir() if p.suffix.lower() == ".jpg"}
    mats = {p.stem: p for p in directory.iterdir() if p.suffix.lower() == ".mat"}
    if not jpgs and not mats:
        raise DatasetError(f"{directory}: no .jpg / .mat samples found")
    pairs = [(stem, jpgs[stem], mats[stem]) for stem in sorted(jpgs.keys() & mats.keys())]
    unpaired = sorted([(p, "image without its .mat") for s, p in jpgs.items() if s not in mats] +
                      [(p, ".mat without its image") for s, p in mats.items() if s not in jpgs])
    return pairs, unpaired


def _load_mat(mat):
    try:
        return scipy.io.loadmat(os.fspath(mat))
    except Exception as e:  # scipy raises several types for corrupt files
        raise SampleError(f"unreadable .mat ({type(e).__name__})") from None


def read_type1_labels(mat):
    """(pose [yaw, pitch, roll] degrees float64, landmarks pt2d 2 x K) of one sample's ``.mat``."""
    return _labels(_load_mat(mat))


def _labels(labels):
    if "pt2d" not in labels or "Pose_Para" not in labels:
        raise SampleError(".mat lacks pt2d or Pose_Para")
    pose_para = np.asarray(labels["Pose_Para"])
    if pose_para.dtype.kind not in "iuf" or pose_para.size < 3:
        raise SampleError(f"Pose_Para must hold pitch, yaw, roll (3+ numbers), got {pose_para.dtype} "
                          f"of shape {pose_para.shape}")
    pose = pose_from_pose_para(pose_para)
    if not np.isfinite(pose).all():
        raise SampleError("NaN or infinite pose label")
    return pose, labels["pt2d"]


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """How a robustness test set changes each sample: ``occlusion`` (None or a kind of ``occlude``),
    ``rotate`` (None, degrees, or "random": uniform in +-``MAX_TEST_ROTATION``), ``seed``."""

    occlusion: str | None = None
    rotate: float | str | None = None
    seed: int = 0

    def rng(self, stem, part):
        return np.random.default_rng([self.seed, zlib.crc32(stem.encode()), part])


def _landmarks_68(labels):
    """The sample's 68 landmarks, 2 x 68 (AFLW2000's ``pt2d`` holds AFLW's 21: its ``pt3d_68`` then)."""
    return labels["pt3d_68"][:2] if "pt3d_68" in labels else labels["pt2d"]


def prepare_type1_sample(jpg, mat, image_size=IMAGE_SIZE, perturbation=None):
    """(crop uint8 (S, S, 3) BGR, pose [yaw, pitch, roll] degrees) of one sample, per SPEC §5,
    changed by ``perturbation`` (a ``Perturbation``) for robustness test sets.

    The image is decoded strictly (``fsanet.core.images``): a cut or corrupt file is a bad sample."""
    return _sample(jpg, mat, image_size, perturbation)[:2]


def _sample(jpg, mat, image_size, perturbation):
    """``prepare_type1_sample``'s crop and pose, and the 68 landmarks (68, 2) in crop pixels, turned
    with the crop (None when the .mat holds no 68 points)."""
    try:
        image = decode_image(jpg, cv2.IMREAD_COLOR)  # as the authors' cv2.imread, minus the grey fill
    except ImageError:
        raise SampleError("unreadable or truncated image") from None
    labels = _load_mat(mat)
    pose, pt2d = _labels(labels)
    points = _landmarks_68(labels)
    stem = Path(jpg).stem
    if perturbation and perturbation.occlusion:
        image = occlude(image, points, perturbation.occlusion, perturbation.rng(stem, 0))
    try:
        box = landmark_box(pt2d, image.shape[1], image.shape[0])
    except ValueError as e:
        raise SampleError(str(e)) from None
    crop = crop_and_resize(image, box, image_size)
    landmarks = _crop_landmarks(points, box, image_size)
    if perturbation and perturbation.rotate is not None:
        degrees = perturbation.rotate
        if degrees == "random":
            degrees = perturbation.rng(stem, 1).uniform(-MAX_TEST_ROTATION, MAX_TEST_ROTATION)
        crop, pose = rotate_in_plane(crop, pose, degrees)
        landmarks = None if landmarks is None else rotate_points(landmarks, degrees, crop.shape)
    return crop, pose, landmarks


def _crop_landmarks(points, box, image_size):
    """The 68 landmarks (68, 2) in crop pixels, or None when the .mat's are not 2 x 68 finite numbers
    (the crop does not need them: the sample is kept; a file keeps landmarks when all its samples have them)."""
    points = np.asarray(points)
    if points.shape != (2, 68) or points.dtype.kind not in "iuf" or not np.isfinite(points).all():
        return None
    return crop_points(points.T, box, image_size)


def _prepare(task):
    stem, jpg, mat, image_size, perturbation = task
    try:
        return stem, _sample(jpg, mat, image_size, perturbation), None
    except SampleError as e:
        return stem, None, str(e)
    except Exception as e:  # noqa: BLE001  (anything else one sample's files cause is that sample's)
        return stem, None, one_line(e)


def prepare(input_dir, output, workers=None, strict=False, image_size=IMAGE_SIZE, progress=None,
            perturbation=None):
    """Run the preparation (each sample changed by ``perturbation``, a ``Perturbation``, if given);
    returns a summary dict. Raises DatasetError on fatal problems."""
    check_output(output)
    pairs, unpaired = pair_type1_files(input_dir)
    failures = [(p.name, why) for p, why in unpaired]
    if strict and failures:
        raise DatasetError(f"{input_dir}: {failures[0][0]}: {failures[0][1]}")
    tasks = [(stem, jpg, mat, image_size, perturbation) for stem, jpg, mat in pairs]
    crops, poses, names, landmarks = [], [], [], []
    workers = workers or os.cpu_count() or 1
    with worker_pool(workers) as pool:
        results = pool.map(_prepare, tasks, chunksize=64)
        for stem, sample, error in progress_bar(results, progress, total=len(tasks),
                                                desc=Path(input_dir).name, unit="img"):
            if error:
                if strict:
                    raise DatasetError(f"{input_dir}: {stem}: {error}")
                failures.append((stem, error))
                continue
            crops.append(sample[0])
            poses.append(sample[1])
            landmarks.append(sample[2])
            names.append(stem)
    if not crops:
        raise DatasetError(f"{input_dir}: no usable sample; all {len(failures)} failed "
                           f"(first: {failures[0][0]}: {failures[0][1]})")
    landmarks = None if any(points is None for points in landmarks) else landmarks  # kept only for all
    write_pose_npz(output, crops, poses, image_size, names, landmarks)
    outside = int((~within_range(poses)).sum())
    return {"kept": len(crops), "outside_range": outside, "failed": failures, "output": str(output)}


def prepare_300w_lp(root, output_dir, workers=None, strict=False, image_size=IMAGE_SIZE,
                    progress=None):
    """Prepare the 8 splits of 300W-LP into ``<output_dir>/<split>.npz``; existing files are kept."""
    root, output_dir = Path(root), Path(output_dir)
    check_output(output_dir, folder=True)
    missing = [s for s in SPLITS_300W_LP if not (root / s).is_dir()]
    if missing:
        raise DatasetError(f"{root}: not a 300W-LP folder, missing {missing}")
    summaries = {}
    for split in SPLITS_300W_LP:
        output = output_dir / f"{split}.npz"
        damage = _damage(output)
        if output.exists() and damage is None:
            summaries[split] = {"kept": None, "failed": [], "output": str(output), "existing": True}
            continue
        summaries[split] = prepare(root / split, output, workers, strict, image_size, progress)
        summaries[split]["replaced"] = damage
    return summaries


def _damage(path):
    """Why an existing npz cannot be kept (left by something other than this code, whose writes
    are atomic), or None when it is readable or absent."""
    if not path.exists():
        return None
    try:
        load_pose_npz(path)
    except DatasetError as e:
        return str(e)
    return None
