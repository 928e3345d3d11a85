"""Training throughput (images/s) of each fusion member at two batch sizes, and the projected
time of a full protocol 1 run (90 epochs over the 300W-LP training part).

    .venv/bin/python benchmarks/training.py [--steps 30]

Measures the compiled train step on random data (the tf.data pipeline runs 20x faster than
this, see benchmarks/data_pipeline.py, so it is not the bottleneck).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from fsanet.experiments.config import load_config
from fsanet.experiments.training import compile_model
from fsanet.model.models import build_variant
from fsanet.model.variants import FUSIONS

PROTOCOL1_TRAIN = int(122_450 * 0.8)  # before the ±99° filter, which drops about 1%


def images_per_second(alias, batch_size, steps, config):
    model = compile_model(build_variant(alias), config)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, 64, 64, 3)).astype(np.float32)
    y = rng.uniform(-90, 90, (batch_size, 3)).astype(np.float32)
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=10, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 128])
    args = parser.parse_args()
    config = load_config(Path(__file__).resolve().parent.parent / "configs/protocol1/capsule.toml")
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(f"device: {device}")
    for batch_size in args.batch_sizes:
        hours = 0.0
        for alias in FUSIONS["fusion"]:
            rate = images_per_second(alias, batch_size, args.steps, config)
            member_hours = PROTOCOL1_TRAIN * config.training.epochs / rate / 3600
            hours += member_hours
            print(f"batch {batch_size:4d}  {alias:12s} {rate:8.0f} images/s  "
                  f"full protocol 1 run: {member_hours:6.1f} h")
        print(f"batch {batch_size:4d}  fusion (3 members)            total: {hours:6.1f} h")


if __name__ == "__main__":
    main()
