"""PosePredictor input handling: any crop size, single or batch, bad shapes, normalisation."""

import cv2
import numpy as np
import pytest

from fsanet.inference import PosePredictor, minmax_normalize


@pytest.fixture(scope="module")
def predictor(pretrained):
    return PosePredictor(pretrained("capsule"))


def test_any_size_crop_is_resized_like_cv2(predictor, pretrained):
    crop = np.random.default_rng(5).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    want = np.asarray(pretrained("capsule")(cv2.resize(crop, (64, 64))[None].astype("float32")))[0]
    np.testing.assert_allclose(predictor(crop), want, atol=1e-3)


def test_single_and_batch_agree(predictor):
    crops = np.random.default_rng(6).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    batch = predictor(crops)
    assert batch.shape == (5, 3)
    np.testing.assert_allclose(np.stack([predictor(c) for c in crops]), batch, atol=1e-4)
    assert predictor(list(crops[:2])).shape == (2, 3)


def test_normalize_applies_minmax(pretrained):
    crop = np.random.default_rng(8).integers(40, 120, (64, 64, 3), dtype=np.uint8)
    plain, normalized = PosePredictor(pretrained("capsule")), PosePredictor(pretrained("capsule"), normalize=True)
    np.testing.assert_allclose(normalized(crop), plain(minmax_normalize(crop)), atol=1e-4)
    assert minmax_normalize(crop).max() == 255 and minmax_normalize(crop).min() == 0


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 4), (0, 10, 3)])
def test_bad_crop_shape_is_named(predictor, shape):
    with pytest.raises(ValueError, match=r"crop 0: expected an HxWx3 BGR image"):
        predictor([np.zeros(shape, np.uint8)])


def test_as_dict_names_angles():
    assert PosePredictor.as_dict([1, 2, 3]) == {"yaw": 1.0, "pitch": 2.0, "roll": 3.0}


def test_fusion_members_come_from_the_same_pass(pretrained, aflw_samples):
    crops = list(aflw_samples[0][:4])
    fusion = PosePredictor(pretrained("fusion"))
    angles, members = fusion.predict_members(crops)
    np.testing.assert_array_equal(angles, fusion(crops))  # the default output, unchanged
    assert members.shape == (4, 3, 3)
    np.testing.assert_allclose(members.mean(axis=1), angles, atol=1e-4)
    for i, name in enumerate(("capsule", "var_capsule", "noS_capsule")):  # in the fusion's order
        np.testing.assert_allclose(members[:, i], PosePredictor(pretrained(name))(crops), atol=1e-3)
    single, none = PosePredictor(pretrained("capsule")).predict_members(crops)
    assert none is None and single.shape == (4, 3)
