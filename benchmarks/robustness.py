"""The README's robustness table: the released 300W-LP fusion's MAE (degrees) on the AFLW2000 sample
crops as they are, turned in plane (``fsanet.rotate_in_plane``, labels turned to match) and with the
lower face masked (``fsanet.occlude`` on the full image from its 21 landmarks, then the usual crop).

    FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/robustness.py \\
        --aflw ../shared/data/aflw2000_samples
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fsanet.core.images import decode_image
from fsanet.data.robustness import occlude, rotate_in_plane
from fsanet.data.type1 import pair_type1_files, prepare_type1_sample, read_type1_labels
from fsanet.faces.crop import landmark_crop
from fsanet.hub.pretrained import load_pretrained

ANGLES = (-45, -30, -15, 15, 30, 45)


def mae(model, crops, poses):
    predicted = np.asarray(model(np.stack(crops).astype(np.float32)))
    per_angle = np.abs(predicted - np.stack(poses)).mean(axis=0)
    return per_angle.tolist() + [float(per_angle.mean())]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aflw", type=Path, required=True, help="a folder of AFLW2000 .jpg + .mat pairs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_pretrained("fusion", "300W_LP")
    pairs = pair_type1_files(args.aflw)[0]
    plain = [prepare_type1_sample(jpg, mat) for _, jpg, mat in pairs]
    rows = {"plain": mae(model, *zip(*plain))}
    for theta in ANGLES:
        rows[f"rotated {theta:+d} deg"] = mae(model, *zip(*(rotate_in_plane(c, p, theta) for c, p in plain)))
    rng = np.random.default_rng(args.seed)
    rows["rotated uniform [-45, 45]"] = mae(model, *zip(*(rotate_in_plane(c, p, rng.uniform(-45, 45))
                                                          for c, p in plain)))
    masked = []
    for i, (_, jpg, mat) in enumerate(pairs):
        pose, pt2d = read_type1_labels(mat)
        image = occlude(decode_image(jpg, cv2.IMREAD_COLOR), pt2d, seed=[args.seed, i])
        masked.append((landmark_crop(image, pt2d), pose))
    rows["masked (nose to chin)"] = mae(model, *zip(*masked))
    print(f"{len(plain)} AFLW2000 samples, released 300W-LP fusion; MAE in degrees")
    print("| test set | yaw | pitch | roll | mean |\n|---|---|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + " |")


if __name__ == "__main__":
    main()
