"""FSA-Net head pose estimation (Yang et al., CVPR 2019) in Keras 3.

    import fsanet
    predictor = fsanet.PosePredictor(fsanet.load_pretrained("fusion", protocol="300W_LP"))
    yaw, pitch, roll = predictor(bgr_face_crop)
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fsanet.variants import ALIASES, FUSIONS, VARIANTS, Variant, get_variant  # noqa: E402
from fsanet.models import FSANet, SSRNetMD, build_fusion, build_model, build_variant  # noqa: E402
from fsanet.weights import WeightFileError, load_authors_weights  # noqa: E402
from fsanet.pretrained import fetch, load_pretrained  # noqa: E402
from fsanet.inference import PosePredictor, configure_cpu_threads  # noqa: E402

__all__ = ["ALIASES", "FUSIONS", "VARIANTS", "Variant", "get_variant", "FSANet", "SSRNetMD",
           "build_fusion", "build_model", "build_variant", "WeightFileError",
           "load_authors_weights", "fetch", "load_pretrained", "PosePredictor",
           "configure_cpu_threads"]
