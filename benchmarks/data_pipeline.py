"""Throughput of the data side on this machine: type1 crop preparation and the augmented pipeline.

    .venv/bin/python benchmarks/data_pipeline.py --samples ../shared/data/aflw2000_samples
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from fsanet.data.augment import training_dataset
from fsanet.data.type1 import pair_type1_files, prepare_type1_sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, required=True, help="a folder of .jpg + .mat samples")
    parser.add_argument("--images", type=int, default=20000, help="pipeline images to time")
    args = parser.parse_args()

    pairs, _ = pair_type1_files(args.samples)
    start = time.perf_counter()
    rounds = max(1, 200 // len(pairs))
    for _ in range(rounds):
        for _, jpg, mat in pairs:
            prepare_type1_sample(jpg, mat)
    crop_rate = rounds * len(pairs) / (time.perf_counter() - start)
    print(f"type1 preparation (read jpg + mat, crop, resize), one process: {crop_rate:.0f} images/s")

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4096, 64, 64, 3), dtype=np.uint8)
    poses = rng.uniform(-90, 90, (4096, 3)).astype(np.float32)
    for batch_size in (16, 128):
        seen, epoch, start = 0, 0, time.perf_counter()
        while seen < args.images:
            for x, _ in training_dataset(images, poses, batch_size, seed=0, epoch=epoch):
                seen += len(x)
            epoch += 1
        rate = seen / (time.perf_counter() - start)
        print(f"augmented tf.data pipeline, batch {batch_size}: {rate:.0f} images/s")


if __name__ == "__main__":
    main()
