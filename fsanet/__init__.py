"""FSA-Net head pose estimation (Yang et al., CVPR 2019) in Keras 3."""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fsanet.variants import ALIASES, FUSIONS, VARIANTS, Variant, get_variant  # noqa: E402
from fsanet.models import FSANet, SSRNetMD, build_fusion, build_model, build_variant  # noqa: E402
from fsanet.weights import WeightFileError, load_authors_weights  # noqa: E402

__all__ = ["ALIASES", "FUSIONS", "VARIANTS", "Variant", "get_variant", "FSANet", "SSRNetMD",
           "build_fusion", "build_model", "build_variant", "WeightFileError",
           "load_authors_weights"]
