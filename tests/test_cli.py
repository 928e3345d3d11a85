"""``python -m fsanet``: the README's main job, on the built-in photo and on bad input."""

import re

import cv2
import numpy as np

from fsanet.__main__ import main


def test_default_photo_gives_one_face_and_an_annotated_image(tmp_path, capsys, shared):
    assert main(["--output-dir", str(tmp_path)]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if ": face " in l]
    assert len(lines) == 1
    match = re.search(r"yaw ([-+][\d.]+), pitch ([-+][\d.]+), roll ([-+][\d.]+)", lines[0])
    assert match, lines[0]
    assert all(abs(float(a)) < 99 for a in match.groups())
    written = cv2.imread(str(tmp_path / "astronaut_pose.jpg"))
    assert written is not None and written.shape == (512, 512, 3)


def test_portrait_and_bad_inputs(tmp_path, capsys, shared):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200), 128, np.uint8))  # grayscale, no face
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not an image")
    portrait = shared / "data" / "images" / "portrait_750x375.jpg"
    status = main([str(portrait), str(blank), str(not_image), str(tmp_path / "missing.jpg"),
                   "--output-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.count(": face ") == 1
    assert f"{blank}: no face found" in captured.out
    assert f"{not_image}: not a readable image" in captured.err
    assert "missing.jpg: file not found" in captured.err
    assert (tmp_path / "out" / "portrait_750x375_pose.jpg").is_file()
