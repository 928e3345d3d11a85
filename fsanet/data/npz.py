"""Datasets in the authors' npz format: reading with checks, the ±99° filter, atomic writing.

npz keys: ``image`` (N, 64, 64, 3) uint8 BGR, ``pose`` (N, 3) float64 degrees [yaw, pitch, roll] (as the
authors' files store them; loading gives float32 to the networks), ``img_size``; and, in files this
project prepares, ``name`` (N,) each sample's file stem (what identity-disjoint splits need) and, for
300W-LP / AFLW2000, ``landmarks`` (N, 68, 2) float32 the 68 face landmarks (x, y) in crop pixels (what
the online mask augmentation needs). The authors' loader reads ``image`` and ``pose`` only, so it
reads these files as it reads theirs.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from fsanet.core.outputs import atomic_write
from fsanet.core.pose import VALUE_RANGE
from fsanet.errors import DatasetError
from fsanet.model.variants import IMAGE_SIZE


def load_pose_npz(path):
    """(images uint8 (N, S, S, 3), poses float (N, 3)) from an npz in the authors' format."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: dataset file not found")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: not a readable npz file (not a zip archive)")
    _check_headers(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            images, poses = (npz[k] if k in files else None for k in ("image", "pose"))
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable npz file ({e})") from None
    except ValueError:  # object arrays would need pickle, which is never allowed
        raise DatasetError(f"{path}: holds object (pickled) arrays, refused; "
                           "expected plain numeric arrays") from None
    missing = [k for k, v in (("image", images), ("pose", poses)) if v is None]
    if missing:
        raise DatasetError(f"{path}: missing key(s) {missing}; found {sorted(files)}")
    if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
        raise DatasetError(f"{path}: 'image' must be (N, S, S, 3), got {images.shape}")
    if images.dtype != np.uint8:
        raise DatasetError(f"{path}: 'image' must be uint8, got {images.dtype}")
    if poses.ndim != 2 or poses.shape[1] != 3 or not np.issubdtype(poses.dtype, np.number):
        raise DatasetError(f"{path}: 'pose' must be numeric (N, 3), got {poses.dtype} {poses.shape}")
    if len(images) != len(poses):
        raise DatasetError(f"{path}: {len(images)} images but {len(poses)} poses")
    bad = np.flatnonzero(~np.isfinite(poses).all(axis=1))
    if bad.size:
        raise DatasetError(f"{path}: {bad.size} pose label(s) are NaN or infinite (first at index {bad[0]})")
    return images, poses.astype(np.float32)


def _check_headers(path):
    """Refuse an array whose header claims more bytes than its zip entry holds (a damaged or forged
    file), before NumPy allocates what the header claims."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                    header = member.tell()
                if dtype.hasobject:
                    continue  # refused by np.load (no pickle)
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed > info.file_size - header:
                    raise DatasetError(f"{path}: {info.filename[:-4]!r} claims shape {shape} ({claimed} bytes) but "
                                       f"holds {info.file_size - header} bytes: a damaged file")
    except DatasetError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable npz file ({' '.join(str(e).split())})") from None


def within_range(poses, limit=VALUE_RANGE):
    """Mask of samples whose three angles all lie within [-limit, limit] (the authors' rule)."""
    return (np.abs(np.asarray(poses).reshape(-1, 3)) <= limit).all(axis=1)


def filter_angle_range(images, poses, limit=VALUE_RANGE):
    """Keep samples within the range; returns (images, poses, number dropped)."""
    keep = within_range(poses, limit)
    return images[keep], poses[keep], int((~keep).sum())


def load_pose_sets(paths, angle_filter=True, what="training"):
    """Concatenated (images, poses) of npz files, ±99° filtered when asked; (images, poses, dropped)."""
    if not paths:
        raise DatasetError(f"no {what} files given")
    parts = [load_pose_npz(p) for p in paths]
    images = np.concatenate([p[0] for p in parts])
    poses = np.concatenate([p[1] for p in parts])
    dropped = 0
    if angle_filter:
        images, poses, dropped = filter_angle_range(images, poses)
    if not len(images):
        raise DatasetError(f"{', '.join(map(str, paths))}: no {what} sample left after the ±99° filter")
    return images, poses, dropped


def _per_sample(paths, key, angle_filter, valid, what):
    """Key ``key`` of every sample of the npz files, in ``load_pose_sets`` order (same filter)."""
    parts = []
    for path in paths:
        _check_headers(path)
        with np.load(os.fspath(path), allow_pickle=False) as npz:
            if key not in npz.files:
                raise DatasetError(f"{path}: has no {key!r} key ({what}); prepare it again with this version")
            part, poses = npz[key], npz["pose"]
        if len(part) != len(poses) or not valid(part):
            raise DatasetError(f"{path}: {key!r} must be {what} for {len(poses)} samples, "
                               f"got {part.dtype} {part.shape}")
        parts.append(part[within_range(poses.astype(np.float32))] if angle_filter else part)  # as loaded
    return np.concatenate(parts)


def load_sample_names(paths, angle_filter=True):
    """The ``name`` of every sample of the npz files, in ``load_pose_sets`` order (same filter)."""
    return _per_sample(paths, "name", angle_filter, lambda a: a.ndim == 1 and a.dtype.kind == "U",
                       "sample names, to split it by identity")


def load_landmarks(paths, angle_filter=True):
    """The ``landmarks`` (N, 68, 2) of every sample of the npz files, in ``load_pose_sets`` order."""
    return _per_sample(paths, "landmarks", angle_filter,
                       lambda a: a.shape[1:] == (68, 2) and a.dtype.kind == "f" and np.isfinite(a).all(),
                       "68 face landmarks (x, y) per sample in crop pixels, which masks need").astype(np.float32)


def write_pose_npz(path, images, poses, image_size=IMAGE_SIZE, names=None, landmarks=None):
    """Write an npz in the authors' format atomically (temporary file, then rename); returns the path.

    Labels are stored as float64, as the authors' preparation computed and stored them.
    """
    poses = np.asarray(poses, np.float64).reshape(-1, 3)
    arrays = dict(image=np.asarray(images, np.uint8).reshape(-1, image_size, image_size, 3), pose=poses,
                  img_size=np.int64(image_size))
    if names is not None:
        arrays["name"] = np.asarray(names, dtype=str).reshape(len(poses))
    if landmarks is not None:
        arrays["landmarks"] = np.asarray(landmarks, np.float32).reshape(len(poses), -1, 2)
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)
    return path
