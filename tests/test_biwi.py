"""BIWI preparation on trees the tests write in the database's raw layout: labels from rotation
matrices, the protocol rules (thresholds, jump rule, box reuse, face choice), the recorded split,
broken frames; and one run with the real MTCNN on a real face pasted into frames."""

import hashlib
import json

import cv2
import numpy as np
import pytest

from fsanet.biwi import PROTOCOLS, choose_face, list_videos, read_pose_file, split_videos
from fsanet.crop import crop_and_resize, detection_box, landmark_crop
from fsanet.data import DatasetError, load_pose_npz
from fsanet.detectors import Face

from data_prep.prepare_biwi import main as prepare_main, prepare

WIDTH, HEIGHT = 640, 480


def biwi_rotation_file_matrix(yaw, pitch, roll):
    """The matrix a pose.txt holds for these angles: the transpose of Rz(-roll) Ry(-yaw) Rx(pitch)."""
    y, p, r = np.radians([-yaw, pitch, -roll])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return (rz @ ry @ rx).T


def write_frame(video, number, image, pose):
    video.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(video / f"frame_{number:05d}_rgb.png"), image)
    rows = "".join(" ".join(f"{v:.9f}" for v in row) + " \n" for row in biwi_rotation_file_matrix(*pose))
    (video / f"frame_{number:05d}_pose.txt").write_text(rows + "\n35.1 20.2 980.5 \n")


def frame_image(seed):
    return np.random.default_rng(seed).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)


class ScriptedDetector:
    """Returns the faces planned for each frame, recognised by its pixels."""

    def __init__(self):
        self.plan = {}

    def add(self, image, faces):
        self.plan[hashlib.sha1(image.tobytes()).hexdigest()] = faces

    def __call__(self, image):
        return self.plan[hashlib.sha1(image.tobytes()).hexdigest()]


A = (200, 150, 100, 120)  # x, y, w, h


def shifted(box, dx):
    return (box[0] + dx, *box[1:])


# (faces, protocol 1 outcome, protocol 2 outcome); outcomes: box used, or None for dropped.
# Jumps are measured on the widened box's left edge: int(x - 0.4 w) -> dx carries over exactly.
SCRIPT = [
    ([Face(A, 0.99)], A, A),                                      # first frame
    ([Face(shifted(A, 10), 0.93)], shifted(A, 10), A),            # 0.93: > 0.90 but not > 0.95
    ([Face(shifted(A, 120), 0.99)], None, A),                     # jumped 110 px
    ([Face(shifted(A, 90), 0.99)], None, A),                      # p1: exactly 80 px: dropped
    ([Face(shifted(A, 79), 0.99), Face((500, 10, 50, 50), 0.5)],  # 69 px; the 0.5 face is ignored
     shifted(A, 79), shifted(A, 79)),
    ([], None, shifted(A, 79)),                                   # no face
    ([Face(shifted(A, 60), 0.90)], None, shifted(A, 79)),         # 0.90 is not > 0.90
]
POSES = [(12.5, -8.25, 3.0), (-75.0, 40.0, -50.0), (60.0, -62.5, 45.0), (0.0, 0.0, 0.0),
         (-30.0, 15.0, 88.0), (89.0, 5.0, -5.0), (-5.0, 70.0, 10.0)]


@pytest.fixture
def scripted_tree(tmp_path):
    """Video 01 follows SCRIPT; video 02 starts with a frame without faces; video 03 is plain."""
    root, detector, frames = tmp_path / "hpdb", ScriptedDetector(), {}
    for n, ((faces, _, _), pose) in enumerate(zip(SCRIPT, POSES)):
        image = frame_image(n)
        write_frame(root / "01", n + 3, image, pose)  # BIWI numbers need not start at 0
        detector.add(image, faces)
        frames[("01", n)] = image
    for video, first in (("02", []), ("03", [Face(A, 0.99)])):
        for n in range(3):
            image = frame_image(100 * int(video) + n)
            write_frame(root / video, n, image, (float(n), -float(n), 2.0 * n))
            detector.add(image, first if n == 0 else [Face(shifted(A, 5 * n), 0.99)])
    return root, detector, frames


def test_angles_recovered_from_rotation_files(tmp_path):
    for i, pose in enumerate(POSES):
        write_frame(tmp_path, i, frame_image(0)[:8, :8], pose)
        np.testing.assert_allclose(read_pose_file(tmp_path / f"frame_{i:05d}_pose.txt"), pose, atol=1e-4)


def test_widened_box_by_hand():
    # x 200 - 0.4 * 100 = 160; y 150 - 48 = 102; right 300 + 40 = 340 and bottom 270 + 48 = 318,
    # both inclusive as in the authors' script.
    assert detection_box(A, WIDTH, HEIGHT, 0.4) == (160, 102, 341, 319)


def test_choose_face_prefers_the_authors_anchor():
    # Widened top-left corners: (160, 102) is 266.7 + 218 from (426.7, 320); (380, 270) is 46.7 + 50.
    near = (420, 310, 100, 100)
    box = choose_face([Face(A, 0.99), Face(near, 0.96)], PROTOCOLS[2], WIDTH, HEIGHT)
    assert box == detection_box(near, WIDTH, HEIGHT, 0.4)
    box = choose_face([Face(A, 0.99), Face(near, 0.95)], PROTOCOLS[2], WIDTH, HEIGHT)
    assert box == detection_box(A, WIDTH, HEIGHT, 0.4)


@pytest.mark.parametrize("protocol", [1, 2])
def test_protocol_rules(scripted_tree, tmp_path, protocol):
    root, detector, frames = scripted_tree
    summary = prepare(root, tmp_path / "out", protocol, train_videos=2, workers=1,
                      detector_factory=lambda: detector, progress=False)
    reports = {r["video"]: r for r in summary["videos"]}
    expected = [(n, step[protocol]) for n, step in enumerate(SCRIPT) if step[protocol] is not None]
    assert reports["01"]["kept"] == len(expected) == (3 if protocol == 1 else 7)
    assert reports["01"]["reused_box"] == (0 if protocol == 1 else 5)
    assert reports["02"]["kept"] == 2 and reports["02"]["dropped"][0][0] == "frame_00000_rgb.png"
    assert all(not r["failed"] for r in reports.values())
    crops_01 = [crop_and_resize(frames[("01", n)], detection_box(box, WIDTH, HEIGHT, 0.4))
                for n, box in expected]
    poses_01 = [POSES[n] for n, _ in expected]
    if protocol == 1:
        images, poses = load_pose_npz(tmp_path / "out" / "BIWI_noTrack.npz")
        assert len(images) == len(expected) + 2 + 3
        np.testing.assert_array_equal(images[:len(expected)], crops_01)
        np.testing.assert_allclose(poses[:len(expected)], poses_01, atol=1e-4)
        return
    split = json.loads((tmp_path / "out" / "BIWI_split.json").read_text())
    assert sorted(split["train"] + split["test"]) == ["01", "02", "03"] and len(split["train"]) == 2
    assert split["seed"] == 0 and split["frames"] == {"01": 7, "02": 2, "03": 3}
    train_images, train_poses = load_pose_npz(tmp_path / "out" / "BIWI_train.npz")
    test_images, _ = load_pose_npz(tmp_path / "out" / "BIWI_test.npz")
    assert len(train_images) == sum(split["frames"][v] for v in split["train"])
    assert len(test_images) == sum(split["frames"][v] for v in split["test"])
    images = train_images if "01" in split["train"] else test_images
    np.testing.assert_array_equal(images[:7], crops_01)


def test_split_is_seeded_recorded_and_reusable(scripted_tree, tmp_path):
    root, detector, _ = scripted_tree
    videos = list_videos(root)
    assert split_videos(videos, seed=4, train_videos=2) == split_videos(videos, seed=4, train_videos=2)
    assert len({tuple(split_videos(videos, seed=s, train_videos=2)[0]) for s in range(20)}) == 3
    first = prepare(root, tmp_path / "a", 2, seed=7, train_videos=2, workers=1,
                    detector_factory=lambda: detector, progress=False)
    (tmp_path / "reuse.json").write_text(json.dumps({"train": ["01", "02", "03"], "test": []}))
    with pytest.raises(DatasetError, match="no frame kept for BIWI_test.npz"):
        prepare(root, tmp_path / "b", 2, split_file=tmp_path / "reuse.json", workers=1,
                detector_factory=lambda: detector, progress=False)
    again = prepare(root, tmp_path / "c", 2, split_file=tmp_path / "a" / "BIWI_split.json",
                    workers=1, detector_factory=lambda: detector, progress=False)
    assert again["split"]["train"] == first["split"]["train"]
    for name in ("BIWI_train.npz", "BIWI_test.npz"):
        np.testing.assert_array_equal(load_pose_npz(tmp_path / "a" / name)[0],
                                      load_pose_npz(tmp_path / "c" / name)[0])


def test_broken_frames_are_skipped_and_named(scripted_tree, tmp_path, capsys):
    root, detector, _ = scripted_tree
    video = root / "03"
    (video / "frame_00001_pose.txt").unlink()                                   # png without txt
    (video / "frame_00009_pose.txt").write_text("1 0 0\n0 1 0\n0 0 1\n0 0 0\n")  # txt without png
    data = (video / "frame_00002_rgb.png").read_bytes()
    (video / "frame_00002_rgb.png").write_bytes(data[:len(data) // 3])         # truncated image
    (root / "02" / "frame_00001_pose.txt").write_text("2 0 0\n0 1 0\n0 0 1\n")  # not a rotation
    (root / "02" / "frame_00002_pose.txt").write_text("1 0 x\n")                 # not numbers
    summary = prepare(root, tmp_path / "out", 1, workers=1, detector_factory=lambda: detector,
                      progress=False)
    failed = {(r["video"], name): why for r in summary["videos"] for name, why in r["failed"]}
    assert failed == {("03", "frame_00001_rgb.png"): "image without its pose.txt",
                      ("03", "frame_00009_pose.txt"): "pose.txt without its image",
                      ("03", "frame_00002_rgb.png"): "unreadable or truncated image",
                      ("02", "frame_00001_rgb.png"): "pose file's 3x3 matrix is not a rotation",
                      ("02", "frame_00002_rgb.png"): "unreadable pose file (ValueError)"}
    with pytest.raises(DatasetError, match=r"02/frame_00001_rgb.png: pose file's 3x3 matrix"):
        prepare(root, tmp_path / "strict", 1, workers=1, strict=True,
                detector_factory=lambda: detector, progress=False)
    assert not (tmp_path / "strict").exists()


def test_wrong_or_empty_folders_give_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert prepare_main(["--input", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "o"),
                         "--protocol", "1"]) == 1
    assert "no BIWI video folders" in capsys.readouterr().err
    assert prepare_main(["--input", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "o"),
                         "--protocol", "2"]) == 1
    assert "nope: not a directory" in capsys.readouterr().err
    (tmp_path / "one" / "01").mkdir(parents=True)
    assert prepare_main(["--input", str(tmp_path / "one"), "--output-dir", str(tmp_path / "o"),
                         "--protocol", "2"]) == 1
    assert "cannot put 16 of 1 videos" in capsys.readouterr().err


def test_real_mtcnn_on_a_pasted_face(shared, tmp_path, capsys):
    """The command line with the real MTCNN in worker processes: a real face pasted into
    640x480 frames is found in every frame and the labels come through."""
    import scipy.io
    source = shared / "data" / "aflw2000_samples" / "image00050"
    face = landmark_crop(cv2.imread(str(source) + ".jpg"), scipy.io.loadmat(str(source) + ".mat")["pt2d"],
                         size=220)
    root = tmp_path / "hpdb"
    for video in ("01", "02"):
        for n in range(2):
            image = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
            x = 150 + 30 * n + 100 * (video == "02")
            image[120:340, x:x + 220] = face
            write_frame(root / video, n, image, (10.0 * n, -5.0, 3.0))
    assert prepare_main(["--input", str(root), "--output-dir", str(tmp_path / "out"),
                         "--protocol", "1", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "kept 4 frames of 2 videos" in out and "4 frames, 0 outside ±99°" in out
    images, poses = load_pose_npz(tmp_path / "out" / "BIWI_noTrack.npz")
    assert images.shape == (4, 64, 64, 3)
    np.testing.assert_allclose(poses, [(0, -5, 3), (10, -5, 3)] * 2, atol=1e-4)
