"""Face detectors (fsanet.faces.detectors): each is fed RGB, and each finds the faces of the shared photos.

Counts on group_1920x1080.jpg (seven people, faces about 70-90 px wide) at full resolution:
MTCNN 12 boxes (the seven faces and false positives), dlib HOG 4, dlib CNN 5; see the README's
detector table."""

import types

import cv2
import numpy as np
import pytest

from fsanet.cli import run_command
from fsanet.errors import DetectorError
from fsanet.faces.detectors import DETECTORS, DlibCNNDetector, DlibDetector, make_detector


def _group(shared):
    return cv2.imread(str(shared / "data" / "images" / "group_1920x1080.jpg"))


def test_unknown_detector_is_named():
    with pytest.raises(DetectorError, match="unknown detector 'haar'; choose from mtcnn_cascade, mtcnn, mtcnn_fast, dlib, dlib_cnn"):
        make_detector("haar")


@pytest.mark.parametrize("name", ["dlib", "dlib_cnn"])
def test_dlib_detectors_are_fed_rgb(name):
    detector = make_detector(name)
    seen = []

    def record(image, *args):
        seen.append(image.copy())
        return ([], [], []) if name == "dlib" else []
    detector._detector = types.SimpleNamespace(run=record) if name == "dlib" else record
    bgr = np.zeros((40, 40, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    detector(bgr)
    assert seen[0][0, 0].tolist() == [0, 0, 200]


@pytest.mark.parametrize("name", list(DETECTORS))
def test_the_demo_finds_the_portrait_face_with_every_detector(name, shared, tmp_path, capsys):
    portrait = shared / "data" / "images" / "portrait_750x375.jpg"
    status = run_command("demo", [str(portrait), "--detector", name, "--output", str(tmp_path), "--no-display"])
    out = capsys.readouterr().out
    assert status == 0 and out.count(": face ") == 1


def test_dlib_hog_finds_group_faces_at_full_resolution(shared):
    faces = DlibDetector()(_group(shared))
    assert 4 <= len(faces) <= 7 and all(f.confidence > 0 for f in faces)


@pytest.mark.large
def test_dlib_cnn_finds_group_faces_at_full_resolution(shared):
    faces = DlibCNNDetector()(_group(shared))
    assert 4 <= len(faces) <= 7
    assert all(60 <= f.box[2] <= 120 for f in faces)  # face-sized boxes, not the whole room


def test_the_demo_finds_group_faces_with_dlib(shared, tmp_path, capsys):
    """The demo detects on a 640-wide copy by default; small faces need --detection-width 0."""
    group = shared / "data" / "images" / "group_1920x1080.jpg"
    status = run_command("demo", [str(group), "--detector", "dlib", "--detection-width", "0",
                                  "--output", str(tmp_path), "--no-display"])
    assert status == 0 and capsys.readouterr().out.count(": face ") >= 4
