"""Weight health: a model whose training diverged holds NaN or infinity and must not be used or saved."""

from __future__ import annotations

import numpy as np


def non_finite_weights(model) -> list:
    """Names of a Keras model's weights that hold NaN or infinity (empty for a sound model)."""
    return [w.path for w in model.weights if not np.isfinite(np.asarray(w)).all()]
