"""Rotated and masked faces (fsanet.data.robustness): labels turned with the image, masks seeded."""

import numpy as np
import pytest
import scipy.io

import fsanet
from fsanet.core.pose import rotation_from_pose
from fsanet.data.robustness import mask_polygon, occlude, rotate_in_plane
from fsanet.data.synthetic import _LIGHT, render_head

SIZE = 96


def _head_and_mask(pose, light=None):
    """A render on grey and the pixels that show the head (the same on black and on white)."""
    on = [render_head(*pose, size=SIZE, light=light, background=np.full((2, 2, 3), v)) for v in (0.0, 255.0)]
    return render_head(*pose, size=SIZE, light=light), np.all(on[0] == on[1], axis=-1)


def _difference(image, pose, light):
    expected, on_head = _head_and_mask(pose, light)
    return np.abs(image.astype(float) - expected.astype(float)).mean(axis=-1)[on_head].mean()


@pytest.mark.parametrize("pose", [(0, 0, 0), (30, 0, 0), (0, 25, 0), (-40, 15, 20), (60, -20, -10)])
@pytest.mark.parametrize("theta", [-45, -20, 10, 35])
def test_the_rotated_label_renders_the_rotated_image(pose, theta):
    """Turning the image turns the scene's light with it, so the head at the returned pose is rendered
    with the light turned by the same camera-axis rotation; then only resampling differs. The label of
    the opposite turn, for scale, differs several times more."""
    turned, new_pose = rotate_in_plane(render_head(*pose, size=SIZE), np.array(pose, float), theta)
    light = rotation_from_pose(0, 0, theta) @ _LIGHT
    right = _difference(turned, new_pose, light)
    wrong = _difference(turned, rotate_in_plane(turned, np.array(pose, float), -theta)[1], light)
    assert right < 5 and right < 0.25 * wrong, (right, wrong)


@pytest.mark.parametrize("theta", [-45, -10, 30])
def test_a_frontal_heads_roll_grows_by_theta(theta):
    _, pose = rotate_in_plane(np.zeros((8, 8, 3), np.uint8), [0.0, 0.0, 5.0], theta)
    np.testing.assert_allclose(pose, [0, 0, 5 + theta], atol=1e-9)


def test_rotation_is_public_and_composes():
    image = render_head(20, 10, 5, size=SIZE)
    once = fsanet.rotate_in_plane(image, [20, 10, 5], 30)[1]
    twice = fsanet.rotate_in_plane(*fsanet.rotate_in_plane(image, [20, 10, 5], 10), 20)[1]
    np.testing.assert_allclose(once, twice, atol=1e-9)
    np.testing.assert_allclose(fsanet.rotate_in_plane(image, once, -30)[1], [20, 10, 5], atol=1e-9)


def test_masks_cover_the_lower_face_and_are_seeded(shared):
    mat = scipy.io.loadmat(shared / "data" / "aflw2000_samples" / "image00050.mat")
    image = np.full((450, 450, 3), 100, np.uint8)
    x68, y68 = mat["pt3d_68"][:2]
    chin, nose_tip, eyes = y68[8], y68[30], y68[36:48].mean()
    for landmarks in (mat["pt3d_68"][:2], mat["pt2d"]):
        a = occlude(image, landmarks, seed=1)
        assert np.array_equal(a, occlude(image, landmarks, seed=1))
        assert not np.array_equal(a, occlude(image, landmarks, seed=2))
        ys, _ = np.nonzero(np.any(a != image, axis=-1))
        assert eyes < ys.min() < nose_tip  # from the nose, below the eyes
        assert abs(ys.max() - chin) < 0.2 * (chin - eyes)  # down to the chin
        assert np.any(a[int(y68[62]), int(x68[62])] != image[0, 0])  # the mouth is covered
        assert mask_polygon(landmarks).shape[1] == 2
    with pytest.raises(fsanet.FSANetError, match="68 or 21"):
        occlude(image, np.zeros((5, 2)))
    with pytest.raises(fsanet.FSANetError, match="kind must be one of"):
        occlude(image, mat["pt2d"], kind="scarf")


def test_prepare_type1_builds_masked_and_rotated_test_sets(shared, tmp_path, capsys):
    from fsanet.cli import run_command
    from fsanet.data.npz import load_pose_npz
    from fsanet.data.robustness import rotate_pose
    samples = shared / "data" / "aflw2000_samples"
    sets = {"plain": [], "mask": ["--occlusion", "mask"], "rot": ["--rotate", "30"],
            "random": ["--rotate", "random", "--seed", "4"]}
    loaded = {}
    for name, flags in sets.items():
        assert run_command("prepare-type1", ["--input", str(samples), "--output", str(tmp_path / f"{name}.npz"),
                                             "--workers", "1", *flags]) == 0
        loaded[name] = load_pose_npz(tmp_path / f"{name}.npz")
    (plain, poses), (masked, masked_poses) = loaded["plain"][:2], loaded["mask"][:2]
    np.testing.assert_array_equal(masked_poses, poses)
    assert all(np.any(a != b) for a, b in zip(masked, plain))
    np.testing.assert_allclose(loaded["rot"][1], [rotate_pose(p, 30) for p in poses], atol=1e-4)
    turns = [rotation_from_pose(*q) @ rotation_from_pose(*p).T for p, q in zip(poses, loaded["random"][1])]
    angles = np.degrees([np.arctan2(t[1, 0], t[0, 0]) for t in turns])
    assert np.abs(angles).max() <= 45 + 1e-3 and np.ptp(angles) > 20  # random turns, each its own
    assert run_command("prepare-type1", ["--300w-lp", str(samples), "--output-dir", str(tmp_path),
                                         "--rotate", "10"]) == 2
    assert "use them with --input" in capsys.readouterr().err


def test_a_turned_faces_hidden_landmarks_do_not_stretch_the_mask(shared):
    """AFLW2000 marks landmarks hidden by a turned head with -1 (image00251: far ear and mouth
    corner): the mask ends at the visible face, not at the image's left edge."""
    mat = scipy.io.loadmat(shared / "data" / "aflw2000_samples" / "image00251.mat")
    points = mat["pt2d"].T
    assert (points[[16, 19], 0] < 0).all()
    polygon = mask_polygon(points)
    visible = points[(points >= 0).all(axis=1)]
    assert polygon[:, 0].min() >= visible[:, 0].min() - 1 and polygon[:, 0].max() <= visible[:, 0].max() + 1
    hidden = points.copy()
    hidden[20] = -1
    with pytest.raises(fsanet.FSANetError, match="nose and chin"):
        mask_polygon(hidden)


def test_prepared_files_keep_the_landmarks_in_crop_pixels(shared, tmp_path):
    """prepare-type1 stores each sample's 68 landmarks where they are in the crop (turned with a
    turned crop): the pixels a mask changes lie inside the mask drawn from the stored landmarks."""
    import cv2
    from fsanet.cli import run_command
    from fsanet.data.npz import load_landmarks, load_pose_npz
    from fsanet.data.robustness import rotate_points
    samples = shared / "data" / "aflw2000_samples"
    for name, flags in {"plain": [], "mask": ["--occlusion", "mask"], "rot": ["--rotate", "30"]}.items():
        assert run_command("prepare-type1", ["--input", str(samples), "--output", str(tmp_path / f"{name}.npz"),
                                             "--workers", "1", *flags]) == 0
    plain, masked = load_pose_npz(tmp_path / "plain.npz")[0], load_pose_npz(tmp_path / "mask.npz")[0]
    landmarks = load_landmarks([tmp_path / "plain.npz"], angle_filter=False)
    assert landmarks.shape == (16, 68, 2) and landmarks.dtype == np.float32
    assert np.array_equal(np.load(tmp_path / "plain.npz")["image"], plain)  # the authors' keys as before
    inside = []
    for crop, mask, points in zip(plain, masked, landmarks):
        region = np.zeros((64, 64), np.uint8)
        cv2.fillPoly(region, [np.round(mask_polygon(points)).astype(np.int32)], 1)
        changed = np.abs(crop.astype(int) - mask).max(axis=-1) > 40
        inside.append((changed & cv2.dilate(region, np.ones((3, 3))).astype(bool)).sum() / max(changed.sum(), 1))
    assert np.median(inside) > 0.9, inside
    turned = load_landmarks([tmp_path / "rot.npz"], angle_filter=False)
    np.testing.assert_allclose(turned, [rotate_points(p, 30, (64, 64)) for p in landmarks], atol=1e-4)


@pytest.mark.large
def test_training_with_masks_resumes_exactly_and_older_runs_still_resume(shared, tmp_path):
    import json

    import keras
    from conftest import ROOT
    from fsanet.cli import run_command
    samples = shared / "data" / "aflw2000_samples"
    assert run_command("prepare-type1", ["--input", str(samples), "--output", str(tmp_path / "aflw.npz"),
                                         "--workers", "1"]) == 0
    config = tmp_path / "masks.toml"
    config.write_text(f'base = "{ROOT / "configs" / "synthetic" / "capsule.toml"}"\n'
                      "[augment]\nocclude = 0.5\n[training]\nepochs = 2\nbatch_size = 8\n")

    def train(config, output, *flags):
        return run_command("train", [str(config), "--data-dir", str(tmp_path), "--train", "aflw.npz",
                                     "--validation", "aflw.npz", "--output-dir", str(tmp_path / output),
                                     "--quiet", *flags])
    assert train(config, "whole") == 0
    assert train(config, "split", "--epochs", "1") == 0
    assert train(config, "split", "--resume") == 0
    a, b = (keras.saving.load_model(tmp_path / run / "capsule" / "final.keras", safe_mode=True)
            for run in ("whole", "split"))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-6)
    plain = tmp_path / "plain.toml"  # a run started before masks were an option resumes as it did
    plain.write_text(f'base = "{ROOT / "configs" / "synthetic" / "capsule.toml"}"\n'
                     "[training]\nepochs = 2\nbatch_size = 8\n")
    assert train(plain, "old", "--epochs", "1") == 0
    saved = tmp_path / "old" / "capsule" / "config.json"
    record = json.loads(saved.read_text())
    del record["augment"]["occlude"]
    saved.write_text(json.dumps(record))
    assert train(plain, "old", "--resume") == 0
    unmasked = keras.saving.load_model(tmp_path / "old" / "capsule" / "final.keras", safe_mode=True)  # same seed
    assert any(np.abs(wa - wu).max() > 1e-4 for wa, wu in zip(a.get_weights(), unmasked.get_weights()))
