"""Head pose on images, folders, videos or a webcam: faces detected, axes and angles drawn.

Without inputs it runs on a built-in photo (scikit-image's public-domain astronaut) and writes
out/astronaut_pose.jpg. Exit status: 0 done, 1 some image had no face, 2 an input, output, model or
detector that cannot be used.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fsanet.commands import non_negative_int, positive_int
from fsanet.backends import BACKENDS
from fsanet.detectors import DETECTORS




def add_arguments(parser):
    parser.add_argument("inputs", nargs="*", help="images, folders or videos (default: a built-in photo)")
    parser.add_argument("--input", action="append", default=[],
                        help="as the positional inputs; a number is a webcam index")
    parser.add_argument("--output", type=Path, default=Path("out"),
                        help="a folder (default ./out), or a file name for a single input")
    parser.add_argument("--model", default="fusion",
                        help="any model spec: released name or alias, fusion, fusion:a,b,c, .keras, "
                             "authors' .h5, or an exported .onnx / .tflite / SavedModel (default: fusion)")
    parser.add_argument("--protocol", default="300W_LP", help="300W_LP (default) or BIWI weights")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="pose runtime (default: the fastest whose conversion matches Keras)")
    parser.add_argument("--detector", choices=list(DETECTORS), default="mtcnn")
    parser.add_argument("--every", type=positive_int, default=5,
                        help="videos: detect every N frames, reuse the boxes in between (default 5)")
    parser.add_argument("--detection-width", type=non_negative_int, default=640,
                        help="detect on a copy at most this wide (0: full frame)")
    parser.add_argument("--no-display", action="store_true", help="never open a window")


def run(args) -> int:
    import cv2

    from fsanet.annotate import PoseAnnotator, run_source
    from fsanet.detectors import make_detector
    from fsanet.inference import PosePredictor, configure_cpu_threads
    from fsanet.model_spec import resolve_model
    from fsanet.video import InputError, Source, display_available

    status, sources = 0, []
    for spec in args.inputs + args.input or [None]:  # every input is checked before the model loads
        try:
            sources.append(Source(spec))
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
    if not sources:
        return status
    try:
        configure_cpu_threads()
    except RuntimeError:
        pass  # TensorFlow already runs in this process (called from Python): keep its thread pools
    predictor = PosePredictor(resolve_model(args.model, args.protocol, exported=True), normalize=True,
                              backend=args.backend)
    detector = make_detector(args.detector)
    show = not args.no_display and display_available()
    single = len(sources) == 1 and status == 0
    for source in sources:
        try:
            every = args.every if source.kind in ("video", "camera") else 1
            annotator = PoseAnnotator(detector, predictor, every, args.detection_width)
            output = args.output if single or not args.output.suffix else args.output.parent
            summary = run_source(source, annotator, output, show)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        if source.kind in ("video", "camera") and summary["frames"]:
            fps = summary["frames"] / summary["seconds"]
            print(f"{source.name}: {summary['frames']} frames at {fps:.1f} FPS; faces in "
                  f"{sum(1 for n in summary['faces'] if n)} frames")
        elif not all(summary["faces"]):
            status = max(status, 1)
    if show:
        cv2.destroyAllWindows()
    return status
