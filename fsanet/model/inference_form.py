"""The inference form of a model: the same function with BatchNorm folded away, which every
backend and export runs (a model transform, so it lives with the model)."""

from __future__ import annotations

import keras
import numpy as np

from fsanet.errors import ArgumentTypeError
from fsanet.model.models import FIRST_CONVS, FSANet, SSRNetMD, backbone_blocks, build_fusion


def fold_batch_norm(model) -> keras.Model:
    """The inference form of a model (``fsanet.model.models.two_streams(batch_norm=False)``): the same
    function, with each BatchNorm folded into the separable conv before it and block 1's separable
    conv composed into one dense 3x3 conv.

    y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta is again a conv: the pointwise kernel is
    scaled per output channel and the bias shifted. Depthwise then pointwise, with nothing between,
    is one conv whose kernel is their product, K[i, j, c, o] = D[i, j, c] P[c, o]. Outputs agree to
    float32 rounding (about 1e-5 degrees). Fusions fold each member.
    """
    if not isinstance(model, (FSANet, SSRNetMD)):
        members = [layer for layer in model.layers if isinstance(layer, (FSANet, SSRNetMD))]
        if not members:
            raise ArgumentTypeError(f"fold_batch_norm expects an FSA-Net, SSR-Net-MD or fusion model, "
                            f"got {type(model).__name__}")
        return build_fusion([fold_batch_norm(m) for m in members], name=model.name)
    config = dict(model.get_config(), batch_norm=False)
    folded = type(model).from_config(config)
    for layer in folded.layers:
        if layer.weights and layer.name not in FIRST_CONVS.values():
            layer.set_weights(model.get_layer(layer.name).get_weights())
    for sepconv, batch_norm in backbone_blocks():
        bn = model.get_layer(batch_norm)
        depthwise, pointwise, bias = (w.astype(np.float64) for w in model.get_layer(sepconv).get_weights())
        gamma, beta, mean, variance = (w.astype(np.float64) for w in bn.get_weights())
        scale = gamma / np.sqrt(variance + bn.epsilon)
        pointwise, bias = pointwise * scale, (bias - mean) * scale + beta
        if sepconv in FIRST_CONVS:
            kernel = depthwise[:, :, :, 0, None] * pointwise[0, 0][None, None]
            folded.get_layer(FIRST_CONVS[sepconv]).set_weights(
                [kernel.astype(np.float32), bias.astype(np.float32)])
        else:
            folded.get_layer(sepconv).set_weights([depthwise.astype(np.float32),
                                                   pointwise.astype(np.float32), bias.astype(np.float32)])
    return folded
