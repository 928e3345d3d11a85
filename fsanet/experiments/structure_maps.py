"""Paper Figure 5: the rows of the fine-grained structure maps S_k = C M_k of a face, as heatmaps.

Only models with a scoring function have them (the 1x1-conv and variance variants).
"""

from __future__ import annotations

import cv2
import numpy as np

from fsanet.errors import ModelSpecError


def fine_grained_structure_maps(model, crop):
    """(3 stages, n rows, 3 maps, h, w): the rows of S_k = C M_k for one 64x64 BGR crop.

    Only models with a scoring function have them (1x1 conv and variance variants)."""
    import keras

    from fsanet.deploy.predictor import PosePredictor
    try:
        layer = model.get_layer("fine_grained_structure")
    except ValueError:
        raise ModelSpecError(f"{model.name} has no fine-grained structure mapping (no scoring)") from None
    inputs = keras.Model(model.input, layer.input)(PosePredictor(model, backend="keras").prepare([crop]))
    stages = (len(inputs) - 1) // 2
    feature_maps, mappings, combination = inputs[:stages], inputs[stages:2 * stages], inputs[-1]
    _, h, w, _ = feature_maps[0].shape
    return np.stack([np.asarray(layer.structure_maps(combination, m))[0].reshape(-1, stages, h, w)
                     for m in mappings])


def heatmap_panel(crop, maps, cell=128, title=None):
    """A grid: one row per stage (labelled ``stage k`` on its face), one column per structure-map row
    (labelled ``row i``), each summed over the three feature maps, normalised per cell and laid over
    the face; ``title`` (the model's name) on a band above."""
    face = cv2.resize(crop, (cell, cell))
    rows = []
    for k, stage in enumerate(maps, 1):
        cells = [_label(face.copy(), f"stage {k}")]
        for i, row in enumerate(stage, 1):
            heat = row.sum(axis=0)
            heat = (heat - heat.min()) / max(float(np.ptp(heat)), 1e-12)
            heat = cv2.resize((heat * 255).astype(np.uint8), (cell, cell), interpolation=cv2.INTER_CUBIC)
            cells.append(_label(cv2.addWeighted(face, 0.5, cv2.applyColorMap(heat, cv2.COLORMAP_JET), 0.5, 0),
                                f"row {i}"))
        rows.append(np.hstack(cells))
    grid = np.vstack(rows)
    if title is None:
        return grid
    band = np.full((28, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(band, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, grid])


def _label(image, text):
    """``text`` in the top-left corner of ``image`` (in place), white on a dark outline."""
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(image, text, (7, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thickness, cv2.LINE_AA)
    return image
