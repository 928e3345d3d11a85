"""The authors' landmark crop rule for 300W-LP and AFLW2000 (SPEC §5), in one place."""

from __future__ import annotations

import cv2
import numpy as np

from fsanet.model.variants import IMAGE_SIZE

LANDMARK_MARGIN = 0.6
DETECTION_MARGIN = 0.6


def landmark_extent(pt2d):
    """(x_min, y_min, x_max, y_max) ints: the extent of 2xK landmarks before the margin.

    Points with a non-positive coordinate are missing (AFLW2000 marks them -1); the authors keep
    the mask (x > 0 or y > 0) that keeps fewer points, x's on a tie, for both coordinates.
    Raises ValueError when no landmark is left.
    """
    pt2d = np.asarray(pt2d, dtype=np.float64)
    if pt2d.ndim != 2 or pt2d.shape[0] != 2:
        raise ValueError(f"landmarks must be 2 x K, got shape {pt2d.shape}")
    keep_x, keep_y = pt2d[0] > 0, pt2d[1] > 0
    keep = keep_y if keep_x.sum() > keep_y.sum() else keep_x
    if not keep.any():
        raise ValueError("no valid landmark (all coordinates <= 0)")
    xs, ys = pt2d[0][keep], pt2d[1][keep]
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def training_box(extent, image_width, image_height, margin=LANDMARK_MARGIN):
    """The training rule (SPEC §5) on a landmark extent (x_min, y_min, x_max, y_max): ``int`` of it,
    ``margin`` times its size on each side, clipped to 0 and to width - 1 / height - 1; end-exclusive
    (x_min, y_min, x_max, y_max) ints. Raises ValueError when the box is empty."""
    x_min, y_min, x_max, y_max = (int(v) for v in extent)
    w, h = x_max - x_min, y_max - y_min
    x_min = max(int(x_min - margin * w), 0)
    x_max = min(int(x_max + margin * w), image_width - 1)
    y_min = max(int(y_min - margin * h), 0)
    y_max = min(int(y_max + margin * h), image_height - 1)
    if x_max <= x_min or y_max <= y_min:
        raise ValueError(f"empty crop box x {x_min}:{x_max}, y {y_min}:{y_max}")
    return x_min, y_min, x_max, y_max


def landmark_box(pt2d, image_width, image_height, margin=LANDMARK_MARGIN):
    """(x_min, y_min, x_max, y_max), end-exclusive, around 2xK landmarks with the authors' margin."""
    return training_box(landmark_extent(pt2d), image_width, image_height, margin)


def crop_and_resize(image, box, size=IMAGE_SIZE):
    """Rows y_min:y_max and columns x_min:x_max, resized (bilinear, aspect not kept) to size x size."""
    x_min, y_min, x_max, y_max = box
    return cv2.resize(image[y_min:y_max, x_min:x_max], (size, size))


def crop_points(points, box, size=IMAGE_SIZE):
    """(K, 2) image points (x, y) in the pixels of ``crop_and_resize(image, box, size)`` (pixel
    centres map as cv2.resize maps them)."""
    x_min, y_min, x_max, y_max = box
    scale = np.array([size / (x_max - x_min), size / (y_max - y_min)])
    return ((np.asarray(points, np.float64) - [x_min, y_min] + 0.5) * scale - 0.5).astype(np.float32)


def landmark_crop(image, pt2d, size=IMAGE_SIZE, margin=LANDMARK_MARGIN):
    """The authors' training / test crop of a 300W-LP or AFLW2000 image."""
    height, width = image.shape[:2]
    return crop_and_resize(image, landmark_box(pt2d, width, height, margin), size)


def detection_box(box, image_width, image_height, margin=DETECTION_MARGIN):
    """The authors' demo crop around a detector box (x, y, w, h): (x_min, y_min, x_max, y_max),
    end-exclusive, widened by ``margin`` times the box size on each side and clipped to the image."""
    x, y, w, h = box
    x_min = max(int(x - margin * w), 0)
    y_min = max(int(y - margin * h), 0)
    x_max = min(int(x + w + margin * w), image_width - 1) + 1
    y_max = min(int(y + h + margin * h), image_height - 1) + 1
    if x_max <= x_min or y_max <= y_min:
        raise ValueError(f"empty crop box x {x_min}:{x_max}, y {y_min}:{y_max}")
    return x_min, y_min, x_max, y_max
