"""The model-spec grammar (``fsanet.hub.model_spec`` resolves specs into models), without TensorFlow:
``check_spec`` lets a command name a mistyped model or a missing model file before TensorFlow loads."""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path

from fsanet.deploy.export import FOLDER_MARKS
from fsanet.deploy.runners import file_backend
from fsanet.errors import ArgumentTypeError, ModelSpecError
from fsanet.model.variants import ALIASES, FUSIONS, VARIANTS

FUSION_PREFIX = "fusion:"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A parsed spec. ``kind``: ``released`` (a variant or fusion name), ``fusion`` (``members``
    are specs), ``keras``, ``h5`` or ``exported`` (a file or folder), ``unknown``."""

    text: str
    kind: str
    members: tuple = ()


def parse_spec(spec) -> ModelSpec:
    """The spec grammar, in one place."""
    if not isinstance(spec, (str, os.PathLike)):
        raise ArgumentTypeError(f"a model spec is a string or path (a released name, fusion:a,b, a file), got "
                                f"{type(spec).__name__}")
    text = os.fspath(spec)
    kind, colon, _ = text.partition(":")
    if (colon and len(kind) > 1 and kind.isidentifier() and text.startswith(kind + ":") and kind + ":" != FUSION_PREFIX
            and not os.path.exists(text)):  # a mistyped kind, not a Windows drive or a file with a colon
        close = difflib.get_close_matches(kind + ":", [FUSION_PREFIX], cutoff=0.6)
        raise ModelSpecError(f"{text}: {kind} is not a model kind; "
                             + (f"did you mean {close[0]}?" if close else f"the only kind is {FUSION_PREFIX}a,b,c"))
    if text.startswith(FUSION_PREFIX):
        members = tuple(parse_spec(p) for p in text[len(FUSION_PREFIX):].split(",") if p)
        if len(members) < 2:
            raise ModelSpecError(f"{text}: a fusion needs at least two comma-separated models")
        return ModelSpec(text, "fusion", members)
    if text.endswith(".keras"):
        return ModelSpec(text, "keras")
    if text.endswith(".h5"):
        return ModelSpec(text, "h5")
    if text in ALIASES or text in VARIANTS or text in FUSIONS:
        return ModelSpec(text, "released")
    if file_backend(text):
        return ModelSpec(text, "exported")
    return ModelSpec(text, "unknown")


def unknown_spec(text, exported=False) -> ModelSpecError:
    """The error for a spec that names no model."""
    if (Path(text) / FOLDER_MARKS["tfjs"]).is_file():
        return ModelSpecError(f"{text}: a TF.js model, which runs under TensorFlow.js (a browser or Node), not "
                              "here; give the model it was exported from, or its .onnx / .tflite / SavedModel export")
    return ModelSpecError(f"{text}: not a model: give a released name ({', '.join(sorted(ALIASES))}, "
                          f"{', '.join(sorted(FUSIONS))}), a .keras or .h5 file"
                          + (", or an exported .onnx / .tflite / SavedModel folder" if exported else ""))


_MISSING = {"keras": "model file not found", "h5": "weight file not found", "exported": "exported model not found"}
"""What the loaders say of a file that is not there, said before them."""


def check_spec(spec, exported=False) -> ModelSpec:
    """``spec`` parsed, with what can be known without loading it checked: a name that is no model,
    a model file that is not there, an exported file where a Keras model is needed."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    for member in parsed.members or (parsed,):
        if member.kind == "unknown":
            raise unknown_spec(member.text, exported)
        if member.kind in _MISSING and not Path(member.text).exists():
            raise ModelSpecError(f"{member.text}: {_MISSING[member.kind]}")
        if member.kind == "exported" and not (exported and not parsed.members):
            raise ModelSpecError(f"{member.text}: an exported model runs inference only; this needs a "
                                 "Keras model (a released name, .keras or .h5)")
    return parsed
