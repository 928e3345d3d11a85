"""Batch-1 latency and batch-64 throughput: ours (PosePredictor) next to the authors' frozen graphs.

Runs each thread setting in its own process (TensorFlow fixes its thread pools at start-up):
TensorFlow's defaults, and ``configure_cpu_threads()`` (1 thread per op, 2 ops in flight).
The frozen graphs run in the same process under the same setting. Prints a Markdown table.

    FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/inference.py \
        --frozen-graphs ../shared/official/converted-models/tf
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEMBERS = ("capsule", "var_capsule", "noS_capsule")


def _median_ms(fn, batch, repeats):
    for _ in range(10):
        fn(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def measure(threads: str, graphs_dir: Path, repeats: int) -> list:
    from fsanet.inference import PosePredictor, configure_cpu_threads
    if threads == "tuned":
        configure_cpu_threads()
    from fsanet import get_variant
    from fsanet.frozen_graph import FrozenGraph
    from fsanet.pretrained import load_pretrained

    rng = np.random.default_rng(0)
    batches = {n: rng.uniform(0, 255, (n, 64, 64, 3)).astype(np.float32) for n in (1, 64)}
    graphs = {a: FrozenGraph(graphs_dir / f"{get_variant(a).name}.pb") for a in MEMBERS}
    runners = {
        ("capsule", "ours"): PosePredictor(load_pretrained("capsule")).predict_prepared,
        ("capsule", "authors' frozen graph"): graphs["capsule"],
        ("fusion", "ours"): PosePredictor(load_pretrained("fusion")).predict_prepared,
        ("fusion", "authors' frozen graph"): lambda x: np.mean([graphs[a](x) for a in MEMBERS], 0),
    }
    rows = []
    for (model, impl), fn in runners.items():
        latency = _median_ms(fn, batches[1], repeats)
        batch_ms = _median_ms(fn, batches[64], max(repeats // 10, 5))
        rows.append(dict(threads=threads, model=model, impl=impl, batch1_ms=latency,
                         batch64_images_per_s=64000.0 / batch_ms))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frozen-graphs", type=Path, required=True,
                        help="folder with the authors' converted-models/tf/*.pb")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--threads", choices=("default", "tuned"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        print(json.dumps(measure(args.threads, args.frozen_graphs, args.repeats)))
        return
    rows = []
    for threads in ("default", "tuned"):
        out = subprocess.run([sys.executable, __file__, "--threads", threads, "--frozen-graphs",
                              str(args.frozen_graphs), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")).stdout
        rows += json.loads(out.strip().splitlines()[-1])
    print(f"CPU: {os.cpu_count()} cores\n")
    print("| threads | model | implementation | batch 1 latency (ms) | batch 64 (images/s) |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['threads']} | {r['model']} | {r['impl']} | {r['batch1_ms']:.2f} "
              f"| {r['batch64_images_per_s']:.0f} |")


if __name__ == "__main__":
    main()
