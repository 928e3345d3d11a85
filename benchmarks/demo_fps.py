"""End-to-end demo speed on a video: FPS and milliseconds per frame for decode, detection, pose,
drawing and writing, plus pose milliseconds per face, on one PosePredictor backend.

    .venv/bin/python benchmarks/demo_fps.py --video ../shared/data/video/obama.mp4 --every 5 --backend litert
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from fsanet.inference import configure_cpu_threads

configure_cpu_threads()

from fsanet.annotate import PoseAnnotator, run_source  # noqa: E402
from fsanet.backends import BACKENDS  # noqa: E402
from fsanet.detectors import make_detector  # noqa: E402
from fsanet.inference import PosePredictor  # noqa: E402
from fsanet.pretrained import load_pretrained  # noqa: E402
from fsanet.video import Source  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--detection-width", type=int, default=640)
    parser.add_argument("--model", default="fusion")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--backend", choices=BACKENDS, help="default: PosePredictor's choice")
    args = parser.parse_args()
    predictor = PosePredictor(load_pretrained(args.model), normalize=True, backend=args.backend)
    detector = make_detector(args.detector)
    with tempfile.TemporaryDirectory() as out:
        # one untimed pass warms up the detector and the pose function
        run_source(Source(args.video), PoseAnnotator(detector, predictor, args.every, args.detection_width),
                   Path(out) / "warm.mp4", report=lambda *_: None)
        annotator = PoseAnnotator(detector, predictor, args.every, args.detection_width)
        summary = run_source(Source(args.video), annotator, Path(out) / "timed.mp4", report=lambda *_: None)
    frames, faces = summary["frames"], sum(summary["faces"])
    timings = summary["timings"]
    timings["writing and the rest"] = summary["seconds"] - sum(timings.values())
    print(f"{args.video}: {frames} frames, {faces} faces, detection every {args.every} frames "
          f"at width {args.detection_width or 'full'}, model {args.model} on {predictor.backend}")
    print(f"end to end: {frames / summary['seconds']:.1f} FPS")
    for stage in ("decode", "detection", "pose", "drawing", "writing and the rest"):
        print(f"  {stage:22s} {1000 * timings[stage] / frames:6.2f} ms/frame")
    print(f"  pose per face          {1000 * timings['pose'] / max(faces, 1):6.2f} ms")


if __name__ == "__main__":
    main()
