"""The angle convention, in one place: angles, rotation matrices, and the axes and cube a pose
projects to (drawn by ``fsanet.video.drawing``).

Everything in this project is ``[yaw, pitch, roll]`` in degrees, the authors' label order.
300W-LP / AFLW2000 store ``Pose_Para[0:3]`` = pitch, yaw, roll in radians.

Signs, as the authors' data and drawing have them (image x to the right, y down):
positive yaw turns the face towards the image's left (the person's right), positive pitch raises
the face (looking up), positive roll turns the head clockwise in the image (onto the person's left
shoulder). ``docs/angles.png`` shows each.
"""

from __future__ import annotations

import numpy as np

ANGLES = ("yaw", "pitch", "roll")
VALUE_RANGE = 99.0
"""Angles the network can express (SSR's V) and the authors' data filter: |angle| <= 99 degrees."""


def mirrored(angles) -> np.ndarray:
    """The pose of the face in a horizontally mirrored image: yaw and roll negated, pitch kept
    (``angles``: [..., 3], yaw / pitch / roll last)."""
    return np.asarray(angles) * np.array([-1.0, 1.0, -1.0], np.float32)


def pose_from_pose_para(pose_para) -> np.ndarray:
    """[yaw, pitch, roll] degrees from a 300W-LP / AFLW2000 ``Pose_Para`` (pitch, yaw, roll, ... rad)."""
    pitch, yaw, roll = np.asarray(pose_para, dtype=np.float64).ravel()[:3] * 180.0 / np.pi
    return np.array([yaw, pitch, roll])


def pose_from_biwi_rotation(matrix) -> np.ndarray:
    """[yaw, pitch, roll] degrees from a BIWI ``frame_XXXXX_pose.txt`` rotation (SPEC §5).

    The file's 3x3 matrix is read transposed, then decomposed as Rz(-roll) Ry(-yaw) Rx(pitch).
    """
    r = np.asarray(matrix, dtype=np.float64).reshape(3, 3).T
    roll = -np.arctan2(r[1, 0], r[0, 0])
    yaw = -np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2]))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    return np.degrees([yaw, pitch, roll])


def rotation_from_pose(yaw, pitch, roll) -> np.ndarray:
    """The head's rotation in camera coordinates (x right, y down, z towards the camera) whose
    projected axes are exactly those ``axis_endpoints`` draws: columns are the head's x, y, z axes.

    R = Rx(pitch) Ry(-yaw) Rz(roll); angles in degrees, scalars or arrays (result (..., 3, 3)).
    """
    p, y, r = np.radians(pitch), -np.radians(yaw), np.radians(roll)
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    rows = [[cy * cr, -cy * sr, sy],
            [cp * sr + sp * sy * cr, cp * cr - sp * sy * sr, -sp * cy],
            [sp * sr - cp * sy * cr, sp * cr + cp * sy * sr, cp * cy]]
    return np.stack([np.stack(np.broadcast_arrays(*row), axis=-1) for row in rows], axis=-2)


def pose_from_rotation(rotation) -> np.ndarray:
    """[yaw, pitch, roll] degrees of rotations (..., 3, 3): the inverse of ``rotation_from_pose``.

    At |yaw| = 90° (gimbal lock) only pitch - roll (yaw > 0) or pitch + roll (yaw < 0) is defined;
    roll is then set to 0.
    """
    r = np.asarray(rotation, dtype=np.float64)
    yaw = -np.arcsin(np.clip(r[..., 0, 2], -1.0, 1.0))
    roll = np.arctan2(-r[..., 0, 1], r[..., 0, 0])
    pitch = np.arctan2(-r[..., 1, 2], r[..., 2, 2])
    locked = np.hypot(r[..., 0, 0], r[..., 0, 1]) < 1e-9
    pitch = np.where(locked, np.arctan2(r[..., 2, 1], r[..., 1, 1]), pitch)
    roll = np.where(locked, 0.0, roll)
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def axis_endpoints(yaw, pitch, roll, center, size):
    """End points of the x (red), y (green), z (blue) head axes in image coordinates.

    The Hopenet convention the authors draw with (SPEC §8): pitch p, yaw y = -yaw, roll r in radians;
    image y grows downwards, hence the signs.
    """
    p, y, r = np.radians(pitch), -np.radians(yaw), np.radians(roll)
    cx, cy = center
    x_axis = (cx + size * np.cos(y) * np.cos(r),
              cy + size * (np.cos(p) * np.sin(r) + np.cos(r) * np.sin(p) * np.sin(y)))
    y_axis = (cx - size * np.cos(y) * np.sin(r),
              cy + size * (np.cos(p) * np.cos(r) - np.sin(p) * np.sin(y) * np.sin(r)))
    z_axis = (cx + size * np.sin(y), cy - size * np.cos(y) * np.sin(p))
    return x_axis, y_axis, z_axis


def cube_corners(yaw, pitch, roll, center, size):
    """(8, 2) image points of a cube around ``center`` turned with the head (orthographic, like the
    axes), its faces ``size`` from the centre where the axes of that ``size`` end; corners 0-3 are
    the face side (head z = +1), 4-7 the back."""
    signs = np.array([(-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1),
                      (-1, -1, -1), (1, -1, -1), (1, 1, -1), (-1, 1, -1)], np.float64)
    points = signs @ rotation_from_pose(yaw, pitch, roll).T * size
    return points[:, :2] + np.asarray(center, np.float64)
