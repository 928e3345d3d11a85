"""The README's "Using it" runs as written: its Python snippets, in order, in a fresh interpreter,
in a folder holding the files they name (group.jpg, talk.mp4, face_crop.jpg)."""

import re
import shutil
import subprocess
import sys

import cv2
import pytest
from conftest import ROOT, SHARED, clean_env


def using_it_snippets():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_using_it_shows_the_one_call_api_first_then_crops():
    snippets = using_it_snippets()
    assert len(snippets) == 2
    assert "fsanet.estimate(" in snippets[0] and "fsanet.analyze(" in snippets[0] and "to_dataframe" in snippets[0]
    assert "PosePredictor" in snippets[1]


@pytest.mark.large
def test_the_using_it_snippets_run_as_written(tmp_path):
    shutil.copy(SHARED / "data" / "images" / "group_1920x1080.jpg", tmp_path / "group.jpg")
    shutil.copy(SHARED / "data" / "video" / "obama.mp4", tmp_path / "talk.mp4")
    portrait = cv2.imread(str(SHARED / "data" / "images" / "portrait_750x375.jpg"))
    cv2.imwrite(str(tmp_path / "face_crop.jpg"), portrait[40:360, 240:510])  # the head with a margin
    script = "\n".join(using_it_snippets())
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env=clean_env(PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("(")]) == 7  # the seven faces of the group photo
    assert "yaw_smoothed" in done.stdout and (tmp_path / "group_pose.jpg").is_file()
