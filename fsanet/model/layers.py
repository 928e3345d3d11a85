"""FSA-Net's custom layers, as registered, serialisable Keras 3 layers (SPEC §3).

Plain Keras layers (SeparableConv2D, Dense, ...) are used wherever they suffice; the layers here
hold the parts Keras lacks: variance scoring, the fine-grained structure mapping's matrix algebra,
capsule routing, NetVLAD, the metric projection, the per-stage SSR heads and soft stagewise
regression itself.
"""

from __future__ import annotations

import keras
from keras import ops

from fsanet.core.pose import VALUE_RANGE
from fsanet.model.variants import Variant

_register = keras.saving.register_keras_serializable(package="fsanet")


@_register
class VarianceScoring(keras.layers.Layer):
    """Variance scoring (paper §3.3): population variance over channels of each pixel.

    (B, h, w, c) -> (B, h*w). No weights: the "var" models learn nothing here.
    """

    def call(self, feature_map):
        variance = ops.var(feature_map, axis=-1)
        return ops.reshape(variance, (-1, variance.shape[1] * variance.shape[2]))


@_register
class FineGrainedStructure(keras.layers.Layer):
    """Primary capsules from the fine-grained structure mapping (paper §3.4).

    Inputs, as one list: the three stage maps U_k (B, h, w, c), the three mapping outputs
    M_k (B, m_dim * 3hw) and the combination C (B, n * m_dim). Per stage, S_k = C @ M_k is an
    (n, 3hw) selection over all pixels of all stages; its rows, normalised to sum 1, pool U.
    Output: (B, 3n, c), stage 1's n capsules first.
    """

    def __init__(self, m_dim=5, **kwargs):
        super().__init__(**kwargs)
        self.m_dim = m_dim

    def call(self, inputs):
        maps, mappings, combination = inputs[0:3], inputs[3:6], inputs[6]
        channels = maps[0].shape[-1]
        pixels = ops.concatenate(
            [ops.reshape(u, (-1, u.shape[1] * u.shape[2], channels)) for u in maps], axis=1)
        num_pixels = pixels.shape[1]
        combination = ops.reshape(combination, (-1, combination.shape[-1] // self.m_dim, self.m_dim))
        capsules = []
        for mapping in mappings:
            selection = ops.matmul(combination, ops.reshape(mapping, (-1, self.m_dim, num_pixels)))
            row_sums = ops.sum(selection, axis=-1, keepdims=True)
            capsules.append(ops.matmul(selection, pixels) / row_sums)
        return ops.concatenate(capsules, axis=1)

    def structure_maps(self, combination, mapping):
        """S_k = C @ M_k for one stage, (B, n, 3hw): the maps drawn in paper Fig. 5."""
        n = combination.shape[-1] // self.m_dim
        return ops.matmul(ops.reshape(combination, (-1, n, self.m_dim)),
                          ops.reshape(mapping, (-1, self.m_dim, mapping.shape[-1] // self.m_dim)))

    def get_config(self):
        return dict(super().get_config(), m_dim=self.m_dim)


def squash(vectors, axis=-1):
    """Capsule non-linearity of Sabour et al., with Keras 2's epsilon 1e-7 as the authors used."""
    squared_norm = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    scale = squared_norm / (1.0 + squared_norm) / ops.sqrt(squared_norm + 1e-7)
    return scale * vectors


@_register
class CapsuleRouting(keras.layers.Layer):
    """Capsule aggregation by dynamic routing (paper §3.5, Sabour et al. 2017).

    (B, N, d_in) primary capsules -> (B, num_capsule, dim_capsule). The kernel has the authors'
    layout (num_capsule, N, dim_capsule, d_in), so their ``caps/W`` loads unchanged.
    """

    def __init__(self, num_capsule=3, dim_capsule=16, routings=2, **kwargs):
        if routings < 1:
            raise ValueError(f"routings must be at least 1, got {routings}")
        super().__init__(**kwargs)
        self.num_capsule = num_capsule
        self.dim_capsule = dim_capsule
        self.routings = routings

    def build(self, input_shape):
        _, num_inputs, input_dim = input_shape
        self.kernel = self.add_weight(
            name="kernel", shape=(self.num_capsule, num_inputs, self.dim_capsule, input_dim),
            initializer="glorot_uniform")

    def call(self, capsules):
        """Routing written with plain matmuls, sums and reshapes to -1 (no einsum, no zeros of a
        dynamic shape): converted files then keep every op in one fast runtime partition (the noS
        model's 192 capsules ran 12% faster under LiteRT). The first iteration's coupling, a
        softmax of zero logits, is 1 / num_capsule."""
        num_inputs, input_dim = capsules.shape[1:]
        j, k = self.num_capsule, self.dim_capsule
        kernel = ops.reshape(ops.transpose(self.kernel, (1, 3, 0, 2)), (num_inputs, input_dim, j * k))
        predictions = ops.matmul(ops.transpose(capsules, (1, 0, 2)), kernel)        # (N, B, j*k)
        predictions = ops.transpose(ops.reshape(predictions, (num_inputs, -1, j, k)),
                                    (1, 2, 0, 3))                                    # (B, j, N, k)
        outputs = squash(ops.sum(predictions, axis=2) / j)
        logits = 0.0
        for _ in range(1, self.routings):
            logits = logits + ops.sum(ops.expand_dims(outputs, 2) * predictions, axis=-1)  # (B, j, N)
            coupling = ops.softmax(logits, axis=1)
            outputs = squash(ops.sum(ops.expand_dims(coupling, -1) * predictions, axis=2))
        return outputs

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_capsule, self.dim_capsule)

    def get_config(self):
        return dict(super().get_config(), num_capsule=self.num_capsule,
                    dim_capsule=self.dim_capsule, routings=self.routings)


def _l2_normalize(x, axis):
    """tf.nn.l2_normalize's rule (epsilon 1e-12 on the squared norm), as the authors' NetVLAD."""
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12))


@_register
class NetVLADAggregation(keras.layers.Layer):
    """NetVLAD aggregation (paper §3.5, Arandjelovic et al. 2016) with a final linear projection.

    (B, N, F) -> (B, output_dim). Weight names follow the roles in SPEC §3: soft assignment
    (``assignment_kernel`` W1, ``assignment_bias`` B1), cluster centres (W2), projection (H1).
    """

    def __init__(self, cluster_size=3, output_dim=48, **kwargs):
        super().__init__(**kwargs)
        self.cluster_size = cluster_size
        self.output_dim = output_dim

    def build(self, input_shape):
        feature_size = input_shape[-1]
        k = self.cluster_size
        init = keras.initializers.RandomNormal(stddev=feature_size ** -0.5)
        self.assignment_kernel = self.add_weight(name="assignment_kernel", shape=(feature_size, k),
                                                 initializer=init)
        self.assignment_bias = self.add_weight(name="assignment_bias", shape=(k,), initializer=init)
        self.cluster_centers = self.add_weight(name="cluster_centers", shape=(1, feature_size, k),
                                               initializer=init)
        self.projection = self.add_weight(
            name="projection", shape=(feature_size * k, self.output_dim),
            initializer=keras.initializers.RandomNormal(stddev=k ** -0.5))

    def call(self, features):
        assignment = ops.softmax(ops.matmul(features, self.assignment_kernel) + self.assignment_bias,
                                 axis=-1)                                    # (B, N, K)
        residuals = ops.matmul(ops.transpose(features, (0, 2, 1)), assignment)  # (B, F, K)
        residuals = residuals - ops.sum(assignment, axis=1, keepdims=True) * self.cluster_centers
        vlad = _l2_normalize(residuals, axis=1)
        vlad = ops.reshape(vlad, (-1, vlad.shape[1] * vlad.shape[2]))
        return ops.matmul(_l2_normalize(vlad, axis=1), self.projection)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return dict(super().get_config(), cluster_size=self.cluster_size, output_dim=self.output_dim)


@_register
class MetricAggregation(keras.layers.Layer):
    """The "metric" aggregation (SPEC §3): a learned projection of features, then of samples.

    (B, N, F) @ feature_kernel (F, dim_capsule) -> (B, N, dim); the N axis is then projected by
    sample_kernel (N, num_capsule) -> (B, num_capsule, dim_capsule).
    """

    def __init__(self, num_capsule=3, dim_capsule=16, **kwargs):
        super().__init__(**kwargs)
        self.num_capsule = num_capsule
        self.dim_capsule = dim_capsule

    def build(self, input_shape):
        _, num_inputs, feature_size = input_shape
        self.feature_kernel = self.add_weight(name="feature_kernel",
                                              shape=(feature_size, self.dim_capsule),
                                              initializer="glorot_uniform")
        self.sample_kernel = self.add_weight(name="sample_kernel",
                                             shape=(num_inputs, self.num_capsule),
                                             initializer="glorot_uniform")

    def call(self, features):
        projected = ops.matmul(features, self.feature_kernel)                 # (B, N, dim)
        pooled = ops.matmul(ops.transpose(projected, (0, 2, 1)), self.sample_kernel)  # (B, dim, K)
        return ops.transpose(pooled, (0, 2, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_capsule, self.dim_capsule)

    def get_config(self):
        return dict(super().get_config(), num_capsule=self.num_capsule, dim_capsule=self.dim_capsule)


@_register
class StageHead(keras.layers.Layer):
    """One SSR stage's outputs from its aggregated feature vector (paper §3.6, SPEC §3).

    Takes (B, num_capsule, dim) and reads row ``stage``: its first quarter gives the interval
    scaling delta (tanh), the second quarter the bin shift eta (tanh), the second half the bin
    scores p (ReLU, not normalised), reshaped (num_classes, num_bins).
    """

    def __init__(self, stage, num_classes=3, num_bins=3, **kwargs):
        super().__init__(**kwargs)
        self.stage = stage
        self.num_classes = num_classes
        self.num_bins = num_bins

    def build(self, input_shape):
        dim = input_shape[-1]
        self.quarter = dim // 4
        c = self.num_classes

        def dense(name, fan_in, units):
            kernel = self.add_weight(name=f"{name}_kernel", shape=(fan_in, units),
                                     initializer="glorot_uniform")
            bias = self.add_weight(name=f"{name}_bias", shape=(units,), initializer="zeros")
            return kernel, bias

        self.delta_kernel, self.delta_bias = dense("delta", self.quarter, c)
        self.shift_kernel, self.shift_bias = dense("shift", self.quarter, c)
        self.probs_kernel, self.probs_bias = dense("probs", dim - 2 * self.quarter,
                                                   c * self.num_bins)

    def call(self, aggregated):
        feature = aggregated[:, self.stage]
        q = self.quarter
        delta = ops.tanh(ops.matmul(feature[:, :q], self.delta_kernel) + self.delta_bias)
        shift = ops.tanh(ops.matmul(feature[:, q:2 * q], self.shift_kernel) + self.shift_bias)
        probs = ops.relu(ops.matmul(feature[:, 2 * q:], self.probs_kernel) + self.probs_bias)
        return delta, shift, ops.reshape(probs, (-1, self.num_classes, self.num_bins))

    def compute_output_spec(self, aggregated):
        batch = aggregated.shape[0]
        spec = lambda shape: keras.KerasTensor(shape, dtype=self.compute_dtype)  # noqa: E731
        return (spec((batch, self.num_classes)), spec((batch, self.num_classes)),
                spec((batch, self.num_classes, self.num_bins)))

    def get_config(self):
        return dict(super().get_config(), stage=self.stage, num_classes=self.num_classes,
                    num_bins=self.num_bins)


@_register
class SoftStagewiseRegression(keras.layers.Layer):
    """Soft stagewise regression (SSR-Net, Yang et al. 2018; SPEC §3).

    Inputs, one list: bin scores p_1..p_K (B, classes, s_k), interval scalings delta_1..delta_K
    (B, classes) and bin shifts eta_1..eta_K (B, classes). Stage k contributes
    sum_i (i - s_k//2 + eta_k) p_k[i] / prod_{j<=k} s_j (1 + lambda_d delta_j); the sum is scaled
    by ``value_range`` (V = 99 degrees).
    """

    def __init__(self, stage_num=Variant.stage_num, lambda_d=Variant.lambda_d, value_range=VALUE_RANGE,
                 **kwargs):
        super().__init__(**kwargs)
        self.stage_num = tuple(stage_num)
        self.lambda_d = lambda_d
        self.value_range = value_range

    def call(self, inputs):
        k = len(self.stage_num)
        probs, deltas, shifts = inputs[:k], inputs[k:2 * k], inputs[2 * k:]
        prediction = 0.0
        scale = 1.0
        for s, p, delta, eta in zip(self.stage_num, probs, deltas, shifts):
            scale = scale * (s * (1.0 + self.lambda_d * delta))
            centres = ops.cast(ops.arange(s) - s // 2, p.dtype)
            stage = ops.sum((centres + ops.expand_dims(eta, -1)) * p, axis=-1)
            prediction = prediction + stage / scale
        return prediction * self.value_range

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[len(self.stage_num)][:2])

    def get_config(self):
        return dict(super().get_config(), stage_num=list(self.stage_num), lambda_d=self.lambda_d,
                    value_range=self.value_range)
