"""Video head-pose analytics end to end (``fsanet demo --data``): face tracks on a real video, on a
photo of several people and on a made-up video of two faces crossing; smoothing of a still face; a
data file that survives an interrupted run; the plot of a real run."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fsanet.cli import run_command
from fsanet.video.records import read_records

ROOT = Path(__file__).resolve().parent.parent


def demo(*argv):
    return run_command("demo", [str(a) for a in argv] + ["--no-display"])


def frames_of(rows):
    return sorted({r["frame"] for r in rows})


def face_patch(shared, name, box, size=170):
    """A square patch around a face box (x, y, w, h) of a shared image, resized to ``size``."""
    image = cv2.imread(str(shared / "data" / name))
    x, y, w, h = box
    side = int(1.65 * max(w, h))
    x0, y0 = max(int(x + w / 2 - side / 2), 0), max(int(y + h / 2 - side / 2), 0)
    return cv2.resize(image[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def write_video(path, frames, fps=25.0):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def obama_run(shared, tmp_path_factory):
    """The demo on obama.mp4 with data and smoothing (one run shared by the tests below)."""
    out = tmp_path_factory.mktemp("obama")
    video = shared / "data" / "video" / "obama.mp4"
    assert demo(video, "--output", out / "obama_pose.mp4", "--data", out / "obama.csv", "--smooth") == 0
    return out


@pytest.mark.large
def test_obama_has_one_track_and_a_row_per_frame(obama_run):
    rows = read_records(obama_run / "obama.csv")
    assert len(rows) == 158 and frames_of(rows) == list(range(158))
    assert {r["track"] for r in rows} == {0}
    assert [r["frame"] for r in rows if r["detected"]] == list(range(0, 158, 10))  # --every 10
    assert {r["source"] for r in rows} == {"obama"}
    # each frame's presentation time: 25 fps, but the last stored frame's timestamp is 0.08 s after the one before
    np.testing.assert_allclose([r["time"] for r in rows], np.append(np.arange(157) / 25.0, 6.32), atol=1e-4)
    for row in rows[::20]:
        matrix = np.array([[row[f"r{i}{j}"] for j in range(3)] for i in range(3)])
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-5)
        assert all(row[f"{a}_spread"] >= 0 for a in ("yaw", "pitch", "roll"))
        assert all(abs(row[f"{a}_smoothed"]) < 99 for a in ("yaw", "pitch", "roll"))
    # the members disagree a little, never wildly, on this frontal face
    spreads = np.array([[r[f"{a}_spread"] for a in ("yaw", "pitch", "roll")] for r in rows])
    assert 0 < spreads.mean() < 10
    capture = cv2.VideoCapture(str(obama_run / "obama_pose.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 158


def test_plot_of_a_real_run(obama_run, capsys):
    assert run_command("plot", [str(obama_run / "obama.csv")]) == 0
    assert "158 records of 1 track plotted" in capsys.readouterr().out
    assert cv2.imread(str(obama_run / "obama.png")).shape == (650, 900, 3)


def test_group_photo_gives_one_row_per_face(shared, tmp_path, capsys):
    group = shared / "data" / "images" / "group_1920x1080.jpg"
    data = tmp_path / "group.jsonl"
    assert demo(group, "--output", tmp_path, "--data", data) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if ": face " in line]
    rows = read_records(data)
    assert len(rows) == len(printed) >= 7
    assert sorted(r["track"] for r in rows) == list(range(len(rows)))
    assert {r["frame"] for r in rows} == {0} and all(r["time"] is None for r in rows)
    assert "yaw_smoothed" not in rows[0]


def crossing_video(shared, path, count=75):
    """Two real faces moving across a 640x360 frame in opposite directions: their boxes cross
    half-way (the second face hides the first one's chin there)."""
    faces = [face_patch(shared, "images/portrait_750x375.jpg", (273, 134, 181, 180)),
             face_patch(shared, "aflw2000_samples/image00050.jpg", (113, 161, 216, 216))]
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(60, 200, (360, 640, 3), dtype=np.uint8), (0, 0), 5)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = round(10 + i * (460 - 10) / (count - 1))
        for patch, (left, top) in zip(faces, ((x, 20), (470 - x, 160))):
            frame[top:top + 170, left:left + 170] = patch
        frames.append(frame)
    write_video(path, frames)


def test_two_crossing_faces_keep_two_ids(shared, tmp_path):
    video = tmp_path / "crossing.mp4"
    crossing_video(shared, video)
    data = tmp_path / "crossing.csv"
    assert demo(video, "--data", data, "--no-video", "--output", tmp_path / "annotated") == 0
    assert not (tmp_path / "annotated").exists()  # --no-video: data only
    rows = read_records(data)
    tracks = sorted({r["track"] for r in rows})
    assert len(tracks) == 2
    for track in tracks:
        own = sorted((r for r in rows if r["track"] == track), key=lambda r: r["frame"])
        assert len(own) >= 60  # followed through most of the 75 frames
        centre_x = np.array([r["x"] + r["w"] / 2 for r in own])
        top = np.array([r["y"] for r in own])
        # each track stays on one face: across the frame one way (a swap would jump ~100-400 px
        # back), in its own lane
        direction = np.sign(centre_x[-1] - centre_x[0])
        assert abs(centre_x[-1] - centre_x[0]) > 300 and (direction * np.diff(centre_x) > -10).all()
        assert np.ptp(top) < 40
    lanes = sorted(np.mean([r["y"] for r in rows if r["track"] == t]) for t in tracks)
    assert lanes[1] - lanes[0] > 100


def test_smoothing_steadies_a_still_face_without_moving_it(shared, tmp_path):
    """A still face under camera-like noise: the raw angles jitter from frame to frame, the
    smoothed ones much less, around the same mean."""
    patch = face_patch(shared, "images/portrait_750x375.jpg", (273, 134, 181, 180), size=240)
    rng = np.random.default_rng(1)
    frame = np.full((360, 640, 3), 120, np.uint8)
    frame[60:300, 200:440] = patch
    frames = [np.clip(frame + rng.normal(0, 12, frame.shape), 0, 255).astype(np.uint8) for _ in range(100)]
    video = tmp_path / "still.mp4"
    write_video(video, frames)
    data = tmp_path / "still.csv"
    assert demo(video, "--data", data, "--no-video", "--smooth", "--output", tmp_path) == 0
    rows = read_records(data)
    assert len(rows) == 100 and {r["track"] for r in rows} == {0}
    raw = np.array([[r[a] for a in ("yaw", "pitch", "roll")] for r in rows])
    smooth = np.array([[r[f"{a}_smoothed"] for a in ("yaw", "pitch", "roll")] for r in rows])
    raw_jitter = np.abs(np.diff(raw, axis=0)).mean(axis=0)
    smooth_jitter = np.abs(np.diff(smooth, axis=0)).mean(axis=0)
    assert (raw_jitter > 0.1).all()  # the noise does move the estimate
    assert (smooth_jitter < 0.4 * raw_jitter).all()
    np.testing.assert_allclose(smooth[25:].mean(axis=0), raw[25:].mean(axis=0), atol=0.5)


@pytest.mark.large
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_keeps_every_finished_frame(shared, tmp_path, stop):
    data, video = tmp_path / "obama.jsonl", tmp_path / "obama_pose.mp4"
    partial = tmp_path / "obama.jsonl.partial"  # the data file's name until the run completes
    command = [sys.executable, "-m", "fsanet", "demo", str(shared / "data" / "video" / "obama.mp4"),
               "--data", str(data), "--output", str(video), "--no-display"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if partial.exists() and partial.read_text().count("\n") >= 20:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1].decode()[-2000:]
    process.send_signal(stop)
    status = process.wait(timeout=60)
    rows = read_records(partial)  # parses
    frames = frames_of(rows)
    assert 20 <= len(frames) < 158 and frames == list(range(len(frames)))  # no gap, no half frame
    assert len(rows) == len(frames)  # one face per frame
    assert partial.read_text().endswith("\n") and not data.exists()
    assert status == (130 if stop == signal.SIGINT else -signal.SIGKILL)
    if stop == signal.SIGINT:  # the interrupt line names what was kept
        assert process.stderr.read().decode().strip().endswith(f"finished frames kept in {partial})")
    assert not video.exists()  # a cut-short video is never left under its name
    if stop == signal.SIGINT:  # nor its partial file (SIGKILL gives no chance to delete it)
        assert not list(tmp_path.glob(".*.part"))
