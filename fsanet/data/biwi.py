"""BIWI Kinect Head Pose Database: frames, labels and the authors' face-box rules (SPEC §5).

Raw layout: ``<root>/NN/frame_XXXXX_rgb.png`` with ``frame_XXXXX_pose.txt`` (a 3x3 rotation, then
the head centre), one folder per video (24 videos, 01..24).

Each frame's face is the confident detection (> 0.90 in protocol 1, > 0.95 in protocol 2) whose
widened box's top-left corner is nearest (L1) to (2/3 width, 2/3 height) of the frame. A box
"jumps" when its left edge moved 80 px or more from the last kept box. What happens then, or when no
face is confident, is ``BoxRules``: what the authors' scripts do (the default) or the same rules
without their stale state (``authors=False``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np

from fsanet.core.images import decode_image
from fsanet.core.pose import pose_from_biwi_rotation
from fsanet.errors import DatasetError, ImageError, SampleError
from fsanet.faces.crop import detection_box

MARGIN = 0.4
JUMP_PIXELS = 80
TRAIN_VIDEOS = 16


@dataclasses.dataclass(frozen=True)
class FaceRule:
    """How a protocol's BIWI preparation accepts a detected face (keyed by protocol number)."""

    name: str
    min_confidence: float  # strictly greater than
    reuse_previous_box: bool


FACE_RULES = {1: FaceRule("BIWI_noTrack", 0.90, False), 2: FaceRule("BIWI_70_30", 0.95, True)}

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


def read_frame(path):
    """A frame's BGR image, as ``cv2.imread`` gives it, decoded strictly (``fsanet.core.images``)."""
    try:
        return decode_image(path, cv2.IMREAD_COLOR)
    except ImageError:
        raise SampleError("unreadable or truncated image") from None


def authors_face_box(faces, protocol, width, height, margin=MARGIN):
    """The authors' widened box (x_min, y_min, x_max, y_max) of the face to keep, or None."""
    boxes = [detection_box(f.box, width, height, margin) for f in faces
             if f.confidence > protocol.min_confidence and f.box[2] > 0 and f.box[3] > 0]
    if not boxes:
        return None
    return min(boxes, key=lambda b: abs(b[0] - width * 2 / 3) + abs(b[1] - height * 2 / 3))


class BoxRules:
    """The box each frame is cropped with, decided frame by frame, video after video in order.

    ``decide(detected, box)`` takes whether the detector found any face and the frame's chosen
    confident box (or None), and returns (box to crop with or None to drop, outcome): ``"kept"``
    (its own box), ``"stale"`` (no confident face: the last confident box), ``"reused"`` (protocol
    2: the last kept box) or the reason the frame is dropped.

    ``authors=True`` (the default) reproduces what the scripts' variables do, since that decides
    which frames the published sets contain:

    - the last confident box is never reset, so a frame with faces but none confident is cropped
      with the latest frame's confident box, from an earlier video or a dropped frame too; the
      jump test still applies to it (0 px when that frame was kept);
    - the last kept box starts each video as the zero box (left edge 0), and the first frame skips
      the jump test: after a first frame without a face, frames are dropped (protocol 1) until a
      box starts within 80 px of the left border;
    - protocol 1 drops frames with no face at all, and jumps; protocol 2 crops them with the last
      kept box.

    Where the scripts have no defined result the frame is dropped: a stale box before any
    confident face (they stop with a NameError) and protocol 2's reuse of the zero box (they crop
    the top-left pixel).

    ``authors=False`` (``--box-rules clean``) forgets both boxes at each video and uses only
    confident faces: a frame without one is dropped (protocol 1) or reuses the last kept box of its
    video (protocol 2), and a video's first kept box is not jump-tested.
    """

    def __init__(self, protocol, authors=True):
        self.protocol = protocol
        self.authors = authors
        self._confident = None

    def start_video(self):
        self._kept = None  # the authors' zero box
        self._first = True
        if not self.authors:
            self._confident = None

    def decide(self, detected, box):
        first, self._first = self._first, False
        outcome = "kept"
        if box is not None:
            self._confident = box
        elif detected and self.authors and self._confident is not None:
            box, outcome = self._confident, "stale"
        if box is not None:
            moved = abs(box[0] - (self._kept[0] if self._kept else 0))
            unchecked = first if self.authors else self._kept is None
            if unchecked or moved < JUMP_PIXELS:
                self._kept = box
                return box, outcome
            problem = f"box jumped {moved} px"
        elif not detected:
            problem = "no face detected"
        elif self.authors:
            problem = "no confident face yet in the run"
        else:
            problem = f"no face with confidence > {self.protocol.min_confidence}"
        if self.protocol.reuse_previous_box:
            if self._kept is not None:
                return self._kept, "reused"
            problem += ", and no box kept yet in this video"
        return None, problem


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
