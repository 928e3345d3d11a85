"""The one model-spec resolver: every command that takes a model (``train --init``, ``test``, the demo,
``export``, the heatmaps) turns its argument into a model here.

A spec is a released model's name or alias (variant or fusion, with the protocol saying whose
checkpoint), ``fusion:a,b,c`` (the plain average of several specs), one of our ``.keras`` files
(loaded with ``safe_mode``) or one of the authors' ``.h5`` files (its variant is recognised).
Where only inference is needed (``exported=True``: the demo, evaluation) it may also be an exported
``.onnx``, ``.tflite`` or SavedModel folder (``fsanet.exports``), returned as an
``fsanet.backends.ExportedModel`` that ``PosePredictor`` runs under the file's own runtime.
"""

from __future__ import annotations

import os
import zipfile

from fsanet.errors import FSANetError
from fsanet.variants import ALIASES, FUSIONS, VARIANTS


class ModelSpecError(FSANetError, ValueError):
    """A model argument that names nothing loadable; the message says what was expected."""


def load_keras_model(path):
    """One of our ``.keras`` files, loaded with ``safe_mode``; a clear error for anything else."""
    import keras
    import fsanet.layers  # noqa: F401  (registers the layers before deserialising)
    import fsanet.models  # noqa: F401
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelSpecError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" for a file that is there
        raise ModelSpecError(f"{path}: not a readable .keras model (not a zip archive: cut short or another format)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many types for unreadable files
        raise ModelSpecError(f"{path}: not a readable .keras model ({type(e).__name__}: {e})") from None


def non_finite_weights(model) -> list:
    """Names of a Keras model's weights that hold NaN or infinity (empty for a sound model)."""
    import numpy as np
    return [w.path for w in model.weights if not np.isfinite(np.asarray(w)).all()]


def resolve_model(spec, protocol: str = "300W_LP", exported: bool = False):
    """A Keras model from any model spec, or with ``exported=True`` an ``ExportedModel`` for an
    exported file (see the module docstring)."""
    from fsanet.models import build_fusion, build_variant
    from fsanet.pretrained import load_pretrained
    from fsanet.weights import identify_variant, load_authors_weights, read_weight_file
    spec = os.fspath(spec)
    if spec.startswith("fusion:"):
        members = [resolve_model(p, protocol) for p in spec[len("fusion:"):].split(",") if p]
        if len(members) < 2:
            raise ModelSpecError(f"{spec}: a fusion needs at least two comma-separated models")
        return build_fusion(members, name="fusion_of_files")
    if spec.endswith(".keras"):
        return load_keras_model(spec)
    if spec.endswith(".h5"):
        variant = identify_variant(read_weight_file(spec), spec)
        return load_authors_weights(build_variant(variant), spec)
    if spec in ALIASES or spec in VARIANTS or spec in FUSIONS:
        return load_pretrained(spec, protocol)
    from fsanet.backends import ExportedModel, file_backend
    if file_backend(spec):
        if not exported:
            raise ModelSpecError(f"{spec}: an exported model runs inference only; this needs a "
                                 "Keras model (a released name, .keras or .h5)")
        return ExportedModel(spec)
    raise ModelSpecError(f"{spec}: not a model: give a released name ({', '.join(sorted(ALIASES))}, "
                         f"{', '.join(sorted(FUSIONS))}), a .keras or .h5 file"
                         + (", or an exported .onnx / .tflite / SavedModel folder" if exported else ""))
