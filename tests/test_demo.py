"""The demo (``python -m fsanet`` = ``demo/head_pose.py``): built-in photo, real images, a real
video, several faces, and every kind of bad input, each with a clear message and exit status."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT, SHARED

from fsanet.cli import run_command
from fsanet.errors import ModelSpecError
from fsanet.faces.boxes import clip_box
from fsanet.video.records import flat_row, read_records


def main(argv):
    return run_command("demo", argv)

ANGLES = re.compile(r"yaw ([-+][\d.]+), pitch ([-+][\d.]+), roll ([-+][\d.]+)")


def _faces(out):
    return [tuple(float(a) for a in ANGLES.search(line).groups())
            for line in out.splitlines() if ": face " in line]


def test_default_photo_gives_one_face_and_an_annotated_image(tmp_path, capsys, shared):
    assert main(["--output", str(tmp_path), "--no-display"]) == 0
    faces = _faces(capsys.readouterr().out)
    assert len(faces) == 1 and all(abs(a) < 99 for a in faces[0])
    written = cv2.imread(str(tmp_path / "astronaut_pose.jpg"))
    assert written is not None and written.shape == (512, 512, 3)


def test_portrait_has_one_face(shared, tmp_path, capsys):
    portrait = shared / "data" / "images" / "portrait_750x375.jpg"
    assert main(["--input", str(portrait), "--output", str(tmp_path / "p.png"), "--no-display"]) == 0
    faces = _faces(capsys.readouterr().out)
    assert len(faces) == 1
    assert all(np.isfinite(a) and abs(a) <= 99 for a in faces[0])
    assert cv2.imread(str(tmp_path / "p.png")).shape == cv2.imread(str(portrait)).shape


def test_group_photo_has_several_faces(shared, tmp_path, capsys):
    """Seven people. The photo default, MTCNN's cascade (confidence >= 0.9) on the 960-wide detection
    copy, returns the seven faces and nothing else (at 640 it misses a 22-pixel face)."""
    group = shared / "data" / "images" / "group_1920x1080.jpg"
    assert main([str(group), "--output", str(tmp_path), "--no-display"]) == 0
    faces = _faces(capsys.readouterr().out)
    assert len(faces) == 7
    assert all(abs(a) <= 99 for face in faces for a in face)


def test_video_keeps_every_frame(shared, tmp_path, capsys):
    video = shared / "data" / "video" / "obama.mp4"
    out = tmp_path / "obama_pose.mp4"
    assert main(["--input", str(video), "--output", str(out), "--every", "5", "--no-display"]) == 0
    printed = capsys.readouterr().out
    assert "158 frames at" in printed and "faces in 158 frames" in printed
    capture = cv2.VideoCapture(str(out))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 158  # the file stores 158 frames (its MP4 edit list would show only 55)
    assert not list(tmp_path.glob(".*.part"))


def test_folder_with_good_and_bad_images(shared, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    portrait = cv2.imread(str(shared / "data" / "images" / "portrait_750x375.jpg"))
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(portrait, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "blank.png"), np.full((200, 200, 3), 128, np.uint8))
    edge = np.full((375, 750, 3), 255, np.uint8)  # the face cut by the left border
    edge[:, :450] = portrait[:, 300:]
    cv2.imwrite(str(folder / "edge.jpg"), edge)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data = cv2.imencode(".jpg", portrait)[1].tobytes()
    (folder / "truncated.jpg").write_bytes(data[:len(data) // 2])  # cv2.imread would grey-fill it
    status = main(["--input", str(folder), "--output", str(tmp_path / "out"), "--no-display"])
    captured = capsys.readouterr()
    assert status == 2  # two unreadable images (outranks the image without a face)
    assert "blank: no face found" in captured.out
    assert "broken.jpg: not a readable image" in captured.err
    assert "truncated.jpg: not a readable image" in captured.err
    assert len(_faces(captured.out)) == 3  # gray, rgba and the face at the border
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "blank_pose.jpg", "edge_pose.jpg", "gray_pose.jpg", "rgba_pose.jpg"]
    (folder / "broken.jpg").unlink()
    (folder / "truncated.jpg").unlink()
    assert main(["--input", str(folder), "--output", str(tmp_path / "out"), "--no-display"]) == 1  # blank


def test_bad_inputs_give_messages_and_status_2(tmp_path, capsys):
    fake_video = tmp_path / "clip.mp4"
    fake_video.write_bytes(b"\x00" * 1000)
    cases = [(str(tmp_path / "missing.jpg"), "missing.jpg: file not found"),
             (str(fake_video), "clip.mp4: not a readable video or image"),
             ("97", "no camera at index 97"),
             (str(tmp_path), "no images")]
    for spec, message in cases:
        assert main(["--input", spec, "--output", str(tmp_path / "o"), "--no-display"]) == 2
        assert message in capsys.readouterr().err


def test_boxes_are_clipped_to_the_frame():
    assert clip_box((-20, -5, 100, 50), 640, 480) == (0, 0, 80, 45)
    assert clip_box((600, 400, 100, 100), 640, 480) == (600, 400, 40, 80)
    assert clip_box((700, 10, 50, 50), 640, 480) is None


def test_duplicate_detections_of_one_face_are_merged():
    from fsanet.faces.boxes import suppress_duplicates
    from fsanet.faces.detectors import Face

    # MTCNN's output on obama.mp4 frame 55 (640-wide copy): the same face twice
    faces = [Face((245, 69, 147, 147), 0.9993), Face((255, 75, 117, 117), 0.9956),
             Face((500, 60, 50, 50), 0.97)]
    assert suppress_duplicates(faces) == [faces[0], faces[2]]


def test_figure5_structure_maps(tmp_path, pretrained, aflw_samples, capsys):
    from fsanet.experiments.structure_maps import fine_grained_structure_maps
    crop = aflw_samples[0][0]
    maps = fine_grained_structure_maps(pretrained("capsule"), crop)
    assert maps.shape == (3, 7, 3, 8, 8) and np.isfinite(maps).all() and (maps >= 0).all()
    # The learned structure looks at the face: more weight in the centre of the 8x8 grid than at its rim.
    heat = maps.sum(axis=(0, 1, 2))
    assert heat[2:6, 2:6].mean() > heat.mean()
    with pytest.raises(ModelSpecError, match="no fine-grained structure mapping"):
        fine_grained_structure_maps(pretrained("noS_capsule"), crop)
    assert run_command("heatmaps", ["--output", str(tmp_path / "fig5.png")]) == 0
    figure = cv2.imread(str(tmp_path / "fig5.png"))
    assert figure.shape == (2 * (28 + 3 * 128) + 8, 8 * 128, 3)  # per model: a title band, 3 stages
    assert (figure[:28] < 128).any() and (figure[:28] == 255).mean() > 0.9  # the model's name on white
    group = SHARED / "data" / "images" / "group_1920x1080.jpg"
    assert run_command("heatmaps", ["--image", str(group), "--models", "capsule", "--output", str(tmp_path / "g.png")]) == 0
    assert "faces found; showing the largest, box" in capsys.readouterr().out


def test_several_results_need_an_output_folder(shared, tmp_path, capsys):
    portrait = str(shared / "data" / "images" / "portrait_750x375.jpg")
    for inputs, why in [([portrait, portrait], "several inputs"), ([str(shared / "data" / "images")], "a folder")]:
        assert main(inputs + ["--output", str(tmp_path / "one.jpg"), "--no-display"]) == 2
        assert f"one.jpg: names one file, but {why} give several results" in capsys.readouterr().err
    assert main([str(shared / "data" / "video" / "obama.mp4"), "--output", str(tmp_path / "clip.jpg"),
                 "--no-display"]) == 2
    assert "clip.jpg: unknown extension '.jpg'; use one of .avi" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _long_video(path, frames=400):
    portrait = cv2.resize(cv2.imread(str(SHARED / "data" / "images" / "portrait_750x375.jpg")), (320, 160))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 160))
    for _ in range(frames):
        writer.write(portrait)
    writer.release()


def _frame_count(path):
    capture, frames = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        frames += 1
    return frames


@pytest.mark.parametrize("sig,status,line", [(signal.SIGINT, 130, "interrupted"),
                                             pytest.param(signal.SIGTERM, 143, "terminated", marks=pytest.mark.large)])
@pytest.mark.large
def test_interrupted_video_never_replaces_a_complete_output(shared, tmp_path, sig, status, line):
    """Finding 3: Ctrl-C renamed the partial video over a complete one of the same name (158 frames
    became 26) and printed a traceback."""
    _long_video(tmp_path / "clip.mp4")
    out = tmp_path / "clip_pose.mp4"
    _long_video(out, frames=7)  # an earlier complete result
    before = out.read_bytes()
    process = subprocess.Popen([sys.executable, "-m", "fsanet", "demo", str(tmp_path / "clip.mp4"), "--output",
                                str(out), "--model", "capsule", "--backend", "keras", "--no-display"], cwd=ROOT,
                               env=dict(os.environ, FSANET_WEIGHTS_MIRROR=str(shared / "official")),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(tmp_path.glob(".clip_pose.*.part")):
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == status and err.strip() == line, err
    assert out.read_bytes() == before and _frame_count(out) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip_pose.mp4"]


# ---------------------------------------------------------------- outputs for other programs

def _h264_frames(path):
    """(codec name, frames decoded) of a video, read by PyAV."""
    import av
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name, sum(1 for _ in container.decode(video=0))


@pytest.mark.large
def test_the_output_video_is_h264_with_every_input_frame(shared, tmp_path):
    out = tmp_path / "obama.mp4"
    assert main([str(shared / "data" / "video" / "obama.mp4"), "--output", str(out), "--no-display"]) == 0
    assert _h264_frames(out) == ("h264", 158)


def test_odd_sized_frames_are_padded_to_even_for_h264(tmp_path):
    from fsanet.video.media import VideoOutput
    video = VideoOutput(tmp_path / "odd.mp4", 25.0)
    for i in range(5):
        video.write(np.full((75, 101, 3), 40 * i, np.uint8))
    video.close()
    assert _h264_frames(tmp_path / "odd.mp4") == ("h264", 5)
    capture = cv2.VideoCapture(str(tmp_path / "odd.mp4"))
    assert capture.read()[1].shape == (76, 102, 3)


class _NoFaces:
    """A PoseAnnotator stand-in: every frame without a face, nothing loaded."""

    def __init__(self):
        self.frames, self.tracker, self.timings = 0, None, {}

    def __call__(self, frame, time_s=None, source="", draw=True):
        self.frames += 1
        return []


def test_no_fps_leaves_the_frames_as_they_were_and_a_bar_shows_when_asked(tmp_path, capsys):
    from fsanet.video.media import Source
    from fsanet.video.pipeline import run_source
    _long_video(tmp_path / "clip.mp4", frames=12)
    first = {}
    for overlay in (True, False):
        run_source(Source(tmp_path / "clip.mp4"), _NoFaces(), tmp_path / f"{overlay}.mp4", fps_overlay=overlay,
                   progress=True, report=lambda line: None)
        first[overlay] = cv2.VideoCapture(str(tmp_path / f"{overlay}.mp4")).read()[1].astype(int)
        assert "clip:   0%|          | 0/12" in capsys.readouterr().err  # the bar (cleared when done)
    source = cv2.VideoCapture(str(tmp_path / "clip.mp4")).read()[1].astype(int)
    corner = (slice(0, 40), slice(0, 160))  # where the rate is written
    changed = {overlay: (np.abs(frame[corner] - source[corner]).max(axis=2) > 80).sum() for overlay, frame in first.items()}
    assert changed[False] == 0 and changed[True] > 200  # compression moves pixels a little, text a lot
    run_source(Source(tmp_path / "clip.mp4"), _NoFaces(), None, report=lambda line: None)
    assert capsys.readouterr().err == ""  # progress=None: only when stderr is a terminal


@pytest.mark.large
def test_json_gives_one_object_per_photo_with_the_data_files_rows(shared, tmp_path, capsys):
    images = shared / "data" / "images"
    assert main([str(images), "--json", "--no-video", "--no-display", "--data", str(tmp_path / "rows.csv")]) == 0
    captured = capsys.readouterr()
    photos = [json.loads(line) for line in captured.out.splitlines()]
    assert [p["name"] for p in photos] == ["group_1920x1080", "portrait_750x375"]
    assert [len(p["faces"]) for p in photos] == [7, 1]
    rows = read_records(tmp_path / "rows.csv")
    faces = [flat_row(face) for photo in photos for face in photo["faces"]]
    assert faces == [{k: row[k] for k in face} for row, face in zip(rows, faces)]
    assert "written to" in captured.err  # the command's own lines: on stderr


@pytest.mark.large
def test_data_dash_writes_the_csv_to_stdout(shared, tmp_path, capsys):
    portrait = str(shared / "data" / "images" / "portrait_750x375.jpg")
    assert main([portrait, "--no-video", "--no-display", "--data", str(tmp_path / "rows.csv")]) == 0
    capsys.readouterr()
    assert main([portrait, "--no-video", "--no-display", "--data", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (tmp_path / "rows.csv").read_text()
    assert "face" in captured.err and "written to stdout" in captured.err
    assert main([portrait, "--json", "--data", "-"]) == 2
    assert main([str(shared / "data" / "video" / "obama.mp4"), "--json"]) == 2
    assert "--json: one object per photo, but obama is a video" in capsys.readouterr().err


@pytest.mark.large
def test_min_face_and_min_confidence_drop_detections(shared, tmp_path, capsys):
    """At full resolution MTCNN's cascade also finds a 17x19 'face' in the group photo's background;
    --min-face 40 drops it and keeps the seven people. Confidence is the detector's own scale."""
    group = str(shared / "data" / "images" / "group_1920x1080.jpg")
    common = [group, "--detection-width", "0", "--no-video", "--no-display", "--json"]
    counts = {}
    for extra in ([], ["--min-face", "40"], ["--min-confidence", "0.999"]):
        assert main(common + extra) == 0
        faces = json.loads(capsys.readouterr().out)["faces"]
        counts[" ".join(extra)] = len(faces)
        if extra:
            assert all(min(f["box"][2:]) >= 40 for f in faces) or all(f["confidence"] >= 0.999 for f in faces)
    assert counts == {"": 8, "--min-face 40": 7, "--min-confidence 0.999": 5}


def test_without_an_h264_encoder_the_video_falls_back_to_mp4v_with_a_warning(tmp_path, monkeypatch):
    from fsanet.video import media

    def no_pyav(*args):
        raise ImportError("No module named 'av'")
    monkeypatch.setattr(media, "H264Writer", no_pyav)
    video = media.VideoOutput(tmp_path / "old.mp4", 25.0)
    with pytest.warns(UserWarning, match="written as mp4v, which browsers do not play: PyAV is not installed"):
        for i in range(3):
            video.write(np.full((48, 64, 3), 50 * i, np.uint8))
    video.close()
    assert _h264_frames(tmp_path / "old.mp4") == ("mpeg4", 3)
