"""FSA-Net head pose estimation (Yang et al., CVPR 2019) in Keras 3.

    import fsanet
    predictor = fsanet.PosePredictor(fsanet.load_pretrained("fusion", protocol="300W_LP"))
    yaw, pitch, roll = predictor(bgr_face_crop)

``import fsanet`` is instant and changes nothing in the process (no environment variables, no
TensorFlow import): each public name is imported from its module on first use.
"""

from __future__ import annotations

import importlib

__version__ = "1.1.0"

_PUBLIC = {
    "ALIASES": "fsanet.variants", "FUSIONS": "fsanet.variants", "VARIANTS": "fsanet.variants",
    "Variant": "fsanet.variants", "get_variant": "fsanet.variants",
    "FSANet": "fsanet.models", "SSRNetMD": "fsanet.models", "build_fusion": "fsanet.models",
    "build_model": "fsanet.models", "build_variant": "fsanet.models",
    "WeightFileError": "fsanet.weights", "load_authors_weights": "fsanet.weights",
    "fetch": "fsanet.pretrained", "load_pretrained": "fsanet.pretrained",
    "PosePredictor": "fsanet.inference", "configure_cpu_threads": "fsanet.inference",
    "resolve_model": "fsanet.model_spec", "FSANetError": "fsanet.errors",
    "export": "fsanet.exports",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fsanet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
