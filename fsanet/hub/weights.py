"""Loading the authors' weights-only Keras 2.2 HDF5 checkpoints (SPEC §4).

Keras 2 named layers by global counters (``separable_conv2d_8``, ``dense_3``) and stored them out of
build order, so names are mapped by role: indices are sorted within each kind, shapes are checked,
and every tensor in the file must fill exactly one model weight and vice versa.
"""

from __future__ import annotations

import os
import re

import h5py
import keras
import numpy as np

from fsanet.errors import ArgumentTypeError, WeightFileError
from fsanet.model.models import block_name, stage_name
from fsanet.model.variants import fsanet_variant_name, get_variant

_AGGREGATION_GROUPS = {"ssr_Cap_model": "capsule", "ssr_Agg_model": "netvlad",
                       "ssr_Metric_model": "metric"}
_NETVLAD_ROLES = {"kernel_W1": "assignment_kernel", "kernel_B1": "assignment_bias",
                  "kernel_W2": "cluster_centers", "kernel_H1": "projection"}
_METRIC_ROLES = {"kernel_type1": "feature_kernel", "kernel_type2": "sample_kernel"}


def read_weight_file(path) -> dict:
    """All tensors of a Keras 2 weights file as ``{(group, layer, weight): array}``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightFileError(f"{path}: weight file not found")
    if not h5py.is_hdf5(path):
        raise WeightFileError(f"{path}: not an HDF5 file (expected the authors' Keras .h5 weights)")
    tensors = {}
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" not in f.attrs:
                raise WeightFileError(f"{path}: HDF5 file without Keras 'layer_names'; "
                                      "not a Keras weights file")
            for group in (n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]):
                for name in f[group].attrs.get("weight_names", []):
                    name = name.decode() if isinstance(name, bytes) else name
                    layer, weight = name.replace(":0", "").rsplit("/", 1)
                    tensors[(group, layer, weight)] = np.asarray(f[group][name])
    except (OSError, KeyError) as e:
        raise WeightFileError(f"{path}: unreadable or truncated HDF5 file ({e})") from None
    if not tensors:
        raise WeightFileError(f"{path}: the file holds no weights")
    return tensors


def identify_variant(tensors, path="<weights>") -> str:
    """The variant name a weights file holds, from its groups and shapes."""
    groups = {g for g, _, _ in tensors}
    if "ssr_G_model" not in groups:
        if {("delta_s1", "delta_s1", "kernel"), ("separable_conv2d_1", "separable_conv2d_1",
                                                  "depthwise_kernel")} <= set(tensors):
            return "ssrnet_mt"
        raise WeightFileError(f"{path}: not an FSA-Net or SSR-Net-MD checkpoint "
                              f"(top-level groups: {sorted(groups)})")
    aggregation = [a for g, a in _AGGREGATION_GROUPS.items() if g in groups]
    if len(aggregation) != 1:
        raise WeightFileError(f"{path}: cannot tell the aggregation (groups: {sorted(groups)})")
    scoring_layers = {layer.split("_")[0] for g, layer, _ in tensors if g == "ssr_S_model"}
    scoring = "conv" if "conv2d" in scoring_layers else "variance" if scoring_layers else "uniform"
    return fsanet_variant_name(scoring, aggregation[0])


def _index(layer):
    return int(re.search(r"_(\d+)$", layer).group(1))


def _by_index(tensors, group, prefix):
    """Layer names of one kind in one group (any group if None), in creation (counter) order."""
    names = {layer for g, layer, _ in tensors
             if group in (None, g) and re.fullmatch(prefix + r"_\d+", layer)}
    return sorted(names, key=_index)


def _backbone_names(tensors, group_of):
    """Author layer name -> our layer name for the two streams and the stage 1x1 convs."""
    names = {}
    for kind, suffix in (("separable_conv2d", "sepconv"), ("batch_normalization", "bn")):
        layers = _by_index(tensors, group_of(kind), kind)
        for i, layer in enumerate(layers):
            names[layer] = block_name("xs"[i // 7], i % 7 + 1, suffix)
    convs = _by_index(tensors, group_of("conv2d"), "conv2d")[:6]
    for i, layer in enumerate(convs):  # built as s, x for stage 1, then stage 2, then stage 3
        names[layer] = stage_name(i // 2 + 1, f"{'sx'[i % 2]}_conv")
    return names


def _fsanet_targets(tensors):
    """{(group, layer, weight): our variable path} for an FSA-Net checkpoint."""
    names = _backbone_names(tensors, lambda kind: "ssr_G_model")
    mapping = {}
    for (group, layer, weight) in tensors:
        if group == "ssr_G_model":
            mapping[(group, layer, weight)] = f"{names.get(layer, layer)}/{weight}"
    s_dense = _by_index(tensors, "ssr_S_model", "dense")
    s_names = dict(zip(s_dense, ("fine_grained_mapping", "fine_grained_combination")))
    f_group = next((g for g, _, _ in tensors if g.startswith("ssr_F")), None)
    probs = {layer: stage_name(k, "head") for k, layer in enumerate(_by_index(tensors, f_group, "dense"), 1)}
    for (group, layer, weight) in tensors:
        key = (group, layer, weight)
        if group == "ssr_S_model":
            target = "scoring" if layer.startswith("conv2d") else s_names.get(layer, layer)
            mapping[key] = f"{target}/{weight}"
        elif group == "ssr_Cap_model":
            mapping[key] = "capsule/kernel"
        elif group == "ssr_Agg_model":
            mapping[key] = f"netvlad/{_NETVLAD_ROLES.get(weight, weight)}"
        elif group == "ssr_Metric_model":
            mapping[key] = f"metric/{_METRIC_ROLES.get(weight, weight)}"
        elif group == f_group:
            head = re.fullmatch(r"(delta_s|local_delta_stage)(\d)", layer)
            if head:
                role = "delta" if head.group(1) == "delta_s" else "shift"
                mapping[key] = f"{stage_name(head.group(2), 'head')}/{role}_{weight}"
            else:
                mapping[key] = f"{probs.get(layer, layer)}/probs_{weight}"
    return mapping


def _ssrnet_targets(tensors):
    """{(group, layer, weight): our variable path} for the SSR-Net-MD checkpoint."""
    names = _backbone_names(tensors, lambda kind: None)
    mapping = {}
    dense_roles = ("delta_hidden", "shift_hidden", "probs")  # creation order per stage
    for i, layer in enumerate(_by_index(tensors, None, "dense")):
        names[layer] = stage_name(i // 3 + 1, dense_roles[i % 3])
    for (group, layer, weight) in tensors:
        head = re.fullmatch(r"(delta_s|local_delta_stage)(\d)", layer)
        if head:
            target = stage_name(head.group(2), "delta" if head.group(1) == "delta_s" else "shift")
        else:
            target = names.get(layer, layer)
        mapping[(group, layer, weight)] = f"{target}/{weight}"
    return mapping


def load_authors_weights(model, path):
    """Fill ``model`` with the authors' checkpoint at ``path``; returns the model.

    Raises WeightFileError (naming the file) when the file is missing, not HDF5, not an FSA-Net
    checkpoint, of another variant than the model, holds NaN/Inf, or does not fit tensor for tensor.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"load_authors_weights takes the path of an .h5 file, got {type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(model, keras.Model):
        raise ArgumentTypeError(f"load_authors_weights fills a Keras model (fsanet.build_model), got {type(model).__name__}")
    tensors = read_weight_file(path)
    file_variant = identify_variant(tensors, path)
    model_variant = getattr(model, "variant_name", None)
    if model_variant is None and not any(hasattr(layer, "variant_name") for layer in model.layers):
        raise ArgumentTypeError(f"{model.name!r} is not an FSA-Net or SSR-Net-MD model (fsanet.build_model)")
    if model_variant is None:
        raise WeightFileError(
            f"{path}: holds the weights of one variant ({get_variant(file_variant).alias!r}), but {model.name!r} is "
            "a fusion of several: load each member's file (fsanet.resolve_model('fusion:a.h5,b.h5,c.h5')) or "
            "the released fusion (fsanet.load_pretrained('fusion'))")
    if model_variant != file_variant:
        raise WeightFileError(
            f"{path}: holds weights of variant {file_variant!r} (alias "
            f"{get_variant(file_variant).alias!r}), but the model is {model_variant!r}")
    bad = [f"{g}/{layer}/{w}" for (g, layer, w), a in tensors.items() if not np.isfinite(a).all()]
    if bad:
        raise WeightFileError(
            f"{path}: {len(bad)} of {len(tensors)} weight tensors contain NaN or Inf "
            f"(first: {bad[0]}); the checkpoint is unusable (its training diverged)")

    mapping = _ssrnet_targets(tensors) if file_variant == "ssrnet_mt" else _fsanet_targets(tensors)
    variables = {v.path: v for v in model.weights}
    assigned = {}
    for key, target in mapping.items():
        source = "/".join(key)
        if target not in variables:
            raise WeightFileError(f"{path}: tensor {source} maps to {target!r}, "
                                  "which the model does not have")
        if target in assigned:
            raise WeightFileError(f"{path}: tensors {assigned[target]} and {source} "
                                  f"both map to {target!r}")
        if tuple(variables[target].shape) != tensors[key].shape:
            raise WeightFileError(f"{path}: tensor {source} has shape {tensors[key].shape}, "
                                  f"model weight {target!r} has {tuple(variables[target].shape)}")
        assigned[target] = source
    missing = sorted(set(variables) - set(assigned))
    if missing:
        raise WeightFileError(f"{path}: the file has no tensor for model weights {missing}")
    for key, target in mapping.items():
        variables[target].assign(tensors[key])
    return model
