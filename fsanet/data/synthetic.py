"""Synthetic head-pose data: a simple textured 3D head rendered at known yaw, pitch and roll.

For tests and smoke training with no external assets. The head is a few ellipsoids (skull, nose,
ears) with a painted face (eyes, brows, mouth, hair), ray-cast orthographically and shaded with one
light. Its pose uses the project's angle convention (``fsanet.core.pose.rotation_from_pose``), so the
axes drawn for a rendered head point where its nose and ears are.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from fsanet.core.pose import rotation_from_pose
from fsanet.core.progress import progress_bar
from fsanet.model.variants import IMAGE_SIZE

DEFAULT_RANGES = ((-80.0, 80.0), (-45.0, 45.0), (-40.0, 40.0))
"""Uniform sampling ranges (degrees) of yaw, pitch and roll."""

_LIGHT = np.array([-0.35, -0.5, 1.0]) / np.linalg.norm([-0.35, -0.5, 1.0])
_SUPERSAMPLE = 2


@dataclasses.dataclass(frozen=True)
class HeadIdentity:
    """Shape and colours of one synthetic person (BGR colours in 0..255)."""

    skull: tuple = (0.75, 0.95, 0.85)
    skin: tuple = (140.0, 170.0, 215.0)
    hair: tuple = (30.0, 40.0, 60.0)
    hairline: float = -0.45
    eye_height: float = -0.12
    eye_spacing: float = 0.3

    @classmethod
    def random(cls, rng):
        tone = rng.uniform(0.45, 1.0)
        return cls(skull=tuple(np.array(cls.skull) * rng.uniform(0.9, 1.1, 3)),
                   skin=tuple(np.array([150.0, 180.0, 230.0]) * tone + rng.uniform(-15, 15, 3)),
                   hair=tuple(rng.uniform(10, 120) * rng.uniform(0.6, 1.0, 3)),
                   hairline=rng.uniform(-0.6, -0.35),
                   eye_height=rng.uniform(-0.18, -0.06),
                   eye_spacing=rng.uniform(0.26, 0.34))


def _hit_ellipsoid(origin, direction, centre, radii):
    """Ray parameter of the first hit (inf where the ray misses)."""
    o = (origin - centre) / radii
    d = direction / radii
    a = d @ d
    b = 2.0 * o @ d
    c = np.einsum("ij,ij->i", o, o) - 1.0
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a)
    return np.where(disc > 0, t, np.inf)


def _paint(points, part, identity):
    """Albedo (BGR) of each surface point in head coordinates."""
    x, y, z = points.T
    colour = np.tile(np.array(identity.skin), (len(points), 1))
    skull = part == 0
    hair = skull & ((y < identity.hairline + 0.25 * np.abs(x)) | (z < -0.25))
    colour[hair] = identity.hair
    front = skull & (z > 0.3)
    for side in (-1, 1):
        ex, ey = side * identity.eye_spacing, identity.eye_height
        eye = front & (((x - ex) / 0.13) ** 2 + ((y - ey) / 0.065) ** 2 < 1)
        colour[eye] = (235, 235, 235)
        colour[front & (((x - ex) / 0.05) ** 2 + ((y - ey) / 0.05) ** 2 < 1)] = (40, 30, 25)
        brow = front & (np.abs(x - ex) < 0.15) & (np.abs(y - ey + 0.13 + 0.1 * np.abs(x - ex)) < 0.025)
        colour[brow] = np.array(identity.hair) * 0.8
    mouth = front & ((x / 0.22) ** 2 + ((y - 0.5) / 0.05) ** 2 < 1)
    colour[mouth] = (60, 60, 170)
    colour[part == 2] = np.array(identity.skin) * 0.9  # ears
    return colour


def render_head(yaw, pitch, roll, identity=None, size=IMAGE_SIZE, scale=1.0, shift=(0.0, 0.0),
                background=None):
    """A size x size uint8 BGR image of a head at the given pose (degrees, [yaw, pitch, roll])."""
    identity = identity or HeadIdentity()
    rotation = rotation_from_pose(yaw, pitch, roll)
    n = size * _SUPERSAMPLE
    half = 1.6 / scale  # the authors' crops leave a margin of about 0.6 face sizes around the face
    grid = (np.arange(n) + 0.5) / n * 2 * half - half
    u, v = np.meshgrid(grid - shift[0], grid - shift[1])
    camera = np.stack([u.ravel(), v.ravel(), np.full(u.size, 10.0)], axis=1)
    origin = camera @ rotation  # rotation.T applied to each row: camera -> head coordinates
    direction = np.array([0.0, 0.0, -1.0]) @ rotation
    parts = [((0.0, 0.0, 0.0), identity.skull),
             ((0.0, 0.12, identity.skull[2] - 0.07), (0.12, 0.22, 0.2)),
             ((-identity.skull[0], 0.05, -0.05), (0.1, 0.22, 0.12)),
             ((identity.skull[0], 0.05, -0.05), (0.1, 0.22, 0.12))]
    hits = np.stack([_hit_ellipsoid(origin, direction, np.array(c), np.array(r)) for c, r in parts])
    nearest = hits.argmin(axis=0)
    t = hits.min(axis=0)
    visible = np.isfinite(t)
    points = origin[visible] + t[visible, None] * direction
    part = np.minimum(nearest[visible], 2)
    centres = np.array([c for c, _ in parts])[nearest[visible]]
    radii = np.array([r for _, r in parts])[nearest[visible]]
    normals = (points - centres) / radii ** 2
    normals = (normals / np.linalg.norm(normals, axis=1, keepdims=True)) @ rotation.T
    shade = 0.35 + 0.65 * np.clip(normals @ _LIGHT, 0.0, 1.0)
    if background is None:
        background = np.full((n * n, 3), 128.0)
    else:
        background = cv2.resize(np.asarray(background, np.float64), (n, n)).reshape(-1, 3)
    image = background.copy()
    image[visible] = _paint(points, part, identity) * shade[:, None]
    image = image.reshape(n, n, 3)
    return cv2.resize(np.clip(image, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA)


def synthetic_dataset(count, seed=0, size=IMAGE_SIZE, ranges=DEFAULT_RANGES, progress=False):
    """(images (N, S, S, 3) uint8 BGR, poses (N, 3) float32 degrees), reproducible from ``seed``.

    Each sample draws its own person, pose (uniform in ``ranges``), scale, offset, background and
    sensor noise, so a model must read the pose from the head, not from a fixed template.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.uint8)
    poses = np.empty((count, 3), np.float32)
    for i in progress_bar(range(count), progress, desc="synthetic heads", unit="img"):
        pose = [rng.uniform(lo, hi) for lo, hi in ranges]
        corners = rng.uniform(0, 255, (2, 2, 3))
        image = render_head(*pose, identity=HeadIdentity.random(rng), size=size,
                            scale=rng.uniform(0.85, 1.15), shift=rng.uniform(-0.15, 0.15, 2),
                            background=corners)
        noise = rng.normal(0, 6, image.shape)
        images[i] = np.clip(image + noise, 0, 255).astype(np.uint8)
        poses[i] = pose
    return images, poses
