"""The README's robustness table: the released 300W-LP fusion on the 16 AFLW2000 samples, plain, masked
(``fsanet.occlude``) and turned in plane (``fsanet.rotate_in_plane``, labels turned), each set built as
``fsanet prepare-type1 --occlusion / --rotate`` builds it (``fsanet.data.type1.Perturbation``).

    FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/robustness.py \\
        --aflw ../shared/data/aflw2000_samples
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fsanet.data.type1 import Perturbation, pair_type1_files, prepare_type1_sample
from fsanet.deploy.predictor import PosePredictor
from fsanet.hub.pretrained import load_pretrained

SETS = {"plain": None, "mask": Perturbation("mask"), "turned +30°": Perturbation(rotate=30.0),
        "turned -30°": Perturbation(rotate=-30.0), "turned random ±45°": Perturbation(rotate="random"),
        "mask + turned random ±45°": Perturbation("mask", "random")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aflw", type=Path, required=True, help="a folder of AFLW2000 .jpg + .mat pairs")
    parser.add_argument("--model", default="fusion")
    args = parser.parse_args()
    predictor = PosePredictor(load_pretrained(args.model, protocol="300W_LP"), backend="keras")
    pairs = pair_type1_files(args.aflw)[0]
    print("| test set (16 AFLW2000 samples) | yaw | pitch | roll | MAE | MAE vs unturned labels |")
    print("|---|---|---|---|---|---|")
    plain_poses = None
    for name, perturbation in SETS.items():
        samples = [prepare_type1_sample(jpg, mat, perturbation=perturbation) for _, jpg, mat in pairs]
        crops, poses = np.stack([c for c, _ in samples]), np.stack([p for _, p in samples])
        plain_poses = poses if plain_poses is None else plain_poses
        errors = np.abs(predictor(list(crops)) - poses).mean(axis=0)
        stale = np.abs(predictor(list(crops)) - plain_poses).mean()  # had the labels not been turned
        print(f"| {name} | {errors[0]:.2f} | {errors[1]:.2f} | {errors[2]:.2f} | {errors.mean():.2f} | {stale:.2f} |")


if __name__ == "__main__":
    main()
