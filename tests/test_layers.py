"""Each custom layer against a direct NumPy transcription of SPEC §3, and its config round trip."""

import keras
import numpy as np
import pytest

from fsanet.model import layers as fl

RNG = np.random.default_rng(7)


def _ssr_reference(probs, deltas, shifts, stage_num=(3, 3, 3), lambda_d=1.0, value_range=99.0):
    batch, classes = deltas[0].shape
    out = np.zeros((batch, classes))
    for b in range(batch):
        for c in range(classes):
            total, denominator = 0.0, 1.0
            for k, s in enumerate(stage_num):
                denominator *= s * (1 + lambda_d * deltas[k][b, c])
                total += sum((i - s // 2 + shifts[k][b, c]) * probs[k][b, c, i]
                             for i in range(s)) / denominator
            out[b, c] = value_range * total
    return out


def test_soft_stagewise_regression_matches_formula():
    probs = [RNG.uniform(0, 2, (4, 3, 3)).astype("float32") for _ in range(3)]
    deltas = [RNG.uniform(-0.9, 0.9, (4, 3)).astype("float32") for _ in range(3)]
    shifts = [RNG.uniform(-1, 1, (4, 3)).astype("float32") for _ in range(3)]
    got = np.asarray(fl.SoftStagewiseRegression()(probs + deltas + shifts))
    np.testing.assert_allclose(got, _ssr_reference(probs, deltas, shifts), rtol=1e-5, atol=1e-4)


def test_ssr_range_is_99_degrees():
    """All mass on the top bin of stage 1, no shift, no scaling: 99 * (1 / 3)."""
    p1 = np.zeros((1, 3, 3), "float32")
    p1[..., 2] = 1.0
    zeros_p, zeros = np.zeros((1, 3, 3), "float32"), np.zeros((1, 3), "float32")
    got = np.asarray(fl.SoftStagewiseRegression()([p1, zeros_p, zeros_p] + [zeros] * 6))
    np.testing.assert_allclose(got, np.full((1, 3), 33.0), rtol=1e-6)


def _squash(s):
    n = (s ** 2).sum(-1, keepdims=True)
    return n / (1 + n) / np.sqrt(n + 1e-7) * s


def _routing_reference(W, u, routings):
    u_hat = np.einsum("jnki,bni->bjnk", W, u)
    b = np.zeros(u_hat.shape[:3])
    for r in range(routings):
        c = np.exp(b) / np.exp(b).sum(1, keepdims=True)
        v = _squash(np.einsum("bjn,bjnk->bjk", c, u_hat))
        if r < routings - 1:
            b = b + np.einsum("bjk,bjnk->bjn", v, u_hat)
    return v


@pytest.mark.parametrize("routings", [1, 2, 3])
def test_capsule_routing_matches_reference(routings):
    layer = fl.CapsuleRouting(3, 16, routings)
    u = RNG.normal(size=(2, 21, 64)).astype("float32")
    layer.build(u.shape)
    W = RNG.normal(scale=0.1, size=layer.kernel.shape).astype("float32")
    layer.kernel.assign(W)
    np.testing.assert_allclose(np.asarray(layer(u)), _routing_reference(W, u, routings),
                               rtol=1e-4, atol=1e-5)


def test_netvlad_matches_reference():
    layer = fl.NetVLADAggregation(cluster_size=3, output_dim=48)
    x = RNG.normal(size=(2, 21, 64)).astype("float32")
    got = np.asarray(layer(x))
    W1, B1, W2, H1 = (np.asarray(w) for w in (layer.assignment_kernel, layer.assignment_bias,
                                              layer.cluster_centers, layer.projection))
    for b in range(2):
        logits = x[b] @ W1 + B1
        A = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        V = x[b].T @ A - A.sum(0)[None, :] * W2[0]
        V = V / np.linalg.norm(V, axis=0, keepdims=True)
        flat = V.reshape(-1)  # (F, K) row-major: index f * K + k
        flat = flat / np.linalg.norm(flat)
        np.testing.assert_allclose(got[b], flat @ H1, rtol=1e-4, atol=1e-5)


def test_metric_aggregation_matches_reference():
    layer = fl.MetricAggregation(3, 16)
    x = RNG.normal(size=(2, 21, 64)).astype("float32")
    got = np.asarray(layer(x))
    K1, K2 = np.asarray(layer.feature_kernel), np.asarray(layer.sample_kernel)
    want = np.stack([((x[b] @ K1).T @ K2).T for b in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fine_grained_structure_matches_reference():
    maps = [RNG.normal(size=(2, 8, 8, 64)).astype("float32") for _ in range(3)]
    mappings = [RNG.uniform(size=(2, 5 * 192)).astype("float32") for _ in range(3)]
    combination = RNG.uniform(size=(2, 7 * 5)).astype("float32")
    got = np.asarray(fl.FineGrainedStructure(m_dim=5)(maps + mappings + [combination]))
    assert got.shape == (2, 21, 64)
    for b in range(2):
        U = np.concatenate([m[b].reshape(64, 64) for m in maps])  # (192, 64), stage 1 first
        C = combination[b].reshape(7, 5)
        for k in range(3):
            S = C @ mappings[k][b].reshape(5, 192)
            want = (S @ U) / S.sum(1, keepdims=True)
            np.testing.assert_allclose(got[b, 7 * k:7 * k + 7], want, rtol=1e-4, atol=1e-4)


def test_variance_scoring_is_population_variance():
    x = RNG.normal(size=(2, 8, 8, 64)).astype("float32")
    got = np.asarray(fl.VarianceScoring()(x))
    np.testing.assert_allclose(got, x.var(axis=-1).reshape(2, 64), rtol=1e-5)


def test_stage_head_slices_and_shapes():
    head = fl.StageHead(stage=1)
    agg = RNG.normal(size=(2, 3, 16)).astype("float32")
    delta, shift, probs = (np.asarray(t) for t in head(agg))
    f = agg[:, 1]
    np.testing.assert_allclose(
        delta, np.tanh(f[:, :4] @ np.asarray(head.delta_kernel) + np.asarray(head.delta_bias)),
        rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        shift, np.tanh(f[:, 4:8] @ np.asarray(head.shift_kernel) + np.asarray(head.shift_bias)),
        rtol=1e-5, atol=1e-6)
    want = np.maximum(f[:, 8:] @ np.asarray(head.probs_kernel) + np.asarray(head.probs_bias), 0)
    np.testing.assert_allclose(probs, want.reshape(2, 3, 3), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [
    fl.VarianceScoring(name="v"), fl.FineGrainedStructure(m_dim=4, name="f"),
    fl.CapsuleRouting(2, 8, 3, name="c"), fl.NetVLADAggregation(4, 32, name="n"),
    fl.MetricAggregation(2, 8, name="m"), fl.StageHead(2, num_bins=5, name="h"),
    fl.SoftStagewiseRegression((3, 5), 0.5, 90.0, name="s")])
def test_layer_config_round_trip(layer):
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
