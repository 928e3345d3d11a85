"""Head pose on images, folders, videos or a webcam: faces detected, axes and angles drawn.

Without inputs it runs on a built-in photo (scikit-image's public-domain astronaut) and writes
out/astronaut_pose.jpg. --output is a folder (results named <input>_pose.jpg / .mp4), or a file name
when there is one image or video input. Exit status: 0 done, 1 some image had no face, 2 an input,
output, model or detector that cannot be used (the other inputs are still processed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fsanet.commands import non_negative_int, positive_int
from fsanet.backends import BACKENDS
from fsanet.detectors import DETECTORS
from fsanet.protocols import PROTOCOLS


def add_arguments(parser):
    parser.add_argument("inputs", nargs="*", help="images, folders or videos (default: a built-in photo)")
    parser.add_argument("--input", action="append", default=[],
                        help="as the positional inputs; a number is a webcam index")
    parser.add_argument("--output", type=Path, default=Path("out"),
                        help="a folder (default ./out), or a file name for a single input")
    parser.add_argument("--model", default="fusion",
                        help="any model spec: released name or alias, fusion, fusion:a,b,c, .keras, "
                             "authors' .h5, or an exported .onnx / .tflite / SavedModel (default: fusion)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="300W_LP",
                        help="whose released weights: 300W_LP (default) or BIWI")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="pose runtime (default: the fastest whose conversion matches Keras)")
    parser.add_argument("--detector", choices=list(DETECTORS), default="mtcnn")
    parser.add_argument("--every", type=positive_int, default=5,
                        help="videos: detect every N frames, reuse the boxes in between (default 5)")
    parser.add_argument("--detection-width", type=non_negative_int, default=640,
                        help="detect on a copy at most this wide (0: full frame)")
    parser.add_argument("--no-display", action="store_true", help="never open a window")


def output_for(source, output: Path, several: bool) -> Path:
    """The file a source's result is written to (for a folder input: the folder its images go in),
    checked now, before the model loads."""
    from fsanet.images import IMAGE_SUFFIXES
    from fsanet.io import OutputError, check_output
    from fsanet.video import VIDEO_SUFFIXES
    names_file = bool(output.suffix) and not output.is_dir()
    if names_file and (several or source.kind == "folder"):
        raise OutputError(f"--output {output}: names one file, but {'several inputs' if several else 'a folder'} "
                          "give several results; name a folder")
    if source.kind == "folder":
        return check_output(output, "--output", folder=True)
    still = source.kind == "image"
    target = output if names_file else output / f"{source.name}_pose{'.jpg' if still else '.mp4'}"
    return check_output(target, "--output", suffixes=IMAGE_SUFFIXES if still else VIDEO_SUFFIXES)


def run(args) -> int:
    import cv2

    from fsanet.annotate import PoseAnnotator, run_source
    from fsanet.detectors import make_detector
    from fsanet.errors import FSANetError
    from fsanet.inference import PosePredictor, configure_cpu_threads
    from fsanet.model_spec import resolve_model
    from fsanet.video import InputError, Source, display_available

    status, sources, specs = 0, [], args.inputs + args.input or [None]
    for spec in specs:  # every input and output is checked before the model loads
        try:
            sources.append(Source(spec))
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
    outputs = [output_for(source, args.output, len(specs) > 1) for source in sources]
    if not sources:
        return status
    try:
        configure_cpu_threads()
    except RuntimeError:
        pass  # TensorFlow already runs in this process (called from Python): keep its thread pools
    detector = make_detector(args.detector)  # first: a missing package is named before the model loads
    predictor = PosePredictor(resolve_model(args.model, args.protocol, exported=True), normalize=True,
                              backend=args.backend)
    show = not args.no_display and display_available()
    for source, output in zip(sources, outputs):
        try:
            every = args.every if source.kind in ("video", "camera") else 1
            annotator = PoseAnnotator(detector, predictor, every, args.detection_width)
            summary = run_source(source, annotator, output, show)
        except FSANetError as e:  # this input fails; the others go on
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        if source.failed:
            status = 2
        if source.kind in ("video", "camera") and summary["frames"]:
            fps = summary["frames"] / summary["seconds"]
            print(f"{source.name}: {summary['frames']} frames at {fps:.1f} FPS; faces in "
                  f"{sum(1 for n in summary['faces'] if n)} frames")
        elif not all(summary["faces"]):
            status = max(status, 1)
    if show:
        cv2.destroyAllWindows()
    return status
