"""Model builders: the variant table, parameter counts (SPEC §3), configs and .keras round trips."""

import keras
import numpy as np
import pytest

import fsanet
from fsanet.model.inference_form import fold_batch_norm
from fsanet.model.models import FIRST_CONVS

SPEC_PARAMETERS = {"capsule": 238_471, "var_capsule": 238_406, "noS_capsule": 694_563,
                   "metric": 175_046, "netvlad": 183_562, "ssrnet_md": 233_619}


@pytest.mark.parametrize("alias,count", SPEC_PARAMETERS.items())
def test_parameter_counts_match_spec(alias, count):
    assert fsanet.build_model(alias).count_params() == count


def test_variant_table_covers_every_released_name():
    assert len(fsanet.VARIANTS) == 10
    assert fsanet.get_variant("var_capsule").name == "fsanet_var_capsule_3_16_2_21_5"
    assert fsanet.get_variant("fsanet_noS_metric_3_16_2_192_5").num_primcaps == 192
    with pytest.raises(KeyError, match="unknown FSA-Net variant 'capsul'"):
        fsanet.get_variant("capsul")


def test_model_knows_its_checkpoint_name():
    for variant in fsanet.VARIANTS.values():
        assert fsanet.build_variant(variant).variant_name == variant.name


def test_fusion_is_one_model_averaging_members():
    fusion = fsanet.build_model("fusion")
    members = [layer for layer in fusion.layers if isinstance(layer, fsanet.FSANet)]
    assert [m.name for m in members] == ["capsule", "var_capsule", "noS_capsule"]
    x = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    want = np.mean([np.asarray(m(x)) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(fusion(x)), want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kwargs,message", [
    (dict(scoring="1x1"), "scoring must be one of"),
    (dict(aggregation="vlad"), "aggregation must be one of"),
    (dict(scoring="uniform", num_primcaps=21), "num_primcaps must be 192"),
    (dict(num_primcaps=20), "multiple of 3"),
    (dict(num_capsule=2), "len\\(stage_num\\) must equal num_capsule"),
])
def test_bad_hyperparameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fsanet.FSANet(**kwargs)


def test_hyperparameters_change_the_graph():
    model = fsanet.FSANet(num_capsule=2, dim_capsule=8, routings=3, num_primcaps=12, m_dim=4,
                          stage_num=(3, 5))
    assert model.get_layer("capsule").kernel.shape == (2, 12, 8, 64)
    out = model(np.zeros((2, 64, 64, 3), "float32"))
    assert out.shape == (2, 3)


@pytest.mark.parametrize("name", ["capsule", "var_netvlad", "noS_metric", "ssrnet_md", "fusion"])
def test_keras_file_round_trip_is_exact(name, tmp_path):
    model = fsanet.build_model(name)
    x = np.random.default_rng(1).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    # Give BatchNorm non-trivial statistics so the round trip covers them.
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, "float32"))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


@pytest.mark.parametrize("name", ["ssrnet_md", "capsule"])
def test_inference_form_computes_the_same_function(name):
    """fold_batch_norm: no BatchNorm, block 1 one dense 3x3 conv, max pooling before tanh."""
    model = fsanet.build_model(name)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_variance.shape[0]
            layer.moving_variance.assign(np.linspace(0.5, 2.0, n).astype("float32"))
            layer.gamma.assign(np.linspace(0.8, 1.3, n).astype("float32"))
            layer.moving_mean.assign(np.linspace(-0.2, 0.3, n).astype("float32"))
    folded = fold_batch_norm(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    for sepconv, conv in FIRST_CONVS.items():
        assert type(folded.get_layer(conv)) is keras.layers.Conv2D
        assert sepconv not in {layer.name for layer in folded.layers}
    names = [layer.name for layer in folded.layers]
    assert names.index("s_pool1") < names.index("s_block1_tanh")
    assert names.index("x_block1_relu") < names.index("x_pool1")
    x = np.random.default_rng(2).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(model(x)), atol=1e-3)
