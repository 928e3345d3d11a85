"""The one-call API (``fsanet.estimate``, ``fsanet.analyze``, ``fsanet.draw``, ``fsanet.to_dataframe``)
gives what the command writes for the same input: the records are the ``--data`` rows."""

import subprocess
import sys

import numpy as np
import pytest

import fsanet
from fsanet.cli import run_command
from fsanet.errors import FSANetError
from fsanet.video.records import columns, read_records

KEYS = ("x", "y", "w", "h", "detected", "confidence", "yaw", "pitch", "roll",
        "r00", "r01", "r02", "r10", "r11", "r12", "r20", "r21", "r22", "yaw_spread", "pitch_spread", "roll_spread")


def command_rows(tmp_path, *argv):
    data = tmp_path / "rows.csv"
    assert run_command("demo", [str(a) for a in argv] + ["--data", str(data), "--no-video", "--no-display"]) in (0, 1)
    return read_records(data)


@pytest.mark.parametrize("photo", ["portrait_750x375.jpg", "group_1920x1080.jpg"])
def test_estimate_gives_the_commands_rows(shared, tmp_path, photo):
    path = shared / "data" / "images" / photo
    rows = command_rows(tmp_path, path)
    faces = fsanet.estimate(path)
    assert len(faces) == len(rows) >= 1
    frame = fsanet.to_dataframe(faces)
    assert list(frame.columns) == columns(spread=True)
    for face, row, (_, table_row) in zip(faces, rows, frame.iterrows()):
        assert face.track is None and face.frame == 0 and face.time is None
        assert (face.yaw, face.pitch, face.roll) == pytest.approx((row["yaw"], row["pitch"], row["roll"]), abs=1e-4)
        assert face.rotation.shape == (3, 3)
        assert {k: table_row[k] for k in KEYS} == {k: row[k] for k in KEYS}


def test_estimate_takes_an_image_array_and_draw_returns_an_annotated_copy(shared):
    import cv2
    image = cv2.imread(str(shared / "data" / "images" / "portrait_750x375.jpg"))
    faces = fsanet.estimate(image)
    by_path = fsanet.estimate(shared / "data" / "images" / "portrait_750x375.jpg")
    assert [f.pose for f in faces] == [f.pose for f in by_path]
    drawn = fsanet.draw(image, faces)
    assert drawn.shape == image.shape and (drawn != image).any()
    assert (image == cv2.imread(str(shared / "data" / "images" / "portrait_750x375.jpg"))).all()  # not in place


def test_analyze_yields_the_records_of_every_frame_of_a_video(shared, tmp_path):
    video = shared / "data" / "video" / "obama.mp4"
    rows = command_rows(tmp_path, video)
    frames = list(fsanet.analyze(video))
    assert len(frames) == 158
    records = [r for frame in frames for r in frame]
    assert len(records) == len(rows)
    table = fsanet.to_dataframe(frames)
    for (_, got), want in zip(table.iterrows(), rows):
        assert {k: got[k] for k in ("frame", "time", "track", *KEYS)} == {k: want[k] for k in ("frame", "time", "track", *KEYS)}


def test_analyze_smooths_per_track_when_asked(shared):
    frames = list(fsanet.analyze(shared / "data" / "video" / "obama.mp4", every=5, smooth=True))
    smoothed = np.array([r.smoothed for frame in frames for r in frame])
    raw = np.array([r.pose for frame in frames for r in frame])
    assert smoothed.shape == raw.shape
    # the filter takes out frame-to-frame jitter: smaller steps than the raw angles'
    assert np.abs(np.diff(smoothed, axis=0)).mean() < np.abs(np.diff(raw, axis=0)).mean()


@pytest.mark.parametrize("call", [
    lambda: fsanet.estimate("no/such/photo.jpg"),
    lambda: fsanet.estimate(np.zeros((4, 4, 7))),
    lambda: fsanet.draw(np.zeros((8, 8, 3), np.uint8), [], style="sketch"),
    lambda: list(fsanet.analyze("no/such/video.mp4")),
    lambda: fsanet.HeadPoseEstimator(detector="haar"),
])
def test_bad_arguments_raise_our_errors(call):
    with pytest.raises(FSANetError):
        call()


def test_the_public_names_are_the_packages_whole_surface():
    assert "annotations" not in dir(fsanet) and "importlib" not in dir(fsanet)
    assert set(fsanet.__all__) <= set(dir(fsanet))
    assert {"estimate", "analyze", "draw", "to_dataframe", "HeadPoseEstimator"} <= set(fsanet.__all__)


def test_import_fsanet_loads_no_tensorflow():
    out = subprocess.run([sys.executable, "-c", "import sys, fsanet; print('tensorflow' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
