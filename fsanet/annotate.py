"""The demo's per-frame work: detect faces (every ``every``-th frame, boxes reused in between as the
authors' demo did), crop each face the authors' way (margin 0.6, min-max normalised), estimate all
faces' poses in one batch, draw axes (SPEC §8) and angles; and the loop over a whole input.

Overlapping detections of one face are merged (MTCNN sometimes reports a face twice; the authors'
demo drew both). Detection runs on a copy at most ``detection_width`` pixels wide (boxes are scaled
back): MTCNN costs ~295 ms on a 1280x720 frame and ~107 ms at 640 on two cores; ``detection_width=0``
uses the full frame. Stage timings are kept for benchmarks.
"""

from __future__ import annotations

import time
from collections import defaultdict

import cv2

from fsanet.crop import crop_and_resize, detection_box
from fsanet.pose import draw_axes
from fsanet.video import VideoOutput, write_image


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


def run_source(source, annotator, output, show=False, report=print):
    """Annotate every frame of a source into ``output`` (the file for an image, video or camera; the
    folder for a folder's images); returns {"frames", "faces" per frame, "seconds", "timings"}."""
    faces_per_frame, video, complete = [], None, False
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
                target = output / f"{name}_pose.jpg" if source.kind == "folder" else output
                write_image(target, frame)
                report(f"{name}: annotated image written to {target}")
            else:
                elapsed = time.perf_counter() - start
                draw_fps(frame, len(faces_per_frame) / max(elapsed, 1e-9))
                if video is None:
                    video = VideoOutput(output, source.fps or 25.0)
                video.write(frame)
            if show:
                cv2.imshow("fsanet", frame)
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    break
            tick = time.perf_counter()
        complete = True
    finally:
        # A video cut short (Ctrl-C, an error) is discarded; a camera has no end, so what was
        # recorded until Ctrl-C or q is the whole recording.
        if video is not None and (complete or source.kind == "camera"):
            video.close()
            report(f"{source.name}: {len(faces_per_frame)} frames written to {video.path}")
        elif video is not None:
            video.discard()
    timings = dict(annotator.timings, decode=decode)
    return {"frames": len(faces_per_frame), "faces": faces_per_frame,
            "seconds": time.perf_counter() - start, "timings": timings}
