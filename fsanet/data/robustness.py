"""Faces changed the way robustness studies change them, labels kept right: in-plane rotation (the
label turned with the image) and a surgical-mask-like occlusion of the lower face (label unchanged).

Both are used three ways: as training augmentation (``augment.rotate``, ``augment.occlude``), to build
test sets (``fsanet prepare-type1 --rotate / --occlusion``) and from Python (``fsanet.rotate_in_plane``,
``fsanet.occlude``).
"""

from __future__ import annotations

import cv2
import numpy as np

from fsanet.core.pose import pose_from_rotation, rotation_from_pose
from fsanet.errors import ArgumentTypeError, ArgumentValueError

MAX_TEST_ROTATION = 45.0
"""``--rotate random`` turns each test face by a uniform angle in +-45 degrees (the range robustness
studies such as Toward-Sparse-HPE test)."""
OCCLUSIONS = ("mask",)
"""Kinds of ``occlude``."""

_MASK_COLOURS = ((215, 170, 120), (235, 235, 235), (40, 40, 40), (200, 190, 120), (150, 150, 150))
"""Base BGR colours of masks: surgical blue, white, black, light teal, grey."""


def _image(image) -> np.ndarray:
    """``image`` as an HxW or HxWxC array of numbers, or our error."""
    array = np.asarray(image)
    if array.dtype.kind not in "uif" or array.ndim not in (2, 3) or 0 in array.shape:
        raise ArgumentTypeError(f"image must be an HxW or HxWxC array of numbers, got {type(image).__name__} "
                                f"of shape {array.shape}")
    return array


def rotate_pose(pose, degrees):
    """[yaw, pitch, roll] of a head whose image is turned by ``degrees`` about the camera axis
    (clockwise in the image for positive degrees, like positive roll): R' = Rz(degrees) R, with R
    and Rz from ``fsanet.core.pose.rotation_from_pose``."""
    try:
        pose, degrees = np.asarray(pose, np.float64), float(degrees)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"pose must be 3 numbers and degrees a number, got {pose!r}, {degrees!r}") from None
    if pose.shape != (3,) or not np.isfinite(pose).all() or not np.isfinite(degrees):
        raise ArgumentValueError(f"pose must be 3 finite numbers (yaw, pitch, roll) and degrees finite, "
                                 f"got {pose.tolist()}, {degrees}")
    turn = rotation_from_pose(0.0, 0.0, degrees)
    return pose_from_rotation(turn @ rotation_from_pose(*np.asarray(pose, np.float64)))


def rotate_in_plane(image, pose, degrees):
    """(image turned ``degrees`` clockwise about its centre, the matching [yaw, pitch, roll]).

    Positive degrees turn the image clockwise, as positive roll turns a head (README's angle
    picture), so a frontal head's roll grows by ``degrees``. Corners the turn uncovers repeat the
    nearest edge pixels (as the authors' zoom augmentation fills).
    """
    image = _image(image)
    pose = rotate_pose(pose, degrees)
    h, w = image.shape[:2]
    turned = cv2.warpAffine(image, _turn(image.shape, degrees), (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return turned, pose


def _turn(shape, degrees):
    """The 2x3 matrix turning an image of ``shape`` ``degrees`` clockwise about its centre."""
    h, w = shape[:2]
    return cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -float(degrees), 1.0)


def rotate_points(points, degrees, shape):
    """(K, 2) points (x, y) of an image of ``shape`` where ``rotate_in_plane`` moves them."""
    matrix = _turn(shape, degrees)
    return (np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def mask_polygon(landmarks):
    """(K, 2) image points of a surgical mask from nose bridge to under the chin, from the 68 landmarks
    of 300W-LP (``pt2d``) / AFLW2000 (``pt3d_68``) or AFLW's 21 (AFLW2000's ``pt2d``)."""
    points = np.asarray(landmarks, np.float64)
    if points.shape[0] == 2 and points.shape[1] in (21, 68):
        points = points.T
    if points.shape not in ((68, 2), (21, 2)):
        raise ArgumentValueError(f"landmarks must be 68 or 21 (x, y) points, got shape {np.shape(landmarks)}")
    if len(points) == 68:
        jaw, bridge = points[2:15], points[28]  # ear-level jaw to jaw, over the chin; nose bridge midpoint
        top = bridge[1]
        return np.vstack([[jaw[0][0], top], jaw, [jaw[-1][0], top], bridge + [0, -0.02 * np.ptp(jaw[:, 0])]])
    # AFLW2000's pt2d marks landmarks hidden by a turned head with -1: the mask then ends at the
    # outermost visible point of that side of the lower face instead of running to the image edge
    visible = (points >= 0).all(axis=1)
    nose, chin = points[14], points[20]
    if not (visible[14] and visible[20]):
        raise ArgumentValueError("the nose and chin landmarks (21-point: 15th and 21st) must be visible")
    def side(ear, mouth, pick):
        candidates = [points[i] for i in (ear, mouth, 14, 20) if visible[i]]
        x = pick([c[0] for c in candidates])
        ear_y = points[ear][1] if visible[ear] else nose[1]
        mouth_x = points[mouth][0] if visible[mouth] else (x + chin[0]) / 2
        return np.array([x, ear_y]), mouth_x - 0.3 * (mouth_x - x)
    (left_ear, low_left), (right_ear, low_right) = side(12, 17, min), side(16, 19, max)
    top = nose[1] - 0.3 * (chin[1] - nose[1])
    below = chin[1] + 0.05 * (chin[1] - nose[1])
    return np.array([[left_ear[0], top], left_ear, [low_left, below], [chin[0], below], [low_right, below],
                     right_ear, [right_ear[0], top]])


def occlude(image, landmarks, kind="mask", seed=None):
    """A copy of ``image`` (uint8 BGR) with the lower face covered, the label unchanged.

    ``kind="mask"``: a surgical-mask-like polygon from the nose bridge to under the chin
    (``mask_polygon``), its colour drawn from ``_MASK_COLOURS`` with jitter, pleats (horizontal
    shading bands) and fabric noise, all from ``seed`` (an int or a numpy Generator).
    """
    if kind not in OCCLUSIONS:
        raise ArgumentValueError(f"occlusion kind must be one of {OCCLUSIONS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    image = _image(image)
    polygon = mask_polygon(landmarks)
    h, w = image.shape[:2]
    region = np.zeros((h, w), np.uint8)
    cv2.fillPoly(region, [np.round(polygon).astype(np.int32)], 1)
    colour = np.array(_MASK_COLOURS[rng.integers(len(_MASK_COLOURS))], np.float64) + rng.uniform(-20, 20, 3)
    top, bottom = polygon[:, 1].min(), polygon[:, 1].max()
    rows = (np.arange(h) - top) / max(bottom - top, 1.0)
    pleats = 1.0 - rng.uniform(0.05, 0.2) * (0.5 + 0.5 * np.cos(2 * np.pi * rng.integers(2, 5) * rows))
    fabric = colour * pleats[:, None, None] + rng.normal(0, rng.uniform(2, 8), (h, w, 3))
    out = image.copy()
    inside = region.astype(bool)
    out[inside] = np.clip(fabric[inside], 0, 255).astype(image.dtype)
    return out
