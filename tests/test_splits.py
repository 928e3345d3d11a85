"""Validation splits: the authors' frame-level split is unchanged, the identity-disjoint split keeps
every 300W-LP face (all its views and its _Flip twin) on one side, and the run folder records it."""

import json

import numpy as np
import pytest
from conftest import ROOT

from fsanet.cli import run_command
from fsanet.data.npz import load_sample_names, write_pose_npz
from fsanet.data.splits import frame_split, identity, identity_split
from fsanet.errors import ConfigError, DatasetError
from fsanet.experiments.config import load_config
from fsanet.experiments.training import training_data

RECIPE = ROOT / "configs" / "protocol1" / "capsule.toml"


def test_identity_is_the_name_without_its_view():
    assert identity("AFW_134212_1_0") == "AFW_134212_1"
    assert identity("AFW_134212_1_13") == "AFW_134212_1"
    assert identity("LFPW_image_train_0737_13") == "LFPW_image_train_0737"
    assert identity("IBUG_image_008_1_0") == "IBUG_image_008_1"


def test_frame_split_is_the_authors_permutation():
    train, val = frame_split(10, 0.2, seed=3)
    order = np.random.default_rng(3).permutation(10)
    assert train.tolist() == order[:8].tolist() and val.tolist() == order[8:].tolist()
    with pytest.raises(DatasetError, match="1 training samples cannot be split"):
        frame_split(1, 0.2, seed=0)


def _names(faces=30, views=4):
    """Names of a 300W-LP-like set: each face has several views, in a split and its _Flip copy."""
    stems = [f"HELEN_{1000 + f}_1_{v}" for f in range(faces) for v in range(views)]
    return stems + stems  # HELEN.npz, then HELEN_Flip.npz: the same stems


def test_identity_split_keeps_faces_and_twins_together():
    names = np.array(_names())
    train, val, identities = identity_split(names, 0.2, seed=0)
    assert len(identities) == 6 and len(set(identities)) == 6  # 20% of 30 faces
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(names)))
    sides = {}
    for index, side in [(i, "train") for i in train] + [(i, "val") for i in val]:
        sides.setdefault(identity(names[index]), set()).add(side)
    assert all(len(s) == 1 for s in sides.values())  # no face on both sides
    assert {identity(n) for n in names[val]} == set(identities)
    assert len(val) == 6 * 4 * 2  # every view, and every view's _Flip twin
    again = identity_split(names, 0.2, seed=0)
    other = identity_split(names, 0.2, seed=1)
    assert again[2] == identities and other[2] != identities
    # the frame split, by contrast, puts most faces on both sides
    _, frame_val = frame_split(len(names), 0.2, seed=0)
    shared = {identity(n) for n in names[frame_val]} & {identity(n) for n in np.delete(names, frame_val)}
    assert len(shared) > 10


def _write_set(tmp_path, names, poses=None):
    count = len(names)
    images = np.random.default_rng(0).integers(0, 255, (count, 64, 64, 3), dtype=np.uint8)
    poses = np.zeros((count, 3)) if poses is None else poses
    half = count // 2
    write_pose_npz(tmp_path / "HELEN.npz", images[:half], poses[:half], names=names[:half])
    write_pose_npz(tmp_path / "HELEN_Flip.npz", images[half:], poses[half:], names=names[half:])
    return images


def test_training_data_split_by_identity_follows_the_angle_filter(tmp_path):
    names = _names(faces=10, views=3)
    poses = np.zeros((len(names), 3))
    poses[1] = [120.0, 0, 0]  # dropped by the ±99° filter: names must stay aligned with the images
    images = _write_set(tmp_path, names, poses)
    config = load_config(RECIPE, {"data.train": ["HELEN.npz", "HELEN_Flip.npz"],
                                  "data.validation_split_by": "identity"})
    x, y, x_val, y_val, record, _ = training_data(config, tmp_path)
    kept = np.delete(np.arange(len(names)), 1)
    assert len(x) + len(x_val) == len(kept) and record["by"] == "identity"
    assert record["validation_samples"] == len(x_val) and len(record["validation_identities"]) == 2
    kept_names = np.array(names)[kept]
    val_names = {n for n in kept_names if identity(n) in record["validation_identities"]}
    expected = np.stack([images[i] for i in kept if names[i] in val_names])
    np.testing.assert_array_equal(np.sort(x_val.reshape(len(x_val), -1), axis=0),
                                  np.sort(expected.reshape(len(expected), -1), axis=0))
    np.testing.assert_array_equal(load_sample_names([tmp_path / "HELEN.npz"]), kept_names[:29])


def test_identity_split_needs_names_and_a_valid_setting(tmp_path):
    write_pose_npz(tmp_path / "old.npz", np.zeros((4, 64, 64, 3), np.uint8), np.zeros((4, 3)))
    config = load_config(RECIPE, {"data.train": ["old.npz"], "data.validation_split_by": "identity"})
    with pytest.raises(DatasetError, match="old.npz: has no 'name' key"):
        training_data(config, tmp_path)
    with pytest.raises(ConfigError, match="validation_split_by must be one of"):
        load_config(RECIPE, {"data.validation_split_by": "person"})


@pytest.mark.large
def test_the_run_folder_records_the_split(tmp_path, capsys):
    _write_set(tmp_path, _names(faces=10, views=2))
    assert run_command("train", [str(RECIPE), "--data-dir", str(tmp_path), "--train", "HELEN.npz",
                                 "HELEN_Flip.npz", "--validation-split-by", "identity", "--epochs", "1",
                                 "--batch-size", "8", "--output-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    run = tmp_path / "runs" / "capsule"
    record = json.loads((run / "validation_split.json").read_text())
    assert record["by"] == "identity" and record["seed"] == 0 and len(record["validation_identities"]) == 2
    assert json.loads((run / "config.json").read_text())["data"]["validation_split_by"] == "identity"
    state = json.loads((run / "state.json").read_text())
    assert state["validation_samples"] == record["validation_samples"] == 2 * 2 * 2


def test_masks_in_training_need_the_landmarks_and_follow_the_split(tmp_path):
    images, poses = np.zeros((10, 64, 64, 3), np.uint8), np.zeros((10, 3))
    write_pose_npz(tmp_path / "old.npz", images, poses)
    config = load_config(RECIPE, {"data.train": ["old.npz"], "augment.occlude": 0.3})
    with pytest.raises(DatasetError, match="old.npz: has no 'landmarks' key"):
        training_data(config, tmp_path)
    points = np.arange(10, dtype=np.float32)[:, None, None] + np.zeros((10, 68, 2), np.float32)
    write_pose_npz(tmp_path / "new.npz", images + np.arange(10, dtype=np.uint8)[:, None, None, None], poses,
                   landmarks=points)
    x, _, _, _, _, landmarks = training_data(load_config(RECIPE, {"data.train": ["new.npz"], "augment.occlude": 0.3}),
                                             tmp_path)
    np.testing.assert_array_equal(landmarks[:, 0, 0], x[:, 0, 0, 0])  # each image keeps its own landmarks
    assert training_data(load_config(RECIPE, {"data.train": ["new.npz"]}), tmp_path)[5] is None
    with pytest.raises(ConfigError, match="occlude must be in"):
        load_config(RECIPE, {"augment.occlude": 1.5})
