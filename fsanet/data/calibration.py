"""Calibration crops for int8 quantisation: synthetic heads, a folder of face crops, or an array."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fsanet.core.images import IMAGE_SUFFIXES, read_image
from fsanet.data.synthetic import synthetic_dataset
from fsanet.errors import DatasetError
from fsanet.model.variants import IMAGE_SIZE


def representative_crops(source="synthetic", count=200) -> np.ndarray:
    """(N, S, S, 3) float32 BGR crops for int8 calibration: ``"synthetic"`` heads
    (``fsanet.data.synthetic``), a folder of face-crop images (any size, resized as the predictor does)
    or an array of crops."""
    if isinstance(source, np.ndarray):
        return source.astype(np.float32)
    if source == "synthetic":
        return synthetic_dataset(count, seed=1)[0].astype(np.float32)
    folder = Path(source)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder}: int8 calibration wants 'synthetic' or a folder of face-crop "
                          f"images; found no .jpg or other image ({', '.join(sorted(IMAGE_SUFFIXES))}) there")
    crops = [cv2.resize(read_image(file), (IMAGE_SIZE, IMAGE_SIZE)) for file in files[:count]]  # ImageError names a bad file
    return np.stack(crops).astype(np.float32)
