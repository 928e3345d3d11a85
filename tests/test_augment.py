"""The authors' augmentation and the seeded pipeline."""

import numpy as np
import pytest

from fsanet.data.augment import (augment, epoch_order, random_crop, random_shift_on_canvas, random_zoom,
                                 steps_per_epoch, training_dataset)


def _image(seed=0):
    return np.random.default_rng(seed).integers(1, 255, (64, 64, 3), dtype=np.uint8)


def test_random_crop_keeps_size_and_changes_content():
    image = _image()
    out = random_crop(image, np.random.default_rng(1), dn=10)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)


def test_shift_on_canvas_fills_with_the_canvas_value():
    image = _image()  # values 1..254: canvas pixels are recognisable
    for fill in (0, 255):
        out = random_shift_on_canvas(image, np.random.default_rng(2), dn=15, fill=fill)
        canvas = (out == fill).all(axis=2)
        # 15 pixels per axis are lost: at least 64*64 - 49*49 canvas pixels.
        assert canvas.sum() >= 64 * 64 - 49 * 49
        kept = out[~canvas]
        assert kept.size and (kept != fill).any()


def test_zoom_identity_and_range():
    image = _image()
    rng = np.random.default_rng(3)
    out = random_zoom(image, rng, zoom_range=(1.0, 1.0))
    assert np.abs(out.astype(int) - image).max() <= 1
    assert random_zoom(image, rng).shape == image.shape


def test_augment_branch_frequencies():
    image = _image()
    unchanged = sum(np.array_equal(augment(image, np.random.default_rng([5, i])), image)
                    for i in range(2000))
    # P(no crop) * P(no zoom) = 0.25 * 0.3 = 0.075
    assert 0.05 < unchanged / 2000 < 0.10


def test_pipeline_is_deterministic_per_seed_and_epoch():
    images = np.stack([_image(i) for i in range(40)])
    poses = np.arange(120, dtype=np.float32).reshape(40, 3)

    def run(seed, epoch):
        return [(x.numpy(), y.numpy()) for x, y in training_dataset(images, poses, 16, seed, epoch)]

    first, again, other = run(7, 3), run(7, 3), run(7, 4)
    assert [b[0].shape for b in first] == [(16, 64, 64, 3), (16, 64, 64, 3), (8, 64, 64, 3)]
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][1], other[0][1])
    # Labels travel with their images: each label row identifies its sample.
    labels = np.concatenate([y for _, y in first])
    np.testing.assert_array_equal(labels[:, 0] / 3, epoch_order(40, 7, 3))


def test_pipeline_without_augmentation_returns_the_images():
    images = np.stack([_image(i) for i in range(5)])
    poses = np.zeros((5, 3), np.float32)
    (x, _), = list(training_dataset(images, poses, 8, 0, 0, augmentation=False, shuffle=False))
    np.testing.assert_array_equal(x, images.astype(np.float32))


def test_stream_of_epochs_equals_the_epochs_one_by_one():
    images = np.stack([_image(i) for i in range(20)])
    poses = np.arange(60, dtype=np.float32).reshape(20, 3)
    stream = [x.numpy() for x, _ in training_dataset(images, poses, 8, 3, 2, epochs=5)]
    single = [x.numpy() for e in (2, 3, 4) for x, _ in training_dataset(images, poses, 8, 3, e)]
    assert len(stream) == len(single) == 3 * steps_per_epoch(20, 8) == 9
    for a, b in zip(stream, single):
        np.testing.assert_array_equal(a, b)


def test_rotation_augmentation_turns_labels_and_leaves_the_authors_augmentation_alone():
    from fsanet.data.augment import training_dataset
    from fsanet.core.pose import rotation_from_pose
    images = np.random.default_rng(0).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    poses = np.tile(np.array([[10.0, 5.0, 0.0]], np.float32), (6, 1))
    plain = next(iter(training_dataset(images, poses, 6, seed=3, epoch=0, shuffle=False)))
    turned = next(iter(training_dataset(images, poses, 6, seed=3, epoch=0, shuffle=False,
                                        rotate=(-45, 45), rotate_probability=0.5)))
    again = next(iter(training_dataset(images, poses, 6, seed=3, epoch=0, shuffle=False,
                                       rotate=(-45, 45), rotate_probability=0.5)))
    assert all(np.array_equal(a, b) for a, b in zip(turned, again))  # seeded
    changed = np.any(turned[1].numpy() != plain[1].numpy(), axis=1)
    assert 0 < changed.sum() < 6  # about half turned
    for j in np.nonzero(~changed)[0]:
        assert np.array_equal(turned[0][j], plain[0][j])  # unturned: the authors' augmentation as before
    for j in np.nonzero(changed)[0]:  # turned: the label is the pose turned about the camera axis, |turn| <= 45
        turn = rotation_from_pose(*turned[1][j].numpy()) @ rotation_from_pose(*poses[j]).T
        assert turn[2, 2] == pytest.approx(1, abs=1e-5)
        assert abs(np.degrees(np.arctan2(turn[1, 0], turn[0, 0]))) <= 45 + 1e-3


def test_mask_augmentation_is_seeded_keeps_labels_and_masks_about_its_share():
    """``occlude_probability``: each image masked (from its landmarks) with that probability, its
    own generator: labels unchanged, unmasked images exactly as without the option."""
    import fsanet
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (64, 64, 64, 3), dtype=np.uint8)
    poses = rng.uniform(-60, 60, (64, 3)).astype(np.float32)
    jaw = np.stack([np.linspace(10, 54, 17), 30 + 20 * np.sin(np.linspace(0, np.pi, 17))], axis=1)
    face = np.vstack([jaw, np.tile([[32.0, 26.0]], (51, 1))])  # a jaw line and the nose bridge at (32, 26)
    landmarks = np.tile(face[None], (64, 1, 1)).astype(np.float32)

    def first_batch(**options):
        return [t.numpy() for t in next(iter(training_dataset(images, poses, 64, seed=5, epoch=0, shuffle=False,
                                                              **options)))]
    plain = first_batch()
    masked = first_batch(occlude_probability=0.5, landmarks=landmarks)
    np.testing.assert_array_equal(masked[0], first_batch(occlude_probability=0.5, landmarks=landmarks)[0])
    np.testing.assert_array_equal(masked[1], plain[1])  # labels unchanged
    changed = np.any(masked[0] != plain[0], axis=(1, 2, 3))
    assert 20 <= changed.sum() <= 44  # about half of 64
    np.testing.assert_array_equal(masked[0][~changed], plain[0][~changed])
    assert np.any(first_batch(occlude_probability=1.0, landmarks=landmarks)[0] != plain[0], axis=(1, 2, 3)).all()
    with pytest.raises(fsanet.FSANetError, match="masks need the"):
        training_dataset(images, poses, 8, 0, 0, occlude_probability=0.5)
