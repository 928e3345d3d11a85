"""The authors' training augmentation (SPEC §6) and a seeded, resumable tf.data pipeline.

Per image, with probability 1/4 each: (a) random crop losing dn in [1, 15] pixels in total per axis,
resized back with bicubic interpolation; (b) that crop pasted at a random offset on a black canvas;
(c) the same on a white canvas; (d) nothing. Then, with probability 0.7, a random zoom with independent
factors in [0.8, 1.2] per axis (Keras 2's ``random_zoom``: bilinear, nearest-edge fill). No flips.

Randomness comes from ``numpy.random.default_rng([seed, epoch, index])``: an image's augmentation
depends only on the seed, the epoch and its index, never on worker scheduling, so a run resumed at
epoch k sees exactly the images an uninterrupted run would have seen.

Beyond the authors' recipe, ``occlude`` paints a surgical-mask-like occlusion over the lower face
(``fsanet.data.robustness.occlude``, from the sample's 68 landmarks; label unchanged) before the
authors' augmentation moves the image, and ``rotate`` turns images in the image plane (label turned
to match) after it; each draws from its own generator, ``[seed, epoch, index, 2]`` and
``[seed, epoch, index, 1]``, so the authors' augmentation of every image stays the same with or
without them.
"""

from __future__ import annotations

import cv2
import numpy as np
import tensorflow as tf

from fsanet.data.robustness import occlude, rotate_in_plane
from fsanet.errors import ArgumentValueError

MAX_CROP = 15
ZOOM_RANGE = (0.8, 1.2)
ZOOM_PROBABILITY = 0.7


def _crop_window(rng, size, dn):
    start = int(rng.integers(dn))
    return start, size - (dn - start)


def random_crop(image, rng, dn):
    """Drop dn pixels per axis, split at random between the two sides, and resize back (bicubic)."""
    h, w = image.shape[:2]
    y0, y1 = _crop_window(rng, h, dn)
    x0, x1 = _crop_window(rng, w, dn)
    return cv2.resize(image[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_CUBIC)


def random_shift_on_canvas(image, rng, dn, fill):
    """The same crop, pasted at an independent random offset on a canvas of value ``fill``."""
    h, w = image.shape[:2]
    y0, y1 = _crop_window(rng, h, dn)
    x0, x1 = _crop_window(rng, w, dn)
    ty, tx = int(rng.integers(dn)), int(rng.integers(dn))
    canvas = np.full_like(image, fill)
    canvas[ty:ty + (y1 - y0), tx:tx + (x1 - x0)] = image[y0:y1, x0:x1]
    return canvas


def random_zoom(image, rng, zoom_range=ZOOM_RANGE):
    """Zoom by independent factors per axis about the centre; a factor > 1 shows more (zooms out)."""
    h, w = image.shape[:2]
    zy, zx = rng.uniform(*zoom_range, size=2)
    cy, cx = h / 2 + 0.5, w / 2 + 0.5  # Keras 2's transform centre
    matrix = np.array([[zx, 0, cx - zx * cx], [0, zy, cy - zy * cy]], np.float64)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def augment(image, rng):
    """One augmented copy of a uint8 HxWx3 image (the input is not modified)."""
    choice = rng.random()
    if choice < 0.75:
        dn = int(rng.integers(MAX_CROP)) + 1
        if choice < 0.25:
            image = random_crop(image, rng, dn)
        else:
            image = random_shift_on_canvas(image, rng, dn, 0 if choice < 0.5 else 255)
    if rng.random() < ZOOM_PROBABILITY:
        image = random_zoom(image, rng)
    return image


def epoch_order(num_samples, seed, epoch):
    """The shuffled sample order of one epoch, a function of (seed, epoch) only."""
    return np.random.default_rng([seed, epoch]).permutation(num_samples)


def steps_per_epoch(num_samples, batch_size):
    """Batches in one pass over the data (the last one may be smaller)."""
    return -(-num_samples // batch_size)


def random_rotation(image, pose, rng, degrees, probability):
    """With ``probability``, the image turned by a uniform angle in ``degrees`` (lo, hi) and its pose
    turned to match (``rotate_in_plane``); else both unchanged."""
    if rng.random() >= probability:
        return image, pose
    return rotate_in_plane(image, pose, rng.uniform(*degrees))


def random_occlusion(image, landmarks, rng, probability):
    """With ``probability``, the image with a mask over the lower face (``occlude``, its look drawn
    from ``rng``); else unchanged."""
    if rng.random() >= probability:
        return image
    return occlude(image, landmarks, "mask", rng)


def training_dataset(images, poses, batch_size, seed, epoch, augmentation=True, shuffle=True,
                     epochs=None, rotate=(), rotate_probability=0.5, occlude_probability=0.0, landmarks=None):
    """A tf.data pipeline of (float32 images (B, S, S, 3) 0..255, float32 poses (B, 3)).

    Yields epoch ``epoch`` and the following ones up to ``epochs`` (exclusive; default: just that
    one), each a full pass of ``steps_per_epoch`` batches, so ``model.fit(initial_epoch=epoch)``
    resumes mid-run on exactly the batches an uninterrupted run would see. Batches are assembled
    in parallel workers; the result depends only on (seed, epoch). ``rotate`` (lo, hi) degrees:
    with ``rotate_probability``, each image turned in plane (``random_rotation``), label with it.
    ``occlude_probability``: of masking each image (``random_occlusion``) from ``landmarks``
    (N, 68, 2), the images' landmarks in pixels.
    """
    if occlude_probability and np.shape(landmarks) != (len(images), 68, 2):
        raise ArgumentValueError(f"masks need the (N, 68, 2) landmarks of the {len(images)} images, "
                                 f"got shape {np.shape(landmarks)}")
    epochs = epoch + 1 if epochs is None else epochs
    num_samples = len(images)

    def order(e):
        return (epoch_order(num_samples, seed, int(e)) if shuffle else np.arange(num_samples)).astype(np.int64)

    def make_batch(e, indices):
        batch = np.empty((len(indices),) + images.shape[1:], np.float32)
        labels = poses[indices].astype(np.float32)
        for j, i in enumerate(indices):
            image = images[i]
            if occlude_probability:
                image = random_occlusion(image, landmarks[i], np.random.default_rng([seed, int(e), int(i), 2]),
                                         occlude_probability)
            if augmentation:
                image = augment(image, np.random.default_rng([seed, int(e), int(i)]))
            if rotate:
                image, labels[j] = random_rotation(image, labels[j], np.random.default_rng([seed, int(e), int(i), 1]),
                                                   rotate, rotate_probability)
            batch[j] = image
        return batch, labels

    def one_epoch(e):
        indices = tf.numpy_function(order, [e], tf.int64)
        indices.set_shape((num_samples,))
        return tf.data.Dataset.from_tensor_slices(indices).batch(batch_size).map(lambda i: (e, i))

    def load(e, indices):
        batch, labels = tf.numpy_function(make_batch, [e, indices], (tf.float32, tf.float32))
        batch.set_shape((None,) + images.shape[1:])
        labels.set_shape((None, 3))
        return batch, labels

    return (tf.data.Dataset.range(epoch, epochs).flat_map(one_epoch)
            .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))
