"""Type1 (300W-LP / AFLW2000) preparation and npz handling, on the real samples and on broken ones."""

import shutil

import cv2
import numpy as np
import pytest
import scipy.io

from fsanet.cli import run_command
from fsanet.data.npz import filter_angle_range, load_pose_npz, write_pose_npz
from fsanet.data.type1 import SPLITS_300W_LP, pair_type1_files, prepare
from fsanet.errors import DatasetError
from fsanet.faces.crop import landmark_box


def test_crop_boxes_by_hand(shared):
    folder = shared / "data" / "aflw2000_samples"
    # image00050: x 127.49..324.07 -> 127..324 (w 197), y 182.59..377.84 -> 182..377 (h 195);
    # margin 0.6: x 8.8 -> 8, 442.2 -> 442; y 65 -> 65, 494 -> clipped to 449.
    pt2d = scipy.io.loadmat(folder / "image00050.mat")["pt2d"]
    assert landmark_box(pt2d, 450, 450) == (8, 65, 442, 449)
    # image02283: 2 x's are missing, so the x mask (19 points) is used; x 126..285 (w 159)
    # -> 126 - 95.4 -> 30, 285 + 95.4 -> 380.
    pt2d = scipy.io.loadmat(folder / "image02283.mat")["pt2d"]
    x_min, _, x_max, _ = landmark_box(pt2d, 450, 450)
    assert (x_min, x_max) == (30, 380)


@pytest.mark.parametrize("folder,count", [("aflw2000_samples", 16), ("300w_lp_sample", 1)])
def test_prepared_real_samples(shared, tmp_path, folder, count):
    source = shared / "data" / folder
    summary = prepare(source, tmp_path / "out.npz", workers=2, progress=False)
    assert summary["kept"] == count and summary["failed"] == []
    images, poses = load_pose_npz(tmp_path / "out.npz")
    assert images.shape == (count, 64, 64, 3) and images.dtype == np.uint8
    with np.load(tmp_path / "out.npz") as npz:
        assert int(npz["img_size"]) == 64
    for i, jpg in enumerate(sorted(source.glob("*.jpg"))):
        mat = scipy.io.loadmat(jpg.with_suffix(".mat"))
        pitch, yaw, roll = np.degrees(mat["Pose_Para"][0][:3])
        np.testing.assert_allclose(poses[i], [yaw, pitch, roll], atol=1e-4)
        image = cv2.imread(str(jpg))
        x0, y0, x1, y1 = landmark_box(mat["pt2d"], image.shape[1], image.shape[0])
        np.testing.assert_array_equal(images[i], cv2.resize(image[y0:y1, x0:x1], (64, 64)))


def _loadmat(path):
    return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}


def _broken_tree(shared, root):
    source = shared / "data" / "aflw2000_samples"
    root.mkdir()
    for stem in ("image00050", "image00081", "image00251", "image00430", "image00475", "image00514"):
        shutil.copy(source / f"{stem}.jpg", root / f"{stem}.jpg")
        shutil.copy(source / f"{stem}.mat", root / f"{stem}.mat")
    (root / "image00251.mat").unlink()                                  # jpg without mat
    shutil.copy(source / "image00516.mat", root / "image00516.mat")      # mat without jpg
    data = (root / "image00430.jpg").read_bytes()
    (root / "image00430.jpg").write_bytes(data[:200])                    # truncated image
    mat = _loadmat(source / "image00475.mat")
    mat["pt2d"][:] = -1                                                  # landmarks all missing
    scipy.io.savemat(root / "image00475.mat", mat)
    mat = _loadmat(source / "image00514.mat")
    mat["pt2d"][0, :], mat["pt2d"][1, :] = 100.0, 120.0                  # zero-area box
    scipy.io.savemat(root / "image00514.mat", mat)
    mat = _loadmat(source / "image00081.mat")
    mat["Pose_Para"][0, 1] = np.nan                                      # NaN label
    scipy.io.savemat(root / "image00081.mat", mat)


def test_bad_samples_are_skipped_and_named(shared, tmp_path, capsys):
    _broken_tree(shared, tmp_path / "raw")
    assert run_command("prepare-type1", ["--input", str(tmp_path / "raw"), "--output", str(tmp_path / "o.npz"),
                         "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "kept 1, failed 6" in out
    for line in ("image00251.jpg: image without its .mat", "image00516.mat: .mat without its image",
                 "image00430: unreadable or truncated image", "image00475: no valid landmark",
                 "image00514: empty crop box", "image00081: NaN or infinite pose label"):
        assert f"skipped {line}" in out
    images, poses = load_pose_npz(tmp_path / "o.npz")
    reference = scipy.io.loadmat(shared / "data" / "aflw2000_samples" / "image00050.mat")
    np.testing.assert_allclose(poses[0][1], np.degrees(reference["Pose_Para"][0][0]), atol=1e-4)


def test_strict_fails_on_first_bad_sample(shared, tmp_path, capsys):
    _broken_tree(shared, tmp_path / "raw")
    assert run_command("prepare-type1", ["--input", str(tmp_path / "raw"), "--output", str(tmp_path / "o.npz"),
                         "--strict"]) == 2
    assert "image00251.jpg: image without its .mat" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


def test_empty_and_wrong_directories(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: no .jpg / .mat samples found"):
        pair_type1_files(tmp_path / "empty")
    with pytest.raises(DatasetError, match="nowhere: not a directory"):
        pair_type1_files(tmp_path / "nowhere")


def test_npz_checks(tmp_path):
    good = write_pose_npz(tmp_path / "good.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    assert load_pose_npz(good)[0].shape == (2, 64, 64, 3)
    assert not list(tmp_path.glob("*.part"))
    cases = {
        "missing.npz": (None, "dataset file not found"),
        "text.npz": ("text", "not a readable npz"),
        "nokey.npz": (dict(image=np.zeros((1, 64, 64, 3), np.uint8)), r"missing key\(s\) \['pose'\]"),
        "float.npz": (dict(image=np.zeros((1, 64, 64, 3)), pose=np.zeros((1, 3))), "'image' must be uint8"),
        "shape.npz": (dict(image=np.zeros((1, 64, 64), np.uint8), pose=np.zeros((1, 3))), r"'image' must be \(N, S, S, 3\)"),
        "count.npz": (dict(image=np.zeros((2, 64, 64, 3), np.uint8), pose=np.zeros((1, 3))), "2 images but 1 poses"),
        "nan.npz": (dict(image=np.zeros((2, 64, 64, 3), np.uint8), pose=np.array([[0, 0, 0], [0, np.nan, 0]])),
                    r"1 pose label\(s\) are NaN .* index 1"),
        "object.npz": (dict(image=np.zeros((1, 64, 64, 3), np.uint8), pose=np.array([None] * 3, object)),
                       r"holds object \(pickled\) arrays, refused"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            np.savez(path, **content)
        with pytest.raises(DatasetError, match=f"{name}: {message}"):
            load_pose_npz(path)


def test_angle_filter_counts():
    poses = np.array([[0, 0, 0], [99, -99, 0], [99.5, 0, 0], [0, 0, -120]], np.float32)
    images = np.arange(4)
    kept_images, kept_poses, dropped = filter_angle_range(images, poses)
    assert dropped == 2 and kept_images.tolist() == [0, 1]


def test_all_300w_lp_splits_in_one_call_and_resume(shared, tmp_path, capsys):
    root = tmp_path / "300W_LP"
    for i, split in enumerate(SPLITS_300W_LP):
        (root / split).mkdir(parents=True)
        for suffix in (".jpg", ".mat"):
            shutil.copy(shared / "data" / "300w_lp_sample" / f"IBUG_image_008_1_0{suffix}",
                        root / split / f"{split}_image_{i}{suffix}")
    mat = _loadmat(root / "AFW" / "AFW_image_0.mat")
    mat["Pose_Para"][0, 1] = 1.8                                        # yaw 103 degrees
    scipy.io.savemat(root / "AFW" / "AFW_image_0.mat", mat)
    assert run_command("prepare-type1", ["--300w-lp", str(root), "--output-dir", str(tmp_path / "npz"),
                         "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("kept 1, failed 0") == 8
    assert "AFW.npz: kept 1, failed 0; 1 kept samples lie outside ±99°" in out
    assert out.count("0 kept samples lie outside ±99°") == 7
    written = sorted(p.name for p in (tmp_path / "npz").iterdir())
    assert written == sorted(f"{s}.npz" for s in SPLITS_300W_LP)
    images = [load_pose_npz(tmp_path / "npz" / name)[0] for name in written]
    assert all(np.array_equal(images[0], other) for other in images)
    (tmp_path / "npz" / "IBUG.npz").unlink()  # as if interrupted before IBUG
    assert run_command("prepare-type1", ["--300w-lp", str(root), "--output-dir", str(tmp_path / "npz")]) == 0
    out = capsys.readouterr().out
    assert out.count("already there") == 7 and "IBUG.npz: kept 1" in out
    shutil.rmtree(root / "LFPW_Flip")
    assert run_command("prepare-type1", ["--300w-lp", str(root), "--output-dir", str(tmp_path / "npz")]) == 2
    assert "missing ['LFPW_Flip']" in capsys.readouterr().err
