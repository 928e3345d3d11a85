"""Output heads beyond the paper's SSR, on FSA-Net's aggregated features (issue 24).

Each head is one registered, serialisable layer: (B, num_capsule, dim_capsule) -> its logits -> the
pose (B, 3) in degrees, decoded inside the graph, so a model with any head keeps the one output
contract (``pose`` in degrees) of prediction, the demo, ``fsanet test`` and export. Training needs
the logits: each head keeps those of its last call in ``self.logits`` (the same traced step) and
``training_loss(y, pose)`` turns them into the head's own loss; ``FSANet.compute_loss`` calls it.

Heads (``HEADS``): ``regression`` (direct, L1 as the paper's loss), ``classification`` (Hopenet,
Ruiz et al. 2018: bins, softmax expectation, cross-entropy plus a regression term) and ``bel``
(binary-encoded labels, Shah, Xue & Aamodt, ICLR 2022: unary or Johnson codes, per-bit binary
cross-entropy, expected-value decoding over the codewords).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fsanet.core.pose import VALUE_RANGE
from fsanet.errors import ArgumentValueError
from fsanet.model.variants import BEL_CODES, HEADS

_register = keras.saving.register_keras_serializable(package="fsanet")

LOGIT_SCALE = 10.0
"""Gain on BEL's bit logits (``BELHead``): on synthetic heads (README) it takes BEL from near the
mean predictor to about the regression head's error in the same number of steps."""


def bel_codebook(code: str, bits: int) -> np.ndarray:
    """The (Q, M) 0/1 codewords of ``code`` with M = ``bits``, quantisation level k in row k.

    Unary: Q = M + 1 levels, codeword k has its first k bits set (a thermometer). Johnson:
    Q = 2M levels, codeword k has its first k bits set for k <= M and its last 2M - k bits set after
    (a Johnson counter); neighbours differ in one bit and codewords k, k' are
    min(|k - k'|, 2M - |k - k'|) bits apart.
    """
    if code not in BEL_CODES:
        raise ArgumentValueError(f"BEL code must be one of {BEL_CODES}, got {code!r}")
    i = np.arange(bits)
    if code == "u":
        return (i[None, :] < np.arange(bits + 1)[:, None]).astype(np.float32)
    k = np.arange(2 * bits)[:, None]
    return np.where(k <= bits, i[None, :] < k, i[None, :] >= k - bits).astype(np.float32)


def _dense_logits(layer, units):
    layer.kernel = layer.add_weight(name="kernel", shape=(layer.features, units), initializer="glorot_uniform")
    layer.bias = layer.add_weight(name="bias", shape=(units,), initializer="zeros")


class _PoseHead(keras.layers.Layer):
    """Shared part: flatten the aggregated features, one dense layer to ``units`` logits per angle
    (times ``logit_scale``)."""

    def __init__(self, value_range=VALUE_RANGE, num_angles=3, **kwargs):
        super().__init__(**kwargs)
        self.value_range = float(value_range)
        self.num_angles = num_angles
        self.logits = None

    units = 1
    logit_scale = 1.0

    def build(self, input_shape):
        self.features = int(np.prod(input_shape[1:]))
        _dense_logits(self, self.units * self.num_angles)

    def call(self, aggregated):
        flat = ops.reshape(aggregated, (-1, self.features))
        logits = ops.reshape(ops.matmul(flat, self.kernel) + self.bias, (-1, self.num_angles, self.units))
        logits = logits * self.logit_scale
        self.logits = logits  # read by ``training_loss`` in the same step
        return self.decode(logits)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_angles)

    def get_config(self):
        return dict(super().get_config(), value_range=self.value_range, num_angles=self.num_angles)


@_register
class RegressionHead(_PoseHead):
    """Direct regression: pose = V * z, one linear output per angle (V = 99 degrees keeps z near
    unit scale); L1 loss, as the paper trains SSR."""

    def decode(self, logits):
        return logits[..., 0] * self.value_range

    def training_loss(self, y, pose):
        return ops.mean(ops.abs(y - pose))


@_register
class ClassificationHead(_PoseHead):
    """Hopenet's head: ``num_bins`` equal bins over [-V, V] (66 bins of 3 degrees), the pose the
    softmax expectation of the bin centres; loss = cross-entropy on the label's bin + ``alpha`` x
    mean squared error of the expectation (Hopenet's regression term, alpha = 0.001 there)."""

    def __init__(self, num_bins=66, alpha=0.001, **kwargs):
        super().__init__(**kwargs)
        self.num_bins, self.alpha = num_bins, float(alpha)
        self.units = num_bins
        width = 2 * self.value_range / num_bins
        self.centres = (np.arange(num_bins) + 0.5) * width - self.value_range

    def decode(self, logits):
        return ops.sum(ops.softmax(logits, axis=-1) * ops.cast(self.centres, logits.dtype), axis=-1)

    def training_loss(self, y, pose):
        width = 2 * self.value_range / self.num_bins
        bins = ops.clip(ops.floor((y + self.value_range) / width), 0, self.num_bins - 1)
        cross_entropy = keras.losses.sparse_categorical_crossentropy(ops.cast(bins, "int32"), self.logits,
                                                                     from_logits=True)
        return ops.mean(cross_entropy) + self.alpha * ops.mean(ops.square(y - pose))

    def get_config(self):
        return dict(super().get_config(), num_bins=self.num_bins, alpha=self.alpha)


@_register
class BELHead(_PoseHead):
    """Binary-encoded labels (BEL, Shah et al., ICLR 2022).

    Each angle y in [-V, V] is quantised to Q levels q_k = -V + k * 2V / (Q - 1) and the level k is
    encoded as codeword C_k (``bel_codebook``: unary Q = M + 1, Johnson Q = 2M, M = ``bits``).
    The head predicts M bit logits z per angle, trained with binary cross-entropy against C_k.
    Decoding is BEL's expected-value decoding over the codewords (GEN-EX):

        y_hat = sum_k q_k softmax_k(z . C_k),

    the correlation z . C_k being, up to a constant in k, the log-likelihood of codeword k under
    independent bits with P(bit = 1) = sigmoid(z), so the softmax is the posterior over valid
    codewords and y_hat its mean. Hard bits z = +-L decode to the nearest codeword in Hamming
    distance (so within half a step of the label for L large); k flipped bits of a Johnson codeword
    move the decoded level by at most 2k (circularly: levels 0 and Q - 1 are one bit apart).

    The bit logits are the dense layer's outputs times ``logit_scale`` (``LOGIT_SCALE``): FSA-Net's
    aggregated features are small and bounded (each capsule squashed to a norm below 1), so unscaled
    logits start near 0 and grow only as fast as Adam moves the weights (about the learning rate a
    step), while the decoding resolves a level only once the bits are sharp (|z| of several units);
    the gain gives them that range from unit-scale weights, as the regression head's x V does.
    """

    def __init__(self, code="u", bits=200, logit_scale=LOGIT_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.code, self.bits, self.logit_scale = code, int(bits), float(logit_scale)
        self.codebook = bel_codebook(code, self.bits)
        self.units = self.bits
        levels = len(self.codebook)
        self.levels = np.linspace(-self.value_range, self.value_range, levels).astype(np.float32)

    def decode(self, logits):
        scores = ops.matmul(logits, ops.cast(self.codebook.T, logits.dtype))  # (B, angles, Q)
        return ops.sum(ops.softmax(scores, axis=-1) * ops.cast(self.levels, logits.dtype), axis=-1)

    def encode(self, y):
        """The target bits (..., M) of angles y (clipped to [-V, V]), in-graph."""
        step = 2 * self.value_range / (len(self.codebook) - 1)
        level = ops.round((ops.clip(y, -self.value_range, self.value_range) + self.value_range) / step)
        return ops.take(ops.cast(self.codebook, "float32"), ops.cast(level, "int32"), axis=0)

    def training_loss(self, y, pose):
        bits = self.encode(ops.cast(y, "float32"))
        return ops.mean(keras.losses.binary_crossentropy(bits, self.logits, from_logits=True))

    def get_config(self):
        return dict(super().get_config(), code=self.code, bits=self.bits, logit_scale=self.logit_scale)


def build_head(head, bel_code="u", bel_bits=200, num_bins=66, name="pose_head"):
    """The head layer for ``head`` (one of ``HEADS`` other than ``ssr``)."""
    if head == "regression":
        return RegressionHead(name=name)
    if head == "classification":
        return ClassificationHead(num_bins=num_bins, name=name)
    if head == "bel":
        return BELHead(code=bel_code, bits=bel_bits, name=name)
    raise ArgumentValueError(f"head must be one of {HEADS}, got {head!r}")
