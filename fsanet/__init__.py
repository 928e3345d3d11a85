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
    "ALIASES": "fsanet.model.variants", "FUSIONS": "fsanet.model.variants", "VARIANTS": "fsanet.model.variants",
    "Variant": "fsanet.model.variants", "get_variant": "fsanet.model.variants",
    "FSANet": "fsanet.model.models", "SSRNetMD": "fsanet.model.models", "build_fusion": "fsanet.model.models",
    "build_model": "fsanet.model.models", "build_variant": "fsanet.model.models",
    "WeightFileError": "fsanet.hub.weights", "load_authors_weights": "fsanet.hub.weights",
    "fetch": "fsanet.hub.pretrained", "load_pretrained": "fsanet.hub.pretrained",
    "PosePredictor": "fsanet.deploy.predictor", "configure_cpu_threads": "fsanet.deploy.threads",
    "resolve_model": "fsanet.hub.model_spec", "FSANetError": "fsanet.errors",
    "export": "fsanet.deploy.export",
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
