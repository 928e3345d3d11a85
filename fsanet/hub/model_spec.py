"""The one model-spec resolver: every command that takes a model (``train --init``, ``test``, the demo,
``export``, the heatmaps) turns its argument into a model here, and the grammar is parsed only here.

A spec is a released model's name or alias (variant or fusion, with the protocol saying whose
checkpoint), ``fusion:a,b,c`` (the plain average of several specs), one of our ``.keras`` files
(loaded with ``safe_mode``) or one of the authors' ``.h5`` files (its variant is recognised).
Where only inference is needed (``exported=True``: the demo, evaluation) it may also be an exported
``.onnx``, ``.tflite`` or SavedModel folder (``fsanet.deploy.export``), returned as an
``fsanet.deploy.runners.ExportedModel`` that ``PosePredictor`` runs under the file's own runtime.
The grammar itself (``fsanet.hub.specs``) imports no TensorFlow, so commands check a spec first.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from fsanet.core.protocols import DEFAULT_PROTOCOL, get_protocol
from fsanet.data.calibration import representative_crops
from fsanet.deploy.export import export
from fsanet.deploy.runners import LIBRARY_TEXT, ExportedModel
from fsanet.errors import ModelSpecError, one_line
from fsanet.hub.pretrained import find_checkpoint, load_pretrained, sha256_of
from fsanet.hub.specs import ModelSpec, parse_spec, unknown_spec
from fsanet.hub.weights import identify_variant, load_authors_weights, read_weight_file
from fsanet.model.models import FSANet, SSRNetMD, build_fusion, build_variant
from fsanet.model.variants import FUSIONS, IMAGE_SIZE, get_variant


def load_keras_model(path):
    """One of our ``.keras`` files, loaded with ``safe_mode``; a clear error for anything else."""
    import keras
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelSpecError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" for a file that is there
        raise ModelSpecError(f"{path}: not a readable .keras model (not a zip archive: cut short or another format)")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many types (and many lines) for unreadable or unsafe files
        raise ModelSpecError(f"{path}: not a readable .keras model ({one_line(e, LIBRARY_TEXT)})") from e
    members = [layer for layer in getattr(model, "layers", []) if isinstance(layer, (FSANet, SSRNetMD))]
    if not isinstance(model, (FSANet, SSRNetMD)) and not (
            isinstance(model, keras.Model) and members and tuple(model.input_shape) == (None, IMAGE_SIZE, IMAGE_SIZE, 3)
            and tuple(model.output_shape) == (None, 3)):
        raise ModelSpecError(f"{path}: holds a Keras model that is not an FSA-Net, SSR-Net-MD or a fusion of them "
                             f"({type(model).__name__} {getattr(model, 'name', '')!r})")
    return model


def resolve_model(spec, protocol=DEFAULT_PROTOCOL, exported: bool = False):
    """A Keras model from any model spec, or with ``exported=True`` an ``ExportedModel`` for an
    exported file (see the module docstring)."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    protocol = get_protocol(protocol).name
    if parsed.kind == "fusion":
        return build_fusion([resolve_model(m, protocol) for m in parsed.members], name="fusion_of_files")
    if parsed.kind == "keras":
        return load_keras_model(parsed.text)
    if parsed.kind == "h5":
        variant = identify_variant(read_weight_file(parsed.text), parsed.text)
        return load_authors_weights(build_variant(variant), parsed.text)
    if parsed.kind == "released":
        return load_pretrained(parsed.text, protocol)
    if parsed.kind == "exported":
        if not exported:
            raise ModelSpecError(f"{parsed.text}: an exported model runs inference only; this needs a "
                                 "Keras model (a released name, .keras or .h5)")
        return ExportedModel(parsed.text)
    raise unknown_spec(parsed.text, exported)


def source_metadata(spec, protocol=DEFAULT_PROTOCOL) -> dict:
    """What a model spec says about its origin: variant name, protocol and the SHA-256 of its source
    weight files (the registry's, comma-separated for a fusion; the file's own for a path)."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    protocol = get_protocol(protocol).name
    if parsed.kind == "released" and parsed.text in FUSIONS:
        return {"variant": parsed.text, "protocol": protocol, "weights_sha256": ",".join(
            find_checkpoint(m, protocol).sha256 for m in FUSIONS[parsed.text])}
    if parsed.kind == "released":
        return {"variant": get_variant(parsed.text).name, "protocol": protocol,
                "weights_sha256": find_checkpoint(parsed.text, protocol).sha256}
    if parsed.kind == "fusion":
        members = [source_metadata(m, protocol) for m in parsed.members]
        return {"variant": parsed.text, "protocol": protocol,
                "weights_sha256": ",".join(m["weights_sha256"] for m in members)}
    if parsed.kind == "unknown":
        raise unknown_spec(parsed.text)
    if not os.path.isfile(parsed.text):
        raise ModelSpecError(f"{parsed.text}: model file not found")
    return {"variant": Path(parsed.text).stem, "protocol": "", "weights_sha256": sha256_of(parsed.text)}


def export_model(model, path, format, metadata=None, int8=None, protocol=DEFAULT_PROTOCOL) -> Path:
    """``fsanet.export``: ``fsanet.deploy.export.export`` for a model or a model spec, whose metadata
    then names its source (``source_metadata``). ``int8``: ``"synthetic"``, a folder of face crops or
    an array (``fsanet.data.calibration.representative_crops``)."""
    if isinstance(model, (str, os.PathLike)):
        spec, model = model, resolve_model(model, protocol)
        metadata = dict(source_metadata(spec, protocol), **(metadata or {}))
    crops = None if int8 is None else representative_crops(int8)
    return export(model, path, format, metadata=metadata, int8=crops)
