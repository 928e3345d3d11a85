"""The authors' 19 checkpoints: every finite one loads and predicts sensibly; bad files are refused."""

import shutil

import h5py
import numpy as np
import pytest

import fsanet
from fsanet.experiments.metrics import mean_absolute_error
from fsanet.hub.pretrained import REGISTRY, fetch

FINITE = [(p, v) for (p, v), c in REGISTRY.items() if c.defect is None]


def test_registry_has_19_files_18_finite():
    assert len(REGISTRY) == 19
    assert len(FINITE) == 18


@pytest.mark.parametrize("protocol,variant", FINITE, ids=[f"{p}-{v}" for p, v in FINITE])
def test_checkpoint_loads_and_predicts(protocol, variant, pretrained, aflw_samples):
    model = pretrained(variant, protocol)
    assert model.variant_name == variant
    crops, poses = aflw_samples
    predictions = np.asarray(model(crops.astype("float32")))
    assert np.isfinite(predictions).all()
    assert np.abs(predictions).max() < 99 * 3  # SSR's range bound
    if protocol == "300W_LP":
        assert mean_absolute_error(predictions, poses)[3] < 10.0


def test_capsule_fusion_mae_on_aflw2000_samples(pretrained, aflw_samples):
    crops, poses = aflw_samples
    mae = mean_absolute_error(np.asarray(pretrained("fusion")(crops.astype("float32"))), poses)
    assert mae[3] < 6.0


def test_diverged_checkpoint_is_refused():
    path = fetch("var_netvlad", "300W_LP")
    with pytest.raises(fsanet.WeightFileError, match=r"fsanet_var_netvlad_3_16_2_21_5\.h5: .*NaN or Inf"):
        fsanet.load_authors_weights(fsanet.build_model("var_netvlad"), path)


def test_wrong_variant_names_both():
    path = fetch("var_capsule", "300W_LP")
    with pytest.raises(fsanet.WeightFileError) as info:
        fsanet.load_authors_weights(fsanet.build_model("capsule"), path)
    message = str(info.value)
    assert str(path) in message
    assert "'fsanet_var_capsule_3_16_2_21_5'" in message and "'var_capsule'" in message
    assert "model is 'fsanet_capsule_3_16_2_21_5'" in message


def test_ssrnet_file_into_fsanet_is_refused():
    with pytest.raises(fsanet.WeightFileError, match="variant 'ssrnet_mt'"):
        fsanet.load_authors_weights(fsanet.build_model("metric"), fetch("ssrnet_md", "BIWI"))


def test_missing_file(tmp_path):
    with pytest.raises(fsanet.WeightFileError, match="nothere.h5: weight file not found"):
        fsanet.load_authors_weights(fsanet.build_model("capsule"), tmp_path / "nothere.h5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_text("<html>404</html>")
    with pytest.raises(fsanet.WeightFileError, match="weights.h5: not an HDF5 file"):
        fsanet.load_authors_weights(fsanet.build_model("capsule"), path)


def test_hdf5_without_keras_layout(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(fsanet.WeightFileError, match="other.h5: .*not a Keras weights file"):
        fsanet.load_authors_weights(fsanet.build_model("capsule"), path)


def test_file_missing_one_tensor_is_refused(tmp_path):
    path = tmp_path / "capsule.h5"
    shutil.copy(fetch("capsule", "300W_LP"), path)
    with h5py.File(path, "r+") as f:
        group = f["ssr_F_Cap_model"]
        names = [n for n in group.attrs["weight_names"] if n != b"delta_s2/bias:0"]
        group.attrs["weight_names"] = names
    with pytest.raises(fsanet.WeightFileError, match=r"no tensor for model weights \['stage2_head/delta_bias'\]"):
        fsanet.load_authors_weights(fsanet.build_model("capsule"), path)


def test_file_with_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "capsule.h5"
    shutil.copy(fetch("capsule", "300W_LP"), path)
    with h5py.File(path, "r+") as f:
        del f["ssr_S_model/dense_2/bias:0"]
        f["ssr_S_model/dense_2/bias:0"] = np.zeros(34, "float32")
    with pytest.raises(fsanet.WeightFileError, match=r"dense_2/bias has shape \(34,\)"):
        fsanet.load_authors_weights(fsanet.build_model("capsule"), path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "truncated.h5"
    path.write_bytes(fetch("capsule", "300W_LP").read_bytes()[:300_000])
    with pytest.raises(fsanet.WeightFileError, match="truncated.h5: unreadable or truncated HDF5"):
        fsanet.load_authors_weights(fsanet.build_model("capsule"), path)
