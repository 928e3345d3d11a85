"""The crop rules and the angle convention, against hand-computed values."""

import numpy as np
import pytest

from fsanet.core.pose import axis_endpoints, pose_from_pose_para
from fsanet.experiments.metrics import mean_absolute_error
from fsanet.faces.crop import detection_box, landmark_box


def test_landmark_box_by_hand():
    # x in 100..200 (w 100), y in 50..110 (h 60); margin 0.6 -> 40..260, 14..146
    pt2d = np.array([[100.0, 150.0, 200.7], [50.2, 110.9, 80.0]])
    assert landmark_box(pt2d, 1000, 1000) == (40, 14, 260, 146)
    # clipped to the image (end index at most size - 1)
    assert landmark_box(pt2d, 230, 120) == (40, 14, 229, 119)


def test_landmark_box_drops_missing_points_with_the_sparser_mask():
    # AFLW2000 marks missing points -1; here x keeps 3 points, y keeps 2: the y mask wins.
    pt2d = np.array([[100.0, 200.0, 150.0], [-1.0, 60.0, 100.0]])
    # kept points (200, 60), (150, 100): x 150..200 (w 50), y 60..100 (h 40)
    assert landmark_box(pt2d, 1000, 1000) == (120, 36, 230, 124)


def test_landmark_box_errors():
    with pytest.raises(ValueError, match="no valid landmark"):
        landmark_box(-np.ones((2, 21)), 100, 100)
    with pytest.raises(ValueError, match="2 x K"):
        landmark_box(np.ones((3, 21)), 100, 100)
    with pytest.raises(ValueError, match="empty crop box"):
        landmark_box(np.array([[10.0, 10.0], [5.0, 5.0]]), 100, 100)


def test_detection_box_by_hand():
    # box 100,50 size 40x20, margin 0.6: x 76..164 inclusive, y 38..82 inclusive
    assert detection_box((100, 50, 40, 20), 640, 480) == (76, 38, 165, 83)
    assert detection_box((0, 0, 40, 20), 50, 30) == (0, 0, 50, 30)


def test_pose_para_is_pitch_yaw_roll_radians():
    np.testing.assert_allclose(pose_from_pose_para([np.pi / 6, -np.pi / 4, np.pi / 2, 0.1]),
                               [-45.0, 30.0, 90.0])


def test_mae_layout():
    np.testing.assert_allclose(mean_absolute_error([[1, 2, 3], [3, 2, 1]], [[0, 0, 0], [0, 0, 0]]),
                               [2, 2, 2, 2])


def test_axes_frontal_face():
    x_axis, y_axis, z_axis = axis_endpoints(0, 0, 0, (100, 100), 50)
    np.testing.assert_allclose(x_axis, (150, 100), atol=1e-9)   # red: to the image right
    np.testing.assert_allclose(y_axis, (100, 150), atol=1e-9)   # green: down
    np.testing.assert_allclose(z_axis, (100, 100), atol=1e-9)   # blue: towards the viewer


def test_axes_yaw_turns_z_axis_sideways():
    # Positive yaw is drawn with y = -yaw (SPEC §8): the nose axis points to the image left.
    _, _, z_axis = axis_endpoints(90, 0, 0, (100, 100), 50)
    np.testing.assert_allclose(z_axis, (50, 100), atol=1e-9)


def test_the_hand_written_conversions_are_scipys_intrinsic_xyz_euler_angles():
    """README, Dependencies: the conversions stay hand-written (vectorised, the gimbal-lock rule
    stated); SciPy's Rotation checks them: R = Rx(pitch) Ry(-yaw) Rz(roll) is intrinsic "XYZ"."""
    from scipy.spatial.transform import Rotation

    from fsanet.core.pose import pose_from_rotation, rotation_from_pose
    poses = np.random.default_rng(3).uniform([-89, -89, -89], [89, 89, 89], (200, 3))
    euler = np.stack([poses[:, 1], -poses[:, 0], poses[:, 2]], axis=1)  # pitch, -yaw, roll
    matrices = Rotation.from_euler("XYZ", euler, degrees=True).as_matrix()
    np.testing.assert_allclose(rotation_from_pose(poses[:, 0], poses[:, 1], poses[:, 2]), matrices, atol=1e-12)
    back = Rotation.from_matrix(matrices).as_euler("XYZ", degrees=True)
    np.testing.assert_allclose(pose_from_rotation(matrices), np.stack([-back[:, 1], back[:, 0], back[:, 2]], 1),
                               atol=1e-9)
