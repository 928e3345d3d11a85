"""``fsanet batch`` against the single-process library on the same inputs: frames/s with one and
two detection actors (and one pose actor) on a local Ray, Ray's start-up cost on its own, and the
memory of each stage's actors.

    python -m benchmarks.batch [--copies 4] [--every 10]

Inputs: ``--copies`` links to obama.mp4 (158 frames each, one source each) and the shared photos.
The single-process figure is ``HeadPoseEstimator.analyze`` over every input in turn, model loaded
(the command's work without its start-up). Each batch run writes a fresh output folder; its fixed
cost (actors starting and loading the model and detectors, Ray Data scheduling, the final tables) is
its wall time minus the detection actors' time in units (detection is the slowest stage).
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


STAGE_CLASSES = ("DetectStage", "PoseStage")
RUNS = (("detect 1 + pose 1 (1 CPU each, the default)", {"detect": 1, "pose": 1}, None),
        ("detect 2 + pose 1 (no CPU reserved for pose)", {"detect": 2, "pose": 1}, {"detect": 1, "pose": 0}))


def worker_rss(samples, stop):
    """Sample the resident memory (MiB) of every stage actor until ``stop`` is set:
    {(stage class, pid): MiB}."""
    while not stop.is_set():
        for entry in os.listdir("/proc"):
            try:
                if not entry.isdigit():
                    continue
                line = Path(f"/proc/{entry}/cmdline").read_bytes()
                for stage in STAGE_CLASSES:
                    if stage.encode() in line:
                        rss = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                        samples[stage, entry] = max(samples.get((stage, entry), 0), rss / 2**20)
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
    print("| run | frames/s, wall | vs one process | frames/s in detection | pose ms per frame | fixed cost (s) | "
          "memory per actor (MiB): detect, pose |")
    print("|---|---|---|---|---|---|---|")
    print(f"| one process (analyze, model loaded) | {single:.1f} | 1.00x | - | - | - | - |")
    for index, (name, workers, cpus) in enumerate(RUNS):
        samples, stop = {}, threading.Event()
        sampler = threading.Thread(target=worker_rss, args=(samples, stop), daemon=True)
        sampler.start()
        result = run_batch(inputs, folder / f"out{index}", str(model), every=args.every, segment_frames=50,
                           workers=workers, num_cpus=cpus, report=lambda line: None)
        stop.set()
        sampler.join()
        rate = result["frames"] / result["seconds"]
        detecting = result["stage_seconds"]["detect"] / workers["detect"]  # the actors' work, side by side
        memory = ", ".join(f"{max((v for (s, _), v in samples.items() if s == stage), default=0):.0f}"
                           for stage in STAGE_CLASSES)
        print(f"| batch, {name} | {rate:.1f} | {rate / single:.2f}x | {result['frames'] / detecting:.1f} | "
              f"{1000 * result['stage_seconds']['pose'] / result['frames']:.2f} | {result['seconds'] - detecting:.1f} | "
              f"{memory} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
