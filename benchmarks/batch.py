"""``fsanet batch`` against the single-process library on the same inputs: frames/s with 1 and 2
pose actors on a local Ray, Ray's start-up cost on its own, and the memory of each actor.

    python -m benchmarks.batch [--copies 4] [--every 10]

Inputs: ``--copies`` links to obama.mp4 (158 frames each, one source each) and the shared photos.
The single-process figure is ``HeadPoseEstimator.analyze`` over every input in turn, model loaded
(the command's work without its start-up). Each batch run writes a fresh output folder; its fixed
cost (actors starting and loading the model and detectors, Ray Data scheduling, the final tables) is
its wall time minus the actors' time in units.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.inference import cpu_name

SHARED = Path(os.environ.get("FSANET_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def worker_rss(samples, stop):
    """Sample the resident memory (MiB) of every pose actor until ``stop`` is set."""
    while not stop.is_set():
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and b"UnitWorker" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    rss = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                    samples[entry] = max(samples.get(entry, 0), rss / 2**20)
            except OSError:
                pass
        stop.wait(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fsanet-batch-bench-"))
    inputs = [str(p) for p in sorted((SHARED / "data" / "images").glob("*.jpg"))]
    for i in range(args.copies):
        (folder / f"clip{i}.mp4").symlink_to(SHARED / "data" / "video" / "obama.mp4")
        inputs.append(str(folder / f"clip{i}.mp4"))

    from fsanet.api.estimator import HeadPoseEstimator
    from fsanet.batch.job import connect, model_file, run_batch
    model = model_file("fusion", "300W_LP")  # the same ONNX file for both: no conversion timed
    estimator = HeadPoseEstimator(model)
    start = time.perf_counter()
    frames = sum(1 for path in inputs for _ in estimator.analyze(path, args.every))
    single = frames / (time.perf_counter() - start)

    start = time.perf_counter()
    ray = connect(num_cpus=2)
    ray_start = time.perf_counter() - start
    print(f"CPU: {cpu_name()} ({len(os.sched_getaffinity(0))} cores); {frames} frames "
          f"({args.copies} x obama.mp4 + {len(inputs) - args.copies} photos), every {args.every}")
    print(f"Ray start-up (ray.init, local): {ray_start:.1f} s")
    print("| run | frames/s, wall | vs one process | frames/s inside units | fixed cost (s) | memory per worker (MiB) |")
    print("|---|---|---|---|---|---|")
    print(f"| one process (analyze, model loaded) | {single:.1f} | 1.00x | {single:.1f} | - | - |")
    for workers in (1, 2):
        samples, stop = {}, threading.Event()
        sampler = threading.Thread(target=worker_rss, args=(samples, stop), daemon=True)
        sampler.start()
        result = run_batch(inputs, folder / f"out{workers}", str(model), every=args.every, segment_frames=50,
                           workers=workers, report=lambda line: None)
        stop.set()
        sampler.join()
        rate = result["frames"] / result["seconds"]
        inside = result["frames"] / (result["unit_seconds"] / workers)  # the actors' work, side by side
        print(f"| batch, {workers} worker{'s' * (workers > 1)} | {rate:.1f} | {rate / single:.2f}x | {inside:.1f} | "
              f"{result['seconds'] - result['unit_seconds'] / workers:.1f} | {max(samples.values(), default=0):.0f} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
