"""FSA-Net head pose estimation (Yang et al., CVPR 2019) in Keras 3.

    import fsanet
    predictor = fsanet.PosePredictor(fsanet.load_pretrained("fusion", protocol="300W_LP"))
    yaw, pitch, roll = predictor(bgr_face_crop)

``import fsanet`` is instant and imports no TensorFlow: each public name is imported from its module
on first use. It arranges two things for the moment anything first imports Keras or TensorFlow
(``fsanet.core.imports``): fsanet's Keras classes are registered then, so that
``keras.saving.load_model(path, safe_mode=True)`` finds them; and TensorFlow's start-up lines
(oneDNN, CUDA probing) are kept off stderr then, shown only if its import fails. ``fsanet.quiet()``
also silences TensorFlow's later logs, as the command line does.
"""

import importlib as _importlib

from fsanet import _moved
from fsanet.core import imports as _imports
from fsanet.core import quiet as _quiet

__version__ = "1.2.0"

_PUBLIC = {
    "ALIASES": "fsanet.model.variants", "FUSIONS": "fsanet.model.variants", "VARIANTS": "fsanet.model.variants",
    "Variant": "fsanet.model.variants", "get_variant": "fsanet.model.variants",
    "FSANet": "fsanet.model.models", "SSRNetMD": "fsanet.model.models", "build_fusion": "fsanet.model.models",
    "build_model": "fsanet.model.models", "build_variant": "fsanet.model.models",
    "WeightFileError": "fsanet.errors", "load_authors_weights": "fsanet.hub.weights",
    "fetch": "fsanet.hub.pretrained", "load_pretrained": "fsanet.hub.pretrained",
    "PosePredictor": "fsanet.deploy.predictor", "configure_cpu_threads": "fsanet.deploy.threads",
    "resolve_model": "fsanet.hub.model_spec", "FSANetError": "fsanet.errors",
    "export": "fsanet.hub.model_spec:export_model",
    "HeadPoseEstimator": "fsanet.api.estimator", "estimate": "fsanet.api.estimator",
    "analyze": "fsanet.api.estimator", "draw": "fsanet.api.estimator", "to_dataframe": "fsanet.api.estimator",
    "FaceRecord": "fsanet.video.records",
    "quiet": "fsanet.core.quiet:quiet_tensorflow",
}
"""Public name -> ``module`` or ``module:attribute`` where the name differs."""
__all__ = sorted(_PUBLIC)

_moved.install()  # the module paths of 1.1 (fsanet.model_spec, ...), deprecated
_imports.when_imported("keras", lambda: _importlib.import_module("fsanet.model.models"))  # registers the classes
_quiet.quiet_start()


def __getattr__(name):
    if name in _PUBLIC:
        module, _, attribute = _PUBLIC[name].partition(":")
        value = getattr(_importlib.import_module(module), attribute or name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fsanet' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | {"__version__"})
