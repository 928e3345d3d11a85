"""Per-frame data files (fsanet.video.records), the angle convention's matrix and cube (fsanet.core.pose),
and the plot command (fsanet.commands.plot)."""

import argparse

import cv2
import numpy as np
import pytest

from fsanet.commands import plot
from fsanet.core.pose import cube_corners, pose_from_rotation, rotation_from_pose
from fsanet.errors import NothingFoundError, OutputError, RecordError
from fsanet.video.drawing import draw_axes, draw_cube
from fsanet.video.records import FaceRecord, RecordWriter, read_records


def _records(frame, spread=True, smoothed=False):
    return [FaceRecord(frame, frame / 25, "clip", track, (10 * track, 20, 64, 70), track == 0, 0.9 + track / 100,
                       (30.0 - 10 * track, -10.0 + frame + 5 * track, 5.5 - 3 * track), (1.0, 2.0, 0.5) if spread else None,
                       (29.0 - 10 * track, -9.0 + 5 * track, 5.0 - 3 * track) if smoothed else None)
            for track in range(2)]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_data_file_round_trip(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with RecordWriter(path, spread=True, smoothed=True) as writer:
        for frame in range(3):
            writer.write_frame(_records(frame, smoothed=True))
        writer.write_frame([])  # a frame without faces adds no row
    rows = read_records(path)
    assert writer.frames == 4 and len(rows) == writer.rows == 6
    first = rows[2]
    assert (first["frame"], first["track"], first["source"], first["detected"]) == (1, 0, "clip", True)
    assert (first["x"], first["y"], first["w"], first["h"]) == (0, 20, 64, 70)
    assert first["time"] == pytest.approx(0.04)
    assert (first["yaw"], first["pitch"], first["roll"]) == (30.0, -9.0, 5.5)
    assert (first["yaw_spread"], first["roll_smoothed"]) == (1.0, 5.0)
    matrix = np.array([[first[f"r{i}{j}"] for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(matrix, rotation_from_pose(30.0, -9.0, 5.5), atol=1e-6)


def test_csv_without_spread_or_smoothing_and_images_without_time(tmp_path):
    path = tmp_path / "d.csv"
    with RecordWriter(path, spread=False) as writer:
        writer.write_frame([FaceRecord(0, None, "photo", 0, (1, 2, 3, 4), True, 0.5, (1.0, 2.0, 3.0))])
    header = path.read_text().splitlines()[0].split(",")
    assert "yaw_spread" not in header and "yaw_smoothed" not in header
    assert read_records(path)[0]["time"] is None


def test_each_frame_is_on_disk_when_written_and_an_unfinished_line_is_dropped(tmp_path):
    path = tmp_path / "live.jsonl"
    writer = RecordWriter(path)
    writer.write_frame(_records(0))
    assert len(read_records(writer.partial)) == 2  # readable while the writer is still open
    with open(writer.partial, "a") as f:
        f.write('{"frame":1,"time":0.04,"sou')  # a row cut by a kill
    assert [r["frame"] for r in read_records(writer.partial)] == [0, 0]
    assert not path.exists()  # named only when complete
    writer.close()
    assert not writer.partial.exists() and [r["frame"] for r in read_records(path)] == [0, 0]


def test_bad_data_files(tmp_path):
    with pytest.raises(RecordError, match="must end in .csv or .jsonl"):
        RecordWriter(tmp_path / "out.txt")
    with pytest.raises(RecordError, match="missing.csv: cannot read"):
        read_records(tmp_path / "missing.csv")
    (tmp_path / "junk.jsonl").write_text("not json\n")
    with pytest.raises(RecordError, match="junk.jsonl: not a head-pose data file"):
        read_records(tmp_path / "junk.jsonl")


def test_rotation_round_trip_and_cube_matches_axes():
    for pose in [(30, -20, 15), (-70, 40, -35), (5, 80, 60), (0, 0, 0)]:
        np.testing.assert_allclose(pose_from_rotation(rotation_from_pose(*pose)), pose, atol=1e-9)
    corners = cube_corners(20, 10, -5, (100, 100), 20)
    rotation = rotation_from_pose(20, 10, -5)
    # the face side's centre is where the drawn z axis (the nose direction) ends
    np.testing.assert_allclose(corners[:4].mean(axis=0), np.array([100, 100]) + 20 * rotation[:2, 2])
    np.testing.assert_allclose(corners[4:].mean(axis=0), np.array([100, 100]) - 20 * rotation[:2, 2])
    image = np.zeros((200, 200, 3), np.uint8)
    draw_cube(image, 20, 10, -5, (100, 100), 20)
    assert image[..., 2].any() and image[..., 1].any() and image[..., 0].any()
    assert not draw_axes(np.zeros((200, 200, 3), np.uint8), 0, 0, 0, (100, 100), 50)[:, :95].any()


def _plot(data, output=None):
    args = argparse.ArgumentParser()
    plot.add_arguments(args)
    return plot.run(args.parse_args([str(data)] + (["--output", str(output)] if output else [])))


@pytest.mark.parametrize("smoothed", [False, True])
def test_plot_command_draws_each_track(tmp_path, capsys, smoothed):
    data = tmp_path / "clip.csv"
    with RecordWriter(data, smoothed=smoothed) as writer:
        for frame in range(30):
            writer.write_frame(_records(frame, smoothed=smoothed))
    assert _plot(data) == 0
    image = cv2.imread(str(tmp_path / "clip.png"))
    assert image.shape == (650, 900, 3)
    assert "60 records of 2 tracks plotted" in capsys.readouterr().out
    # matplotlib's first two colours (C0 blue, C1 orange) are both drawn
    assert (np.abs(image.astype(int) - (180, 119, 31)).sum(axis=2) < 60).sum() > 500
    assert (np.abs(image.astype(int) - (14, 127, 255)).sum(axis=2) < 60).sum() > 500


def test_plot_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.csv"
    RecordWriter(empty).close()
    with pytest.raises(NothingFoundError, match="empty.csv: no face"):  # exit status 1: nothing found
        _plot(empty)
    data = tmp_path / "one.jsonl"
    with RecordWriter(data) as writer:
        writer.write_frame(_records(0))
    with pytest.raises(OutputError, match="x.jpg: unknown extension '.jpg'; use one of .png"):
        _plot(data, tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()
