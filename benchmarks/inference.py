"""Batch-1 latency and batch-64 throughput of capsule and the fusion on every PosePredictor backend,
next to the authors' frozen graphs, all in one process, plus the machine's float32 GEMM rate.

Every runner is timed in interleaved rounds (each round times each runner once), so load from other
processes falls on all of them alike; the figures are medians over rounds. Thread settings:

- the authors' frozen graphs (TF1 sessions with their own pools): TensorFlow's default (every core
  per op) and ``configure_cpu_threads()``'s (1 thread per op, 2 ops in flight); ratios use the faster;
- keras: ``configure_cpu_threads()``, set before anything runs;
- onnxruntime (spinning off) and litert: one instance with 1 intra-op thread, one with a thread per
  core, and PosePredictor's way ("chunks"): 1 thread up to 8 images, beyond that chunks of 8 on
  single-threaded instances, one worker per core (``fsanet.deploy.backends``);
- with ``--int8``, also the int8 LiteRT file (calibrated on synthetic heads; not at parity).

The fusion's batch-64 throughput is also given as a share of the machine's float32 GEMM rate
(``gemm_gflops``) at 90 MFLOP per fusion image (TensorFlow's profiler counts 89.3). Prints a
Markdown table.

    FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/inference.py \\
        --frozen-graphs ../shared/official/converted-models/tf
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fsanet.deploy.threads import configure_cpu_threads

configure_cpu_threads()

from fsanet import get_variant  # noqa: E402
from fsanet.deploy.backends import converted_runner  # noqa: E402
from fsanet.deploy.export import export  # noqa: E402
from fsanet.deploy.runners import KerasRunner, LiteRTRunner  # noqa: E402
from fsanet.hub.frozen_graph import FrozenGraph  # noqa: E402
from fsanet.hub.pretrained import load_pretrained  # noqa: E402
from fsanet.model.variants import FUSIONS  # noqa: E402

FUSION_MFLOP = 90
CORES = os.cpu_count() or 1
AUTHORS = "authors' frozen graph"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


GEMM_CODE = """
import time, tensorflow as tf
a = tf.random.normal((2048, 2048))
matmul = tf.function(lambda a: tf.matmul(a, a))
matmul(a).numpy()
best = min((lambda start: (matmul(a).numpy(), time.perf_counter() - start)[1])(time.perf_counter())
           for _ in range(10))
print(2 * 2048 ** 3 / best / 1e9)
"""


def gemm_gflops() -> float:
    """The machine's float32 GEMM rate: a 2048^3 TensorFlow (oneDNN) matmul with TensorFlow's
    default thread pools (every core), best of 10, in a fresh process (this one's pools are tuned
    for small ops). NumPy's OpenBLAS picks AVX2 kernels on this CPU and reaches less."""
    out = subprocess.run([sys.executable, "-c", GEMM_CODE], capture_output=True, text=True, check=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")).stdout
    return float(out.split()[-1])


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def runners(model_name, graphs_dir: Path, int8: bool) -> dict:
    """{(implementation, threads): callable} for one model (a variant or the fusion)."""
    members = FUSIONS.get(model_name, (model_name,))
    model = load_pretrained(model_name)
    found = {}
    for threads, setting in (((CORES, CORES), "TF default"), ((1, 2), "1 per op, 2 in flight")):
        graphs = [FrozenGraph(graphs_dir / f"{get_variant(m).name}.pb", threads=threads) for m in members]
        found[(AUTHORS, setting)] = (graphs[0] if len(graphs) == 1 else
                                     lambda x, graphs=graphs: np.mean([g(x) for g in graphs], 0))
    found[("keras", "1 per op, 2 in flight")] = KerasRunner(model)
    backends = {backend: converted_runner(model, backend) for backend in ("onnxruntime", "litert")}
    if int8:
        path = Path(tempfile.mkdtemp()) / f"{model_name}_int8.tflite"
        backends["litert int8"] = LiteRTRunner(export(model, path, "litert", int8="synthetic"))
    for backend, runner in backends.items():
        for threads in sorted({1, CORES}):
            found[(backend, f"{threads}")] = runner.open(threads)
        found[(backend, f"chunks, {CORES} workers")] = runner
    return found


def measure(found: dict, rounds: int) -> dict:
    """{key: (batch-1 ms, batch-64 images/s)}: medians over interleaved rounds."""
    rng = np.random.default_rng(0)
    batches = {n: rng.uniform(0, 255, (n, 64, 64, 3)).astype(np.float32) for n in (1, 64)}
    for fn in found.values():
        for batch in batches.values():
            fn(batch), fn(batch)
    times = {key: {1: [], 64: []} for key in found}
    for _ in range(rounds):
        for key, fn in found.items():
            times[key][1].append(np.median([_seconds(lambda: fn(batches[1])) for _ in range(20)]))
            times[key][64].append(_seconds(lambda: fn(batches[64])))
    return {key: (1000 * np.median(t[1]), 64 / np.median(t[64])) for key, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frozen-graphs", type=Path, required=True,
                        help="folder with the authors' converted-models/tf/*.pb")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--int8", action="store_true", help="also time the int8 LiteRT file")
    args = parser.parse_args()
    gemm = gemm_gflops()
    print(f"CPU: {cpu_name()}, {CORES} cores; float32 GEMM rate (TensorFlow matmul, 2048^3, every "
          f"core): {gemm:.0f} GFLOP/s\n")
    print("| model | implementation | threads | batch 1 latency (ms) | batch 64 (images/s) "
          "| time vs authors' best, batch 1 / 64 |")
    print("|---|---|---|---:|---:|---:|")
    summary = []
    for model_name in ("capsule", "fusion"):
        results = measure(runners(model_name, args.frozen_graphs, args.int8), args.rounds)
        best_latency = min(r[0] for (impl, _), r in results.items() if impl == AUTHORS)
        best_rate = max(r[1] for (impl, _), r in results.items() if impl == AUTHORS)
        for (impl, threads), (latency, rate) in results.items():
            print(f"| {model_name} | {impl} | {threads} | {latency:.2f} | {rate:.0f} "
                  f"| {latency / best_latency:.2f} / {best_rate / rate:.2f} |")
        ours = {k: r for k, r in results.items() if k[0] not in (AUTHORS, "litert int8")}
        fastest_1 = min(ours, key=lambda k: ours[k][0])
        fastest_64 = max(ours, key=lambda k: ours[k][1])
        summary.append(f"{model_name}: fastest at parity, batch 1: {fastest_1[0]} ({fastest_1[1]}), "
                       f"{ours[fastest_1][0] / best_latency:.2f}x the authors' time; batch 64: "
                       f"{fastest_64[0]} ({fastest_64[1]}), {best_rate / ours[fastest_64][1]:.2f}x")
        if model_name == "fusion":
            rate = ours[fastest_64][1]
            gflops = rate * FUSION_MFLOP / 1000
            summary.append(f"fusion batch 64: {rate:.0f} images/s x {FUSION_MFLOP} MFLOP = {gflops:.1f} "
                           f"GFLOP/s, {100 * gflops / gemm:.0f}% of the GEMM rate")
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
