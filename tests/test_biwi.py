"""BIWI preparation on trees the tests write in the database's raw layout: labels from rotation
matrices, the box rules of both protocols (thresholds, jump rule, the authors' stale and zero boxes,
box reuse, face choice), the recorded split, broken frames; and the real MTCNN that preparation uses,
on a real face pasted into frames."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_quiet, clean_env

from fsanet.cli import run_command
from fsanet.commands.prepare_biwi import summary_lines
from fsanet.data.biwi import FACE_RULES, BoxRules, authors_face_box, list_videos, read_pose_file, split_videos
from fsanet.data.biwi_prepare import prepare
from fsanet.data.npz import load_pose_npz
from fsanet.errors import DatasetError
from fsanet.faces.crop import crop_and_resize, detection_box, landmark_crop
from fsanet.faces.detectors import Face, MTCNNCascadeDetector

ROOT = Path(__file__).resolve().parent.parent

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


A = (200, 150, 100, 120)  # x, y, w, h; widened by 0.4 its left edge is int(200 - 40) = 160
L = (100, 150, 100, 120)  # widened left edge 60: within 80 px of the authors' zero box


def shifted(box, dx):
    return (box[0] + dx, *box[1:])


MODES = [(1, "authors"), (2, "authors"), (1, "clean"), (2, "clean")]
# Per video, frames as (faces, box cropped with in each of MODES, None for dropped). Jumps are measured
# on the widened box's left edge, so a shift dx of the detector box carries over exactly.
TREE = {
    "01": [
        ([Face(A, 0.99)], A, A, A, A),                                      # the first frame
        ([Face(shifted(A, 10), 0.93)],                                      # > 0.90, not > 0.95:
         shifted(A, 10), A, shifted(A, 10), A),                             # p2 stale A / reused A
        ([Face(shifted(A, 120), 0.99)], None, A, None, A),                  # jumped 110 / 120 px
        ([Face(shifted(A, 60), 0.5)],                                       # stale box = the jumped
         None, A, None, A),                                                 # one: still jumps
        ([Face(shifted(A, 90), 0.99)], None, A, None, A),                   # p1: exactly 80 px
        ([Face(shifted(A, 79), 0.99), Face((500, 10, 50, 50), 0.5)],        # 69 px; 0.5 ignored
         shifted(A, 79), shifted(A, 79), shifted(A, 79), shifted(A, 79)),
        ([], None, shifted(A, 79), None, shifted(A, 79)),                   # no face
        ([Face(shifted(A, 60), 0.90)],                                      # 0.90 is not > 0.90:
         shifted(A, 79), shifted(A, 79), None, shifted(A, 79)),             # stale box, 0 px
    ],
    "02": [
        ([], None, None, None, None),                                       # no face, no box yet
        ([Face(shifted(A, 5), 0.99)],                                       # authors: 165 px from
         None, None, shifted(A, 5), shifted(A, 5)),                         # the zero box
        ([Face(L, 0.99)], L, L, None, shifted(A, 5)),                       # 60 px from it
    ],
    "03": [
        ([Face(shifted(A, 30), 0.5)], L, L, None, None),                    # first frame: stale box
        ([Face(shifted(A, 35), 0.99)], None, L, shifted(A, 35), shifted(A, 35)),  # from video 02
        ([Face(shifted(A, 40), 0.99)], None, L, shifted(A, 40), shifted(A, 40)),
    ],
}
# (stale box, reused box) counts per video and mode
COUNTS = {"01": [(1, 0), (2, 4), (0, 0), (0, 6)], "02": [(0, 0), (0, 0), (0, 0), (0, 1)],
          "03": [(1, 0), (1, 2), (0, 0), (0, 0)]}


def tree_pose(video, n):
    return (7.5 * n - 30.0, -3.0 * n + int(video), 2.0 * n - 5.0)


@pytest.fixture
def scripted_tree(tmp_path):
    """TREE written in BIWI's raw layout, with a detector that returns each frame's planned faces."""
    root, detector, frames = tmp_path / "hpdb", ScriptedDetector(), {}
    for video, steps in TREE.items():
        for n, (faces, *_) in enumerate(steps):
            image = frame_image(100 * int(video) + n)
            write_frame(root / video, n + 3, image, tree_pose(video, n))  # numbers need not start at 0
            detector.add(image, faces)
            frames[(video, n)] = image
    return root, detector, frames


def expected_set(frames, videos, mode):
    """Crops and poses the authors' rules (or the clean ones) give for these videos, in order."""
    crops, poses = [], []
    for video in videos:
        for n, step in enumerate(TREE[video]):
            box = step[1 + MODES.index(mode)]
            if box is not None:
                crops.append(crop_and_resize(frames[(video, n)], detection_box(box, WIDTH, HEIGHT, 0.4)))
                poses.append(tree_pose(video, n))
    return np.array(crops), np.array(poses)


def test_angles_recovered_from_rotation_files(tmp_path):
    poses = [(12.5, -8.25, 3.0), (-75.0, 40.0, -50.0), (60.0, -62.5, 45.0), (0.0, 0.0, 0.0),
             (-30.0, 15.0, 88.0), (89.0, 5.0, -5.0), (-5.0, 70.0, 10.0)]
    for i, pose in enumerate(poses):
        write_frame(tmp_path, i, frame_image(0)[:8, :8], pose)
        np.testing.assert_allclose(read_pose_file(tmp_path / f"frame_{i:05d}_pose.txt"), pose, atol=1e-4)


def test_widened_box_by_hand():
    # x 200 - 0.4 * 100 = 160; y 150 - 48 = 102; right 300 + 40 = 340 and bottom 270 + 48 = 318,
    # both inclusive as in the authors' script.
    assert detection_box(A, WIDTH, HEIGHT, 0.4) == (160, 102, 341, 319)


def test_choose_face_prefers_the_authors_anchor():
    # Widened top-left corners: (160, 102) is 266.7 + 218 from (426.7, 320); (380, 270) is 46.7 + 50.
    near = (420, 310, 100, 100)
    box = authors_face_box([Face(A, 0.99), Face(near, 0.96)], FACE_RULES[2], WIDTH, HEIGHT)
    assert box == detection_box(near, WIDTH, HEIGHT, 0.4)
    box = authors_face_box([Face(A, 0.99), Face(near, 0.95)], FACE_RULES[2], WIDTH, HEIGHT)
    assert box == detection_box(A, WIDTH, HEIGHT, 0.4)


@pytest.mark.parametrize("mode", MODES)
def test_box_rules(scripted_tree, tmp_path, mode):
    protocol, box_rules = mode
    root, detector, frames = scripted_tree
    summary = prepare(root, tmp_path / "out", protocol, train_videos=2, workers=1, box_rules=box_rules,
                      detector_factory=lambda: detector, progress=False)
    column = 1 + MODES.index(mode)
    for report in summary["videos"]:
        steps = TREE[report["video"]]
        assert report["kept"] == sum(step[column] is not None for step in steps)
        assert (report["stale_box"], report["reused_box"]) == COUNTS[report["video"]][MODES.index(mode)]
        assert [name for name, _ in report["dropped"]] == [
            f"frame_{n + 3:05d}_rgb.png" for n, step in enumerate(steps) if step[column] is None]
        assert not report["failed"]
    sets = ({"BIWI_noTrack.npz": ["01", "02", "03"]} if protocol == 1 else
            {"BIWI_train.npz": summary["split"]["train"], "BIWI_test.npz": summary["split"]["test"]})
    for name, videos in sets.items():
        crops, poses = expected_set(frames, videos, mode)
        images, labels = load_pose_npz(tmp_path / "out" / name)
        np.testing.assert_array_equal(images, crops)
        np.testing.assert_allclose(labels, poses, atol=1e-4)


def test_drop_reasons_and_the_runs_first_frame():
    rules = BoxRules(FACE_RULES[1])
    rules.start_video()
    # the authors' script has no box yet here (a NameError): dropped
    assert rules.decide(True, None) == (None, "no confident face yet in the run")
    assert rules.decide(False, None) == (None, "no face detected")
    assert rules.decide(True, (79, 0, 100, 100)) == ((79, 0, 100, 100), "kept")  # 79 px from 0
    assert rules.decide(True, (159, 0, 200, 100)) == (None, "box jumped 80 px")
    assert rules.decide(True, None) == (None, "box jumped 80 px")  # the stale box is the jumped one
    rules.start_video()
    assert rules.decide(True, None) == ((159, 0, 200, 100), "stale")  # a first frame is not tested
    clean = BoxRules(FACE_RULES[2], authors=False)
    clean.start_video()
    assert clean.decide(True, None) == (None, "no face with confidence > 0.95, and no box kept yet in "
                                              "this video")


def test_summary_counts_each_way_a_box_was_chosen(scripted_tree, tmp_path):
    root, detector, _ = scripted_tree
    summary = prepare(root, tmp_path / "out", 1, workers=1, detector_factory=lambda: detector,
                      progress=False)
    lines = summary_lines(summary, 1)
    assert lines[0] == ("kept 6 frames of 3 videos: 4 with their own face, 2 with the last confident "
                        "box (no face > 0.9), 0 with the previous kept box")
    assert lines[1:3] == ["  dropped 6: box jumped", "  dropped 2: no face detected"]
    assert len(lines) == 4 and lines[3] == (f"wrote {tmp_path / 'out' / 'BIWI_noTrack.npz'}: 6 frames, "
                                            "0 outside ±99° (filtered when loading)")


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


def test_broken_frames_are_skipped_and_named(scripted_tree, tmp_path):
    root, detector, _ = scripted_tree
    video = root / "03"
    (video / "frame_00004_pose.txt").unlink()                                   # png without txt
    (video / "frame_00009_pose.txt").write_text("1 0 0\n0 1 0\n0 0 1\n0 0 0\n")  # txt without png
    data = (video / "frame_00005_rgb.png").read_bytes()
    (video / "frame_00005_rgb.png").write_bytes(data[:len(data) // 3])         # truncated image
    (root / "02" / "frame_00004_pose.txt").write_text("2 0 0\n0 1 0\n0 0 1\n")  # not a rotation
    (root / "02" / "frame_00005_pose.txt").write_text("1 0 x\n")                 # not numbers
    summary = prepare(root, tmp_path / "out", 1, workers=1, detector_factory=lambda: detector,
                      progress=False)
    failed = {(r["video"], name): why for r in summary["videos"] for name, why in r["failed"]}
    assert failed == {("03", "frame_00004_rgb.png"): "image without its pose.txt",
                      ("03", "frame_00009_pose.txt"): "pose.txt without its image",
                      ("03", "frame_00005_rgb.png"): "unreadable or truncated image",
                      ("02", "frame_00004_rgb.png"): "pose file's 3x3 matrix is not a rotation",
                      ("02", "frame_00005_rgb.png"): "unreadable pose file (ValueError)"}
    assert "  skipped 02/frame_00004_rgb.png: pose file's 3x3 matrix is not a rotation" in summary_lines(
        summary, 1)
    with pytest.raises(DatasetError, match=r"02/frame_00004_rgb.png: pose file's 3x3 matrix"):
        prepare(root, tmp_path / "strict", 1, workers=1, strict=True,
                detector_factory=lambda: detector, progress=False)
    assert not (tmp_path / "strict").exists()


def test_wrong_or_empty_folders_give_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "one" / "01").mkdir(parents=True)
    for folder, protocol, message in [("empty", "1", "empty: no BIWI video folders"),
                                      ("nope", "2", "nope: not a directory"),
                                      ("one", "2", "cannot put 16 of 1 videos in the training set")]:
        assert run_command("prepare-biwi", ["--input", str(tmp_path / folder), "--output-dir",
                                            str(tmp_path / "o"), "--protocol", protocol]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert run_command("prepare-biwi", ["--input", "x", "--output-dir", "o", "--protocol", "1",
                                        "--workers", "0"]) == 2
    assert "argument --workers: invalid positive integer value: '0'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def pasted_face_frames(shared, placements):
    """640x480 grey frames with a real face (AFLW2000 image00050, 220 px crop) pasted at x offsets."""
    import scipy.io
    source = shared / "data" / "aflw2000_samples" / "image00050"
    face = landmark_crop(cv2.imread(str(source) + ".jpg"), scipy.io.loadmat(str(source) + ".mat")["pt2d"],
                         size=220)
    frames = []
    for x in placements:
        image = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
        image[120:340, x:x + 220] = face
        frames.append(image)
    return frames


class StageSpy:
    """Stands in for one MTCNN stage: records its keyword arguments, and the model's outputs."""

    def __init__(self, stage):
        self.stage, self.kwargs, self.outputs = stage, [], []
        model = stage._model
        stage._model = lambda patches: self.outputs.append(model(patches)) or self.outputs[-1]

    def __call__(self, **kwargs):
        self.kwargs.append(kwargs)
        return self.stage(**kwargs)


@pytest.mark.parametrize("rgb", [False, True])
def test_preparation_mtcnn_runs_the_full_cascade_on_the_frames_channels(shared, rgb):
    detector = MTCNNCascadeDetector(rgb=rgb)
    mtcnn = detector._mtcnn
    assert [type(s).__name__ for s in mtcnn.stages] == ["StagePNet", "StageRNet", "StageONet"]
    mtcnn._stages = [StageSpy(s) for s in mtcnn.stages]
    seen, detect = [], mtcnn.detect_faces
    mtcnn.detect_faces = lambda image, **kw: seen.append((image, detect(image, **kw))) or seen[-1][1]
    frame = pasted_face_frames(shared, [150])[0]
    faces = detector(frame)
    image, rows = seen[0]
    np.testing.assert_array_equal(image, frame[..., ::-1] if rgb else frame)  # BGR unless asked
    assert [s.kwargs[0]["min_face_size"] for s in mtcnn.stages] == [20] * 3
    assert [(s.kwargs[0]["threshold_pnet"], s.kwargs[0]["threshold_rnet"], s.kwargs[0]["threshold_onet"])
            for s in mtcnn.stages] == [(0.6, 0.7, 0.7)] * 3
    onet_scores = {float(v) for v in mtcnn.stages[2].outputs[0][2][:, -1]}
    assert len(faces) == 1 and faces[0].confidence > 0.95 and faces[0].confidence in onet_scores
    # five landmarks (O-net's), inside the face's box
    x, y, w, h = faces[0].box
    xs, ys = rows[0, 6:11], rows[0, 11:16]
    assert rows.shape == (1, 16) and ((x < xs) & (xs < x + w) & (y < ys) & (ys < y + h)).all()
    assert w != h  # O-net's box, not squared like R-net's


def test_crop_box_is_the_detectors_box_widened_without_squaring(shared, tmp_path):
    root = tmp_path / "hpdb"
    frames = pasted_face_frames(shared, [150, 180])
    for n, image in enumerate(frames):
        write_frame(root / "01", n, image, (10.0 * n, -5.0, 3.0))
    detector = MTCNNCascadeDetector()
    prepare(root, tmp_path / "out", 1, workers=1, detector_factory=lambda: detector, progress=False)
    images, _ = load_pose_npz(tmp_path / "out" / "BIWI_noTrack.npz")
    boxes = [detector(image)[0].box for image in frames]
    assert all(w != h for _, _, w, h in boxes)
    np.testing.assert_array_equal(images, [crop_and_resize(image, detection_box(box, WIDTH, HEIGHT, 0.4))
                                           for image, box in zip(frames, boxes)])


@pytest.mark.large
def test_command_with_mtcnn_in_worker_processes(shared, tmp_path):
    """``fsanet prepare-biwi`` with MTCNN fed RGB in two spawned workers: a real face pasted into
    640x480 frames is found in every frame, the labels come through, and the workers' TensorFlow
    start-up stays quiet."""
    root = tmp_path / "hpdb"
    for video in ("01", "02"):
        for n, image in enumerate(pasted_face_frames(shared, [150 + 100 * (video == "02") + 30 * n
                                                              for n in range(2)])):
            write_frame(root / video, n, image, (10.0 * n, -5.0, 3.0))
    result = subprocess.run([sys.executable, "-m", "fsanet", "prepare-biwi", "--input", str(root),
                             "--output-dir", str(tmp_path / "out"), "--protocol", "1", "--workers", "2",
                             "--detector-rgb"], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert "kept 4 frames of 2 videos: 4 with their own face" in result.stdout
    assert "4 frames, 0 outside ±99°" in result.stdout
    assert_quiet(result.stderr)
    images, poses = load_pose_npz(tmp_path / "out" / "BIWI_noTrack.npz")
    rgb = MTCNNCascadeDetector(rgb=True)
    frame = pasted_face_frames(shared, [150])[0]
    box = detection_box(rgb(frame)[0].box, WIDTH, HEIGHT, 0.4)
    np.testing.assert_array_equal(images[0], crop_and_resize(frame, box))
    np.testing.assert_allclose(poses, [(0, -5, 3), (10, -5, 3)] * 2, atol=1e-4)
