"""The head-pose demo: faces in images, folders, videos or a webcam, axes and angles drawn.

Per frame: decode, detect faces (every ``every``-th frame; boxes are reused in between, as the
authors' demo did), crop each face the authors' way (margin 0.6, min-max normalised), predict all
faces in one batch, draw axes (SPEC §8), angles and FPS. Stage timings are kept for benchmarks.

Overlapping detections of one face are merged (MTCNN sometimes reports a face twice; the
authors' demo drew both). Detection runs on a copy at most ``detection_width`` pixels wide (boxes are scaled back): MTCNN
costs ~295 ms on a 1280x720 frame and ~107 ms at 640 on two cores; ``detection_width=0`` uses the
full frame.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from fsanet.crop import crop_and_resize, detection_box
from fsanet.errors import FSANetError
from fsanet.io import atomic_write
from fsanet.pose import draw_axes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
DETECTORS = ("mtcnn", "dlib")


class InputError(FSANetError, ValueError):
    """An input or output the demo cannot use; the message names it and says why."""


# ---------------------------------------------------------------- inputs and outputs

def read_image(path):
    """A BGR uint8 image from any readable file: grayscale and 4-channel images are converted."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image")
    return as_bgr(image)


def as_bgr(image):
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    return image


def default_image():
    """scikit-image's public-domain ``astronaut`` photo (BGR): a real face with no user files."""
    from skimage.data import astronaut
    return cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


def write_image(path, image):
    """Encode first, then write atomically: a crash never leaves a half-written file."""
    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise InputError(f"{path}: cannot encode an image with this extension")
    with atomic_write(path) as f:
        f.write(data.tobytes())


class Source:
    """Frames of one input: ``kind`` is image, video or camera; iterate for (name, frame)."""

    def __init__(self, spec):
        self.spec, self.fps, self._capture = spec, None, None
        if spec is None:
            self.kind, self.name = "image", "astronaut"
            return
        spec = str(spec)
        self.name = Path(spec).stem
        if spec.isdigit():
            self.kind, self.name = "camera", f"camera{spec}"
            self._capture = cv2.VideoCapture(int(spec))
            if not self._capture.isOpened():
                raise InputError(f"no camera at index {spec}")
        elif Path(spec).is_dir():
            self.kind = "folder"
            self.files = sorted(p for p in Path(spec).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise InputError(f"{spec}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
        elif not Path(spec).is_file():
            raise InputError(f"{spec}: file not found")
        elif Path(spec).suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
        else:
            self.kind = "video"
            # Decode every stored frame: an MP4 edit list may hide most of them (obama.mp4 stores
            # 158 frames; its edit list presents the last 55). Users' own settings win.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "ignore_editlist;1")
            self._capture = cv2.VideoCapture(spec)
            if not self._capture.isOpened():
                raise InputError(f"{spec}: not a readable video or image")
            self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 25.0

    def __iter__(self):
        if self.spec is None:
            yield self.name, default_image()
        elif self.kind == "image":
            yield self.name, read_image(self.spec)
        elif self.kind == "folder":
            for path in self.files:
                try:
                    yield path.stem, read_image(path)
                except InputError as e:
                    print(f"error: {e}", file=sys.stderr)
        else:
            count = 0
            while True:
                ok, frame = self._capture.read()
                if not ok:
                    break
                count += 1
                yield self.name, frame
            self._capture.release()
            if count == 0:
                raise InputError(f"{self.spec}: no frame could be decoded")


class VideoOutput:
    """An mp4 written to a temporary name and renamed when closed (also after Ctrl-C)."""

    def __init__(self, path, fps):
        self.path, self.fps, self._writer = Path(path), fps, None
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")

    def write(self, frame):
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self._partial), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, (width, height))
            if not self._writer.isOpened():
                raise InputError(f"{self.path}: cannot write a video here")
        self._writer.write(frame)

    def close(self):
        if self._writer is not None:
            self._writer.release()
            os.replace(self._partial, self.path)


# ---------------------------------------------------------------- detectors

class DlibDetector:
    """dlib's HOG frontal face detector (optional: ``pip install dlib`` needs CMake and a compiler)."""

    def __init__(self, upsample=0):
        try:
            import dlib
        except ImportError:
            raise InputError("the dlib detector needs the dlib package, which is not installed "
                             "(pip install dlib; it builds with CMake and a C++ compiler); "
                             "or use --detector mtcnn") from None
        self._detector, self.upsample = dlib.get_frontal_face_detector(), upsample

    def __call__(self, image_bgr):
        from fsanet.detectors import Face
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rects, scores, _ = self._detector.run(rgb, self.upsample)
        return [Face((r.left(), r.top(), r.width(), r.height()), float(s)) for r, s in zip(rects, scores)]


def make_detector(name):
    if name == "mtcnn":
        from fsanet.detectors import MTCNNDetector
        return MTCNNDetector()
    if name == "dlib":
        return DlibDetector()
    raise InputError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")


# ---------------------------------------------------------------- the per-frame work

def clip_box(box, width, height):
    """A detector box (x, y, w, h) cut to the frame, or None when nothing is left."""
    x, y, w, h = box
    x0, y0, x1, y1 = max(int(x), 0), max(int(y), 0), min(int(x + w), width), min(int(y + h), height)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def suppress_duplicates(faces, overlap=0.6):
    """Drop a face whose box lies mostly (> ``overlap`` of the smaller box) inside a more confident
    one: MTCNN sometimes returns the same face twice, which would draw two sets of axes."""
    kept = []
    for face in sorted(faces, key=lambda f: -f.confidence):
        x, y, w, h = face.box
        if all(_intersection(face.box, k.box) <= overlap * min(w * h, k.box[2] * k.box[3]) for k in kept):
            kept.append(face)
    return kept


def _intersection(a, b):
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(dx, 0) * max(dy, 0)


class PoseAnnotator:
    """Detect (every ``every`` frames), estimate and draw head poses; ``timings`` in seconds."""

    def __init__(self, detector, predictor, every=1, detection_width=640):
        self.detector, self.predictor = detector, predictor
        self.every, self.detection_width = max(1, every), detection_width
        self.timings = defaultdict(float)
        self.frames = 0
        self._boxes = []

    def detect(self, frame):
        height, width = frame.shape[:2]
        scale = 1.0
        small = frame
        if self.detection_width and width > self.detection_width:
            scale = self.detection_width / width
            small = cv2.resize(frame, (self.detection_width, round(height * scale)),
                               interpolation=cv2.INTER_AREA)
        faces = suppress_duplicates(self.detector(small))
        boxes = [clip_box(tuple(v / scale for v in f.box), width, height) for f in faces]
        return [b for b in boxes if b is not None]

    def __call__(self, frame):
        """[(box, (yaw, pitch, roll))] of the faces in ``frame``, drawn onto it."""
        start = time.perf_counter()
        if self.frames % self.every == 0:
            self._boxes = self.detect(frame)
        detected = time.perf_counter()
        height, width = frame.shape[:2]
        angles = []
        if self._boxes:
            crops = [crop_and_resize(frame, detection_box(b, width, height)) for b in self._boxes]
            angles = self.predictor(crops)
        posed = time.perf_counter()
        for (x, y, w, h), (yaw, pitch, roll) in zip(self._boxes, angles):
            draw_axes(frame, yaw, pitch, roll, (x + w / 2, y + h / 2), size=w / 2,
                      thickness=max(1, round(w / 60)))
            cv2.rectangle(frame, (x, y), (x + w, y + h), (255, 255, 255), 1)
            cv2.putText(frame, f"yaw {yaw:.0f} pitch {pitch:.0f} roll {roll:.0f}", (x, max(y - 6, 12)),
                        cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 300), (255, 255, 255), 1, cv2.LINE_AA)
        drawn = time.perf_counter()
        for stage, seconds in (("detection", detected - start), ("pose", posed - detected),
                               ("drawing", drawn - posed)):
            self.timings[stage] += seconds
        self.frames += 1
        return list(zip(self._boxes, map(tuple, angles)))


def draw_fps(frame, fps):
    cv2.putText(frame, f"{fps:.1f} FPS", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 255), 2,
                cv2.LINE_AA)


def display_available():
    """A window can open: a display is set (or not Linux) and OpenCV has its GUI module."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("fsanet")
        return True
    except cv2.error:
        return False


# ---------------------------------------------------------------- one whole input

def run_source(source, annotator, output, show=False, report=print):
    """Annotate every frame of a source; returns {"frames", "faces" per frame, "seconds", "timings"}."""
    faces_per_frame, video = [], None
    decode, start = 0.0, time.perf_counter()
    tick = time.perf_counter()
    try:
        for name, frame in source:
            decode += time.perf_counter() - tick
            results = annotator(frame)
            faces_per_frame.append(len(results))
            if source.kind in ("image", "folder"):
                if not results:
                    report(f"{name}: no face found")
                for i, (box, (yaw, pitch, roll)) in enumerate(results):
                    report(f"{name}: face {i} box {box}: yaw {yaw:+.1f}, pitch {pitch:+.1f}, roll {roll:+.1f} degrees")
                target = output / f"{name}_pose.jpg" if output.suffix == "" else output
                write_image(target, frame)
                report(f"{name}: annotated image written to {target}")
            else:
                elapsed = time.perf_counter() - start
                draw_fps(frame, len(faces_per_frame) / max(elapsed, 1e-9))
                if video is None:
                    video = VideoOutput(output if output.suffix else output / f"{name}_pose.mp4",
                                        source.fps or 25.0)
                video.write(frame)
            if show:
                cv2.imshow("fsanet", frame)
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    break
            tick = time.perf_counter()
    finally:
        if video is not None:
            video.close()
            report(f"{source.name}: {len(faces_per_frame)} frames written to {video.path}")
    timings = dict(annotator.timings, decode=decode)
    return {"frames": len(faces_per_frame), "faces": faces_per_frame,
            "seconds": time.perf_counter() - start, "timings": timings}


# ---------------------------------------------------------------- command line

def main(argv=None, prog="python -m fsanet") -> int:
    """Exit status: 0 done, 1 some image had no face, 2 an input, output, model or detector failed."""
    import argparse
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", help="images, folders or videos (default: a built-in photo)")
    parser.add_argument("--input", action="append", default=[],
                        help="as the positional inputs; a number is a webcam index")
    parser.add_argument("--output", type=Path, default=Path("out"),
                        help="a folder (default ./out), or a file name for a single input")
    parser.add_argument("--model", default="fusion", help="variant or fusion (default: fusion)")
    parser.add_argument("--protocol", default="300W_LP", help="300W_LP (default) or BIWI weights")
    parser.add_argument("--detector", choices=DETECTORS, default="mtcnn")
    parser.add_argument("--every", type=int, default=5,
                        help="videos: detect every N frames, reuse the boxes in between (default 5)")
    parser.add_argument("--detection-width", type=int, default=640,
                        help="detect on a copy at most this wide (0: full frame)")
    parser.add_argument("--no-display", action="store_true", help="never open a window")
    args = parser.parse_args(argv)
    specs = args.inputs + args.input or [None]

    from fsanet.inference import PosePredictor, configure_cpu_threads
    try:
        configure_cpu_threads()
    except RuntimeError:
        pass  # TensorFlow already runs in this process (called from Python): keep its thread pools
    from fsanet.pretrained import load_pretrained
    try:
        predictor = PosePredictor(load_pretrained(args.model, args.protocol), normalize=True)
        detector = make_detector(args.detector)
    except (KeyError, ValueError, OSError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    show = not args.no_display and display_available()
    status = 0
    for spec in specs:
        try:
            source = Source(spec)
            every = args.every if source.kind in ("video", "camera") else 1
            annotator = PoseAnnotator(detector, predictor, every, args.detection_width)
            output = args.output if len(specs) == 1 or not args.output.suffix else args.output.parent
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


# ---------------------------------------------------------------- paper Figure 5

def fine_grained_structure_maps(model, crop):
    """(3 stages, n rows, 3 maps, h, w): the rows of S_k = C M_k for one 64x64 BGR crop.

    Only models with a scoring function have them (1x1 conv and variance variants)."""
    import keras
    from fsanet.inference import PosePredictor
    try:
        layer = model.get_layer("fine_grained_structure")
    except ValueError:
        raise InputError(f"{model.name} has no fine-grained structure mapping (no scoring)") from None
    inputs = keras.Model(model.input, layer.input)(PosePredictor(model).prepare([crop]))
    stages = (len(inputs) - 1) // 2
    feature_maps, mappings, combination = inputs[:stages], inputs[stages:2 * stages], inputs[-1]
    _, h, w, _ = feature_maps[0].shape
    return np.stack([np.asarray(layer.structure_maps(combination, m))[0].reshape(-1, stages, h, w)
                     for m in mappings])


def heatmap_panel(crop, maps, cell=128):
    """A grid: one row per stage, one column per structure-map row, each summed over the three
    feature maps, normalised per cell and laid over the face."""
    face = cv2.resize(crop, (cell, cell))
    rows = []
    for stage in maps:
        cells = []
        for row in stage:
            heat = row.sum(axis=0)
            heat = (heat - heat.min()) / max(float(np.ptp(heat)), 1e-12)
            heat = cv2.resize((heat * 255).astype(np.uint8), (cell, cell), interpolation=cv2.INTER_CUBIC)
            cells.append(cv2.addWeighted(face, 0.5, cv2.applyColorMap(heat, cv2.COLORMAP_JET), 0.5, 0))
        rows.append(np.hstack([face] + cells))
    return np.vstack(rows)
