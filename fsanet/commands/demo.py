"""Head pose on images, folders, videos or a webcam: faces detected and tracked, axes and angles drawn.

Without inputs it runs on a built-in photo (scikit-image's public-domain astronaut) and writes
out/astronaut_pose.jpg. --output is a folder (results named <input>_pose.jpg / .mp4), or a file name
when there is one image or video input. --data out.csv (or .jsonl) records every face of every frame
(track ID, box, angles, rotation matrix, the fusion members' spread; smoothed angles with --smooth),
row by row as frames finish, into out.csv.partial until the run completes (a run cut short keeps its
finished frames there and never replaces an earlier out.csv); `fsanet plot out.csv` draws them.
--data - writes the CSV to stdout and --json one JSON object per photo ({"name", "faces": [...]}, the
data file's fields) to stdout; the command's own lines then go to stderr. Videos are written as
H.264 (PyAV), which browsers play.

The confidence column is the detector's own score: MTCNN's face probability (0 to 1) for
mtcnn_cascade (photos) and mtcnn, dlib's SVM score (> 0 is a face, usually below 3) for dlib
(videos) and the 68-landmark path. --min-confidence compares against that score, so its scale
depends on the detector.

Exit status: 0 done, 1 some image had no face, 2 an input, output, model or detector that cannot
be used (the other inputs are still processed).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

from fsanet.commands import add_protocol_argument, non_negative_int, positive_int
from fsanet.deploy.backends import BACKENDS
from fsanet.errors import FSANetError, OutputError, UsageError
from fsanet.faces.detectors import DETECTORS
from fsanet.faces.framing import RULES
from fsanet.video.drawing import DRAWINGS
from fsanet.video.records import DATA_SUFFIXES


STDOUT = "-"
"""--data's name for the standard output."""


def data_file(text):
    """argparse type: a path ending in .csv or .jsonl, or - (checked before the model loads)."""
    if text == STDOUT:
        return text
    if Path(text).suffix.lower() not in DATA_SUFFIXES:
        raise ValueError(text)
    return Path(text)


data_file.__name__ = "data file name (.csv or .jsonl, or - for stdout)"


def add_arguments(parser):
    parser.add_argument("inputs", nargs="*", help="images, folders or videos (default: a built-in photo)")
    parser.add_argument("--input", action="append", default=[],
                        help="as the positional inputs; a number is a webcam index")
    parser.add_argument("--output", type=Path, default=Path("out"),
                        help="a folder (default ./out), or a file name for a single input")
    parser.add_argument("--model", default="fusion",
                        help="any model spec: released name or alias, fusion, fusion:a,b,c, .keras, "
                             "authors' .h5, or an exported .onnx / .tflite / SavedModel (default: fusion)")
    add_protocol_argument(parser, help="whose released weights: 300W_LP (default) or BIWI")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="pose runtime (default: the fastest whose conversion matches Keras)")
    parser.add_argument("--detector", choices=list(DETECTORS),
                        help="face detector (default: dlib for videos and cameras, mtcnn_cascade for photos)")
    parser.add_argument("--crop", choices=RULES,
                        help="how a face is cropped from its box: fitted (the detector's box mapped to "
                             "the training crops' framing), landmarks68 (dlib's 68 points, then the "
                             "training rule) or authors (their demo: margin 0.6 around the box); "
                             "default: the detector's measured best (README, Photos in the wild)")
    parser.add_argument("--flip-average", action="store_true",
                        help="also run each face's mirror image and average the two poses: lower error, "
                             "twice the network time; not the paper's (README, Mirror averaging)")
    parser.add_argument("--every", type=positive_int, default=10,
                        help="videos: detect every N frames, carry the face tracks in between "
                             "(default 10; the authors' demo used 5)")
    parser.add_argument("--detection-width", type=non_negative_int,
                        help="detect on a copy at most this wide (0: full frame; default 960 for photos, 640 for videos and cameras)")
    parser.add_argument("--data", type=data_file,
                        help="write per-frame data for every face to this .csv or .jsonl file (-: CSV on stdout)")
    parser.add_argument("--json", action="store_true",
                        help="photos: print one JSON object per photo on stdout (name, faces) instead of text lines")
    parser.add_argument("--min-confidence", type=float, metavar="SCORE",
                        help="drop detections scoring below this, on the detector's own scale (MTCNN: "
                             "a probability, e.g. 0.99; dlib: an SVM score, e.g. 0.5)")
    parser.add_argument("--min-face", type=non_negative_int, default=0, metavar="PIXELS",
                        help="drop detections whose box is narrower or lower than this (default 0)")
    parser.add_argument("--no-fps", dest="fps_overlay", action="store_false",
                        help="do not write the processing rate into the output video's frames")
    parser.add_argument("--smooth", action="store_true",
                        help="smooth the angles per face track over time (One-Euro filter); the data "
                             "file keeps the raw angles next to the smoothed ones")
    parser.add_argument("--style", choices=list(DRAWINGS), default="axes",
                        help="how a pose is drawn (default: axes)")
    parser.add_argument("--no-video", action="store_true",
                        help="write no annotated images or videos (with --data: data only)")
    parser.add_argument("--no-display", action="store_true", help="never open a window")


def output_for(source, output: Path, several: bool) -> Path:
    """The file a source's result is written to (for a folder input: the folder its images go in),
    checked now, before the model loads."""
    from fsanet.core.images import IMAGE_SUFFIXES
    from fsanet.core.outputs import check_output
    from fsanet.video.media import VIDEO_SUFFIXES
    names_file = bool(output.suffix) and not output.is_dir()
    if names_file and (several or source.kind == "folder"):
        raise OutputError(f"--output {output}: names one file, but {'several inputs' if several else 'a folder'} "
                          "give several results; name a folder")
    if source.kind == "folder":
        return check_output(output, "--output", folder=True)
    still = source.kind == "image"
    target = output if names_file else output / f"{source.name}_pose{'.jpg' if still else '.mp4'}"
    return check_output(target, "--output", suffixes=IMAGE_SUFFIXES if still else VIDEO_SUFFIXES)


def print_json(name, records):
    """One photo's faces as one line of JSON on stdout: {"name", "faces": [the data file's fields]}."""
    print(json.dumps({"name": name, "faces": [r.as_dict() for r in records]}, separators=(",", ":")), flush=True)


def run(args) -> int:
    import cv2
    import numpy as np

    from fsanet.core.outputs import check_output
    from fsanet.core.progress import plural
    from fsanet.errors import ImageError, InputError
    from fsanet.faces.detectors import default_detection_width, default_detector, make_detector
    from fsanet.hub.specs import check_spec
    from fsanet.model.variants import IMAGE_SIZE
    from fsanet.video.media import Source, display_available
    from fsanet.video.records import RecordWriter
    from fsanet.video.smoothing import PoseSmoother

    status, sources, specs = 0, [], args.inputs + args.input or [None]
    for spec in specs:  # every input and output is checked before the model loads
        try:
            sources.append(Source(spec))
        except (InputError, ImageError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
    outputs = [None if args.no_video else output_for(source, args.output, len(specs) > 1) for source in sources]
    if args.data not in (None, STDOUT):
        check_output(args.data, "--data", suffixes=DATA_SUFFIXES)
    if args.json and args.data == STDOUT:
        raise UsageError("--json and --data -: both write to stdout; give --data a file name")
    moving = [s.name for s in sources if s.kind in ("video", "camera")]
    if args.json and moving:
        raise UsageError(f"--json: one object per photo, but {moving[0]} is a video; use --data - "
                         "(a CSV row per face per frame) or --data FILE.jsonl")
    say = print if not (args.json or args.data == STDOUT) else functools.partial(print, file=sys.stderr)
    check_spec(args.model, exported=True)
    if not sources:
        return status
    from fsanet.deploy.predictor import PosePredictor  # TensorFlow loads here, after every check
    from fsanet.deploy.threads import configure_cpu_threads
    from fsanet.hub.model_spec import resolve_model
    from fsanet.video.pipeline import PoseAnnotator, run_source
    try:
        configure_cpu_threads()
    except RuntimeError:
        pass  # TensorFlow already runs in this process (called from Python): keep its thread pools
    detectors = {}  # first: a missing package is named before the model loads
    for source in sources:
        name = args.detector or default_detector(source.kind)
        if name not in detectors:
            detectors[name] = make_detector(name)
    model = resolve_model(args.model, args.protocol, exported=True)
    predictor = PosePredictor(model, normalize=True, backend=args.backend, flip_average=args.flip_average)
    predictor.predict_members([np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)])  # TF optimises the graph on its
    # first call (about a second): done here, before the frames and their FPS clock start
    show = not args.no_display and display_available()
    data = None
    if args.data is not None:
        data = RecordWriter(sys.stdout.buffer if args.data == STDOUT else args.data, spread=predictor.has_members,
                            smoothed=args.smooth, format=".csv" if args.data == STDOUT else None)
    try:
        for source, output in zip(sources, outputs):
            try:
                every = args.every if source.kind in ("video", "camera") else 1
                detector = detectors[args.detector or default_detector(source.kind)]
                width = default_detection_width(source.kind) if args.detection_width is None else args.detection_width
                annotator = PoseAnnotator(detector, predictor, every, width,
                                          smoother=PoseSmoother() if args.smooth else None, style=args.style,
                                          crop_rule=args.crop, min_confidence=args.min_confidence,
                                          min_face=args.min_face)
                summary = run_source(source, annotator, output, show, report=say, data=data,
                                     fps_overlay=args.fps_overlay, photo=print_json if args.json else None)
            except FSANetError as e:  # this input fails; the others go on
                if data is not None and data.failed:  # not the input: the data file (a full disk)
                    raise
                print(f"error: {e}", file=sys.stderr)
                status = 2
                continue
            if source.failed:
                status = 2
            if source.kind in ("video", "camera") and summary["frames"]:
                fps = summary["frames"] / summary["seconds"]
                say(f"{source.name}: {plural(summary['frames'], 'frame')} at {fps:.1f} FPS; faces in "
                    f"{plural(sum(1 for n in summary['faces'] if n), 'frame')}, "
                    f"{plural(annotator.tracker.next_id, 'face track')}")
            elif not all(summary["faces"]):
                status = max(status, 1)
    except BaseException as e:
        if data is None:
            raise
        partial = data.abandon()  # every finished frame stays there; an earlier complete file stays too
        if partial is None or str(partial) in str(e):
            raise
        kept = f"{plural(data.rows, 'face record')} of {plural(data.frames, 'finished frame')} kept in {partial}"
        if isinstance(e, KeyboardInterrupt):  # the interrupt line names it
            raise type(e)(kept) from None
        if isinstance(e, FSANetError):  # so does the error's one line
            e.args = (f"{e}; {kept}",)
        elif isinstance(e, OSError):
            raise OutputError(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}; {kept}") from None
        raise
    if data is not None:
        data.close()
        say(f"{plural(data.rows, 'face record')} of {plural(data.frames, 'frame')} written to "
            f"{'stdout' if args.data == STDOUT else data.path}")
    if show:
        cv2.destroyAllWindows()
    return status
