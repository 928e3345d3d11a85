"""BIWI Kinect Head Pose Database: frames, labels and the authors' face-box rules (SPEC §5).

Raw layout: ``<root>/NN/frame_XXXXX_rgb.png`` with ``frame_XXXXX_pose.txt`` (a 3x3 rotation, then
the head centre), one folder per video (24 videos, 01..24).

The two protocols differ only in what happens when a frame's detection is missing or jumps:

- protocol 1 (``BIWI_noTrack``): the frame is dropped (confidence must be > 0.90);
- protocol 2 (70/30 split by video): the previous frame's box is reused (confidence > 0.95).

A detection "jumps" when the left edge of its widened box moved 80 px or more since the last box
used. Among several confident faces the authors keep the one whose widened box's top-left corner is
nearest (L1) to (2/3 width, 2/3 height) of the frame; we do the same.

Deviations, both where the authors' script has no defined behaviour: the first frame of a video
with no confident face is dropped (the script crops a 1-pixel box), and in protocol 1 a frame whose
faces are all below the threshold is dropped (the script silently reused a stale box).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np

from fsanet.crop import IMAGE_SIZE, crop_and_resize, detection_box
from fsanet.data import DatasetError, SampleError
from fsanet.pose import pose_from_biwi_rotation

MARGIN = 0.4
JUMP_PIXELS = 80
VIDEOS = 24
TRAIN_VIDEOS = 16


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    min_confidence: float  # strictly greater than
    reuse_previous_box: bool


PROTOCOLS = {1: Protocol("BIWI_noTrack", 0.90, False), 2: Protocol("BIWI_70_30", 0.95, True)}

_FRAME = re.compile(r"^frame_(\d+)_(rgb\.png|pose\.txt)$")


def list_videos(root):
    """Sorted video folders (names made of digits) under a BIWI ``hpdb`` root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    videos = sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()),
                    key=lambda p: int(p.name))
    if not videos:
        raise DatasetError(f"{root}: no BIWI video folders (01, 02, ...) found")
    return videos


def pair_frames(video):
    """Sorted (frame number, png, txt) triples of one video folder, and the unpaired files.

    Pairs are made by frame number, so an image never gets another frame's label.
    """
    images, labels = {}, {}
    for path in Path(video).iterdir():
        match = _FRAME.match(path.name)
        if match:
            (images if match.group(2) == "rgb.png" else labels)[int(match.group(1))] = path
    pairs = [(n, images[n], labels[n]) for n in sorted(images.keys() & labels.keys())]
    unpaired = sorted([(p, "image without its pose.txt") for n, p in images.items() if n not in labels] +
                      [(p, "pose.txt without its image") for n, p in labels.items() if n not in images])
    return pairs, unpaired


def read_pose_file(path):
    """[yaw, pitch, roll] degrees from a ``frame_XXXXX_pose.txt``."""
    try:
        rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
        matrix = np.array([[float(v) for v in row] for row in rows[:3]])
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SampleError(f"unreadable pose file ({type(e).__name__})") from None
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise SampleError("pose file does not start with a finite 3x3 rotation")
    if not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-3) or np.linalg.det(matrix) < 0:
        raise SampleError("pose file's 3x3 matrix is not a rotation")
    return pose_from_biwi_rotation(matrix)


def choose_face(faces, protocol, width, height, margin=MARGIN):
    """The authors' widened box (x_min, y_min, x_max, y_max) of the face to keep, or None."""
    boxes = [detection_box(f.box, width, height, margin) for f in faces
             if f.confidence > protocol.min_confidence and f.box[2] > 0 and f.box[3] > 0]
    if not boxes:
        return None
    return min(boxes, key=lambda b: abs(b[0] - width * 2 / 3) + abs(b[1] - height * 2 / 3))


def prepare_video(video, detector, protocol, image_size=IMAGE_SIZE, margin=MARGIN):
    """Crops, poses and a report of one video, applying the protocol's box rules in frame order.

    ``detector(bgr) -> [Face]`` must report every face with its confidence (no threshold).
    Returns (crops, poses, report) where report counts ``kept``, ``reused_box`` and lists
    ``dropped`` / ``failed`` as (file name, reason).
    """
    pairs, unpaired = pair_frames(video)
    report = {"video": Path(video).name, "kept": 0, "reused_box": 0, "dropped": [],
              "failed": [(p.name, why) for p, why in unpaired]}
    crops, poses = [], []
    previous = None
    for _, png, txt in pairs:
        try:
            pose = read_pose_file(txt)
            image = cv2.imread(str(png))
            if image is None or image.size == 0:
                raise SampleError("unreadable or truncated image")
        except SampleError as e:
            report["failed"].append((png.name, str(e)))
            continue
        height, width = image.shape[:2]
        box = choose_face(detector(image), protocol, width, height, margin)
        problem = None
        if box is None:
            problem = f"no face with confidence > {protocol.min_confidence}"
        elif previous is not None and abs(box[0] - previous[0]) >= JUMP_PIXELS:
            problem = f"box jumped {abs(box[0] - previous[0])} px"
        if problem:
            if not protocol.reuse_previous_box or previous is None:
                report["dropped"].append((png.name, problem))
                continue
            box = previous
            report["reused_box"] += 1
        previous = box
        crops.append(crop_and_resize(image, box, image_size))
        poses.append(pose)
        report["kept"] += 1
    return crops, poses, report


def split_videos(videos, seed, train_videos=TRAIN_VIDEOS):
    """Seeded protocol 2 split: (train names, test names), each sorted."""
    names = [Path(v).name for v in videos]
    if not 0 < train_videos < len(names):
        raise DatasetError(f"cannot put {train_videos} of {len(names)} videos in the training set")
    order = np.random.default_rng(seed).permutation(len(names))
    train = sorted((names[i] for i in order[:train_videos]), key=int)
    test = sorted((names[i] for i in order[train_videos:]), key=int)
    return train, test


def read_split(path):
    """A split recorded by ``prepare_biwi`` (keys ``train``, ``test``), checked."""
    try:
        split = json.loads(Path(path).read_text())
        train, test = list(split["train"]), list(split["test"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not a BIWI split file ({type(e).__name__}: {e})") from None
    if set(train) & set(test):
        raise DatasetError(f"{path}: videos {sorted(set(train) & set(test))} are in both train and test")
    return split
