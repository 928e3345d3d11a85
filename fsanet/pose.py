"""The angle convention, in one place.

Everything in this project is ``[yaw, pitch, roll]`` in degrees, the authors' label order.
300W-LP / AFLW2000 store ``Pose_Para[0:3]`` = pitch, yaw, roll in radians.
"""

from __future__ import annotations

import numpy as np

ANGLES = ("yaw", "pitch", "roll")
VALUE_RANGE = 99.0
"""Angles the network can express (SSR's V) and the authors' data filter: |angle| <= 99 degrees."""


def pose_from_pose_para(pose_para) -> np.ndarray:
    """[yaw, pitch, roll] degrees from a 300W-LP / AFLW2000 ``Pose_Para`` (pitch, yaw, roll, ... rad)."""
    pitch, yaw, roll = np.asarray(pose_para, dtype=np.float64).ravel()[:3] * 180.0 / np.pi
    return np.array([yaw, pitch, roll])


def mean_absolute_error(predictions, targets) -> np.ndarray:
    """Per-angle MAE (yaw, pitch, roll) followed by their mean, as the paper's tables report."""
    per_angle = np.mean(np.abs(np.asarray(predictions) - np.asarray(targets)), axis=0)
    return np.append(per_angle, per_angle.mean())
