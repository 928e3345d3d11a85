"""End-to-end demo speed on a video: FPS and milliseconds per frame for each stage.

    FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/demo_fps.py \
        --video ../shared/data/video/obama.mp4 --setup dlib:5 --setup dlib:10 --setup mtcnn:5

Each ``--setup DETECTOR:N`` (detection every N frames, face tracks carried in between) runs the
demo's pipeline as ``fsanet demo VIDEO --data ...`` does: decoding and encoding in their background
threads, detection, tracking, pose (one batch per frame, the fusion's members kept for their spread),
drawing, one data row per face. The setups run in turn, ``--repeat`` times, after one untimed warm-up
each, so every setup sees the same share of a busy machine; the median run of each is printed, and
its FPS relative to the first setup's. Main-thread stages add up to the frame time; the two
background threads' own time (decoding, encoding) runs beside them on the second core. "CPU" is the
processor time of all threads per frame: on a machine whose two cores are free the pipeline cannot
exceed 2000 / CPU frames per second, nor 1000 / (main-thread ms); other processes' load lowers the FPS
but hardly the CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fsanet.deploy.threads import configure_cpu_threads

configure_cpu_threads()

from fsanet.deploy.backends import BACKENDS  # noqa: E402
from fsanet.deploy.predictor import PosePredictor  # noqa: E402
from fsanet.faces.detectors import make_detector  # noqa: E402
from fsanet.hub.model_spec import resolve_model  # noqa: E402
from fsanet.video.media import Source  # noqa: E402
from fsanet.video.pipeline import PoseAnnotator, run_source  # noqa: E402
from fsanet.video.records import RecordWriter  # noqa: E402

MAIN_STAGES = ("waiting for frames", "detection", "pose", "drawing", "data", "waiting for the encoder")
THREADS = ("decoding (thread)", "encoding (thread)")


def setup(text):
    detector, _, every = text.partition(":")
    return detector, int(every or 5)


def run_once(video, detector, predictor, every, out, write_video):
    annotator = PoseAnnotator(detector, predictor, every)
    cpu = time.process_time()
    with RecordWriter(Path(out) / "data.csv", smoothed=False) as data:
        summary = run_source(Source(video), annotator, Path(out) / "annotated.mp4" if write_video else None,
                             report=lambda *_: None, data=data)
    summary["cpu"] = time.process_time() - cpu
    summary["tracks"] = annotator.tracker.next_id
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--setup", type=setup, action="append",
                        help="DETECTOR:N, detection every N frames (default: dlib:10, the demo's); repeatable")
    parser.add_argument("--model", default="fusion")
    parser.add_argument("--backend", choices=BACKENDS, help="pose runtime (default: the demo's)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-video", action="store_true", help="data only, no annotated video")
    args = parser.parse_args()
    setups = args.setup or [("dlib", 10)]
    predictor = PosePredictor(resolve_model(args.model), normalize=True, backend=args.backend)
    detectors = {name: make_detector(name) for name, _ in setups}
    runs = {s: [] for s in setups}
    with tempfile.TemporaryDirectory() as out:
        for name, every in setups:  # warm-up: detector, pose function, codec
            run_once(args.video, detectors[name], predictor, every, out, not args.no_video)
        for _ in range(args.repeat):
            for name, every in setups:
                runs[(name, every)].append(run_once(args.video, detectors[name], predictor, every, out,
                                                    not args.no_video))
    print(f"{args.video}, model {args.model}, {'data only' if args.no_video else 'annotated video + data'}, "
          f"median of {args.repeat} runs; ms per frame")
    print("| detector, every N | FPS (runs) | relative | " + " | ".join(MAIN_STAGES + THREADS)
          + " | CPU | pose per face | frames, faces, tracks |")
    print("|---|---|---:|" + "---:|" * (len(MAIN_STAGES) + len(THREADS) + 2) + "---|")
    baseline = None
    for (name, every), summaries in runs.items():
        fps = [s["frames"] / s["seconds"] for s in summaries]
        median = sorted(summaries, key=lambda s: s["frames"] / s["seconds"])[len(summaries) // 2]
        baseline = baseline or statistics.median(fps)
        frames = median["frames"]
        stages = [1000 * median["timings"].get(stage, 0.0) / frames for stage in MAIN_STAGES + THREADS]
        faces = sum(median["faces"])
        print(f"| {name}, {every} | {statistics.median(fps):.1f} ({', '.join(f'{f:.1f}' for f in fps)}) | "
              f"{statistics.median(fps) / baseline:.2f} | " + " | ".join(f"{v:.2f}" for v in stages)
              + f" | {1000 * median['cpu'] / frames:.1f} | {1000 * median['timings']['pose'] / max(faces, 1):.2f}"
              f" | {frames}, {faces}, "
              f"{median['tracks']} |")


if __name__ == "__main__":
    main()
