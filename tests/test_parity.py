"""Faithfulness: our models with the authors' weights against the authors' frozen TF graphs."""

import numpy as np
import pytest
from conftest import frozen_graph_path

import fsanet
from fsanet.deploy.predictor import PosePredictor
from fsanet.hub.frozen_graph import FrozenGraph

TOLERANCE_DEGREES = 1e-3
ORACLES = ["capsule", "var_capsule", "noS_capsule"]


@pytest.fixture(scope="module")
def oracle(shared):
    graphs = {}

    def get(alias):
        if alias not in graphs:
            graphs[alias] = FrozenGraph(frozen_graph_path(shared, fsanet.get_variant(alias).name))
        return graphs[alias]
    return get


@pytest.mark.parametrize("alias", ORACLES)
def test_matches_frozen_graph_on_aflw2000_crops(alias, oracle, pretrained, aflw_samples):
    crops = aflw_samples[0].astype("float32")
    ours, theirs = np.asarray(pretrained(alias)(crops)), oracle(alias)(crops)
    assert np.abs(ours - theirs).max() <= TOLERANCE_DEGREES


@pytest.mark.parametrize("alias", ORACLES)
def test_matches_frozen_graph_on_random_inputs(alias, oracle, pretrained):
    x = np.random.default_rng(3).uniform(0, 255, (32, 64, 64, 3)).astype("float32")
    ours, theirs = np.asarray(pretrained(alias)(x)), oracle(alias)(x)
    assert np.abs(ours - theirs).max() <= TOLERANCE_DEGREES
    assert np.abs(theirs).max() > 1.0  # the comparison is not between two zero vectors


def test_predictor_fusion_matches_mean_of_frozen_graphs(oracle, pretrained, aflw_samples):
    crops = aflw_samples[0]
    theirs = np.mean([oracle(a)(crops.astype("float32")) for a in ORACLES], axis=0)
    predictor = PosePredictor(pretrained("fusion"))
    assert np.abs(predictor(crops) - theirs).max() <= TOLERANCE_DEGREES
    single = np.stack([predictor(crop) for crop in crops])
    assert np.abs(single - theirs).max() <= TOLERANCE_DEGREES
