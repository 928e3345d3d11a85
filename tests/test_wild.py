"""Photos in the wild: the `fsanet` command on the 16 real AFLW2000 photos, end to end (detector, crop
rule, predictor), scored against their labels with faces matched by box overlap."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.io

from fsanet.cli import run_command
from fsanet.core.pose import pose_from_pose_para
from fsanet.deploy.predictor import PosePredictor
from fsanet.faces.framing import landmark_extent, matching_face

LANDMARK_GAP = 0.55
"""How far above the landmark-crop MAE the command may be (measured: 0.48 with the default
mtcnn_cascade + fitted rule, constants fitted on other faces; the issue's target 0.3 is not met, see
README, Photos in the wild)."""


def _labelled(shared):
    photos = sorted((shared / "data" / "aflw2000_samples").glob("*.jpg"))
    return [(p.stem, scipy.io.loadmat(p.with_suffix(".mat"))) for p in photos]


def _scored(data_file, labelled):
    """(faces found, (N, 3) absolute errors of the found faces, their indices in ``labelled``)."""
    rows = list(csv.DictReader(open(data_file)))
    errors, found = [], []
    for index, (stem, mat) in enumerate(labelled):
        mine = [r for r in rows if r["source"] == stem]
        best = matching_face([tuple(float(r[k]) for k in "xywh") for r in mine], landmark_extent(mat["pt2d"]))
        if best is None:
            continue
        found.append(index)
        angles = np.array([float(mine[best][k]) for k in ("yaw", "pitch", "roll")])
        errors.append(np.abs(angles - pose_from_pose_para(mat["Pose_Para"])))
    return len(found), np.array(errors), found


@pytest.mark.large
def test_the_command_on_photos_comes_close_to_the_landmark_crops(shared, tmp_path, pretrained, aflw_samples,
                                                                 capsys):
    labelled = _labelled(shared)
    runs = {}
    for rule, flags in {"default": [], "authors": ["--crop", "authors"], "flip": ["--flip-average"]}.items():
        data = tmp_path / f"{rule}.csv"
        args = [str(shared / "data" / "aflw2000_samples"), "--data", str(data), "--no-video", "--no-display",
                "--backend", "keras"]
        assert run_command("demo", args + flags) == 0
        runs[rule] = _scored(data, labelled)
    capsys.readouterr()
    found, errors, faces = runs["default"]
    assert found >= 15
    crops, poses = aflw_samples
    reference = np.abs(PosePredictor(pretrained("fusion"), backend="keras")(crops) - poses)  # the training crops
    landmark_mae, photo_mae = reference[faces].mean(), errors.mean()
    assert photo_mae <= landmark_mae + LANDMARK_GAP, (photo_mae, landmark_mae)
    authors_found, authors_errors, _ = runs["authors"]
    assert authors_found >= 15 and photo_mae < authors_errors.mean() - 0.15  # the crop rule is what helps
    flip_found, flip_errors, flip_faces = runs["flip"]  # mirror averaging (measured 4.46 -> 3.99)
    assert flip_faces == faces and flip_errors.mean() < photo_mae - 0.3
