"""Head-pose error measures, in one place. Poses are [yaw, pitch, roll] in degrees (``fsanet.core.pose``).

- **MAE** (the paper's, and the tables' headline): per angle, the mean over samples of
  |predicted - true|, then the mean of the three. It depends on the Euler order and hides errors
  near |yaw| = 90°, where different angle triples describe (almost) the same rotation.
- **Geodesic error**: the angle of the rotation that takes the true head orientation to the
  predicted one, θ = arccos((tr(R_pᵀ R_t) - 1) / 2), computed as 2·arcsin(‖R_p - R_t‖_F / (2√2)),
  which is the same angle and stays accurate for small errors. R = ``fsanet.core.pose.rotation_from_pose``.
- **MAEV** (vector error): for each head axis (the columns x, y, z of R: right, down, forward), the
  angle between its predicted and true directions, arccos(v_p · v_t), computed as
  2·arcsin(‖v_p - v_t‖ / 2) (the same angle, accurate for small errors); MAEV is the mean over
  samples of the three, also reported per axis.

No 180° / 360° "wrap" leniency anywhere: an angle difference is the plain difference of the two
values, and the rotation errors are what the angles say.
"""

from __future__ import annotations

import numpy as np

from fsanet.core.pose import ANGLES, rotation_from_pose

AXES = ("x", "y", "z")


def _rotations(poses):
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 3)
    return rotation_from_pose(poses[:, 0], poses[:, 1], poses[:, 2])


def mean_absolute_error(predictions, targets) -> np.ndarray:
    """Per-angle MAE (yaw, pitch, roll) followed by their mean, as the paper's tables report."""
    per_angle = np.mean(np.abs(np.asarray(predictions) - np.asarray(targets)), axis=0)
    return np.append(per_angle, per_angle.mean())


def geodesic_errors(predictions, targets) -> np.ndarray:
    """Per sample, degrees between the predicted and the true rotation (0 to 180)."""
    difference = np.linalg.norm(_rotations(predictions) - _rotations(targets), axis=(1, 2))
    return np.degrees(2 * np.arcsin(np.clip(difference / (2 * np.sqrt(2)), 0.0, 1.0)))


def axis_errors(predictions, targets) -> np.ndarray:
    """Per sample (rows) and head axis x, y, z (columns), degrees between predicted and true axis."""
    distances = np.linalg.norm(_rotations(predictions) - _rotations(targets), axis=1)
    return np.degrees(2 * np.arcsin(np.clip(distances / 2, 0.0, 1.0)))


def pose_errors(predictions, targets) -> dict:
    """Every measure above: ``yaw``, ``pitch``, ``roll``, ``mae``, ``geodesic``, ``maev`` and
    ``maev_axes`` ({x, y, z}), all means over samples, in degrees."""
    mae = mean_absolute_error(predictions, targets)
    axes = axis_errors(predictions, targets).mean(axis=0)
    return dict(zip(ANGLES + ("mae",), map(float, mae)),
                geodesic=float(geodesic_errors(predictions, targets).mean()),
                maev=float(axes.mean()), maev_axes=dict(zip(AXES, map(float, axes))))
