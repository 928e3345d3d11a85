"""The demo's per-frame work and the loop over a whole input.

Per frame: detect faces (every ``every``-th frame) and link them to face tracks (``fsanet.video.tracking``:
stable IDs, boxes carried over the frames in between), crop each face by the detector's crop rule
(``fsanet.faces.framing``: framed as the training crops were; ``crop_rule="authors"``: the authors'
demo crop, margin 0.6; a carried box is cropped by the same rule as a detected one), min-max
normalised, estimate all faces' poses in one batch (with a fusion, also its members'
spread), smooth them per track when asked (``fsanet.video.smoothing``), draw axes (SPEC §8) or cubes, IDs
and angles, and hand one ``fsanet.video.records.FaceRecord`` per face to the data file.

Overlapping detections of one face are merged (MTCNN sometimes reports a face twice; the authors'
demo drew both). Detection runs on a copy at most ``detection_width`` pixels wide (boxes are scaled
back): MTCNN costs ~295 ms on a 1280x720 frame and ~107 ms at 640 on two cores; ``detection_width=0``
uses the full frame. Stage timings are kept for benchmarks.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict

import cv2
from tqdm import tqdm

from fsanet.core.progress import progress_bar
from fsanet.faces.boxes import clip_box, suppress_duplicates
from fsanet.faces.crop import crop_and_resize, detection_box
from fsanet.faces.framing import CROP_RULES, DEFAULT_RULES, RULES, crop_box
from fsanet.video.drawing import DRAWINGS, draw_face, draw_fps
from fsanet.video.media import VideoOutput, write_image
from fsanet.video.records import FaceRecord
from fsanet.video.tracking import FaceTracker


class PoseAnnotator:
    """Detect (every ``every`` frames) and track faces, estimate, smooth and draw their poses.

    ``smoother``: a ``fsanet.video.smoothing.PoseSmoother`` or None; it needs frame times. ``style``:
    ``axes`` or ``cube``. ``min_confidence`` / ``min_face``: detections below this confidence (on the
    detector's own scale: a probability for the MTCNNs, an SVM score for dlib) or smaller than this
    many pixels (the box's shorter side, in the frame's pixels) are dropped before tracking. ``crop_rule``: one of ``fsanet.faces.framing.RULES``, or None for the
    detector's own (``DEFAULT_RULES`` by its ``framing``; a detector without one gets the authors'
    crop). ``timings`` collects seconds per stage.
    """

    def __init__(self, detector, predictor, every=1, detection_width=640, smoother=None, style="axes",
                 tracker=None, crop_rule=None, min_confidence=None, min_face=0):
        self.detector, self.predictor = detector, predictor
        self.framing = getattr(detector, "framing", None)
        self.crop_rule = crop_rule or (DEFAULT_RULES[self.framing] if self.framing in DEFAULT_RULES else "authors")
        if self.crop_rule not in RULES:
            raise ValueError(f"unknown crop rule {self.crop_rule!r}; choose from {', '.join(RULES)}")
        if self.crop_rule == "fitted" and self.framing not in CROP_RULES:
            raise ValueError(f"no fitted crop rule for this detector ({type(detector).__name__})")
        self.every, self.detection_width = max(1, every), detection_width
        self.min_confidence, self.min_face = min_confidence, min_face
        self.smoother, self.draw_pose = smoother, DRAWINGS[style]
        self.tracker = tracker or FaceTracker()
        self.timings = defaultdict(float)
        self.frames = 0

    def detect(self, frame):
        """Faces of a frame, boxes in its pixels (found on a copy at most ``detection_width`` wide)."""
        height, width = frame.shape[:2]
        scale = 1.0
        small = frame
        if self.detection_width and width > self.detection_width:
            scale = self.detection_width / width
            small = cv2.resize(frame, (self.detection_width, round(height * scale)),
                               interpolation=cv2.INTER_AREA)
        faces = suppress_duplicates(self.detector(small))
        faces = [dataclasses.replace(f, box=tuple(v / scale for v in f.box),
                                     landmarks=f.landmarks and tuple((x / scale, y / scale) for x, y in f.landmarks))
                 for f in faces]
        return [f for f in faces if min(f.box[2], f.box[3]) >= self.min_face
                and (self.min_confidence is None or f.confidence >= self.min_confidence)]

    def crop_box(self, frame, box, clipped):
        """The crop (x_min, y_min, x_max, y_max) of a face whose box is ``box`` (as detected or
        carried, maybe reaching outside the frame) and ``clipped`` (cut to the frame)."""
        height, width = frame.shape[:2]
        if self.crop_rule != "authors":
            try:
                return crop_box(box, self.framing, width, height, self.crop_rule, image=frame)
            except ValueError:  # nothing of the estimated face is left inside the frame
                pass
        return detection_box(clipped, width, height)  # the authors' demo: around the clipped box

    def locate(self, frame):
        """(track, box cut to the frame) of each face of ``frame``, the frame numbered ``self.frames``:
        detected on every ``every``-th frame and linked to tracks, carried in between. ``__call__``
        then counts the frame; a caller using this alone (``fsanet.batch``) counts it itself."""
        if self.frames % self.every == 0:
            tracks = self.tracker.update(self.detect(frame))
        else:
            tracks = self.tracker.carry()
        height, width = frame.shape[:2]
        return [(t, b) for t in tracks if (b := clip_box(t.box, width, height)) is not None]

    def crops(self, frame, faces):
        """The network's input crop of each face ``locate`` found, by the crop rule."""
        return [crop_and_resize(frame, self.crop_box(frame, track.box, box)) for track, box in faces]

    def __call__(self, frame, time_s=None, source="", draw=True):
        """The ``FaceRecord`` of each face in ``frame`` (its index is ``self.frames``), drawn onto it
        unless ``draw`` is false. ``time_s``: the frame's time in seconds (None for photos)."""
        start = time.perf_counter()
        faces = self.locate(frame)
        detected = time.perf_counter()
        records = []
        if faces:
            angles, members = self.predictor.predict_members(self.crops(frame, faces))
            spread = members.std(axis=1) if members is not None else [None] * len(faces)
            for (track, box), pose, deviation in zip(faces, angles, spread):
                smoothed = None
                if self.smoother is not None and time_s is not None:
                    smoothed = tuple(self.smoother(track.id, time_s, pose))
                records.append(FaceRecord(self.frames, time_s, source, track.id, box, track.detected,
                                          track.confidence, tuple(pose),
                                          None if deviation is None else tuple(deviation), smoothed))
        if self.smoother is not None:
            self.smoother.keep_only([t.id for t in self.tracker.tracks])
        posed = time.perf_counter()
        if draw:
            for record in records:
                draw_face(frame, record, self.draw_pose)
        drawn = time.perf_counter()
        for stage, seconds in (("detection", detected - start), ("pose", posed - detected),
                               ("drawing", drawn - posed)):
            self.timings[stage] += seconds
        self.frames += 1
        return records

def annotated_frames(source, annotator, draw=False, timings=None):
    """(name, frame, records) for each frame of ``source`` (a ``fsanet.video.media.Source``) as
    ``annotator`` sees it: the frame loop the demo and ``fsanet.analyze`` share. A video frame's time is
    its presentation time (``Source.frame_time``), a camera's the seconds since the first frame;
    photos have none and are unrelated (each starts a fresh set of tracks, IDs from 0). ``timings``
    (a dict of seconds) gets the time spent waiting for frames."""
    for name, frame, time_s in timed_frames(source, timings):
        if time_s is None:
            annotator.tracker = FaceTracker()
        yield name, frame, annotator(frame, time_s, name, draw=draw)


def timed_frames(source, timings=None):
    """(name, frame, time in seconds) for each frame of ``source``: a video frame's presentation
    time (``Source.frame_time``), a camera's seconds since the first frame, None for photos (each
    unrelated to the others). ``timings`` (a dict of seconds) gets the time spent waiting for frames."""
    still = source.kind in ("image", "folder")
    start = tick = time.perf_counter()
    for name, frame in source:
        if timings is not None:
            timings["waiting for frames"] += time.perf_counter() - tick
        time_s = None if still else source.frame_time() if source.kind == "video" else time.perf_counter() - start
        yield name, frame, time_s
        tick = time.perf_counter()


def _around_bar(report):
    """``report`` writing its lines between a progress bar's redraws."""
    def between_redraws(line):
        with tqdm.external_write_mode():
            report(line)
    return between_redraws


def run_source(source, annotator, output, show=False, report=print, data=None, fps_overlay=True, progress=None,
               photo=None):
    """Annotate every frame of a source; returns {"frames", "faces" per frame, "seconds", "timings"}.

    ``output``: the annotated file (an image, video or camera input) or folder (a folder's images),
    or None for none (data only). A video cut short (Ctrl-C, an error) is discarded, so an earlier
    complete file of that name stays; a camera has no end, so what it recorded until Ctrl-C or q is
    the whole recording and is kept.
    ``data``: a ``fsanet.video.records.RecordWriter`` that gets each frame's records as it finishes.
    ``fps_overlay``: write the processing rate into a video's frames. ``progress``: a bar over the
    frames of a video of known length or the images of a folder (None: when stderr is a terminal).
    ``photo``: called with (name, records) for each photo instead of reporting its faces as text.
    """
    faces_per_frame, video, complete = [], None, False
    timings = defaultdict(float)
    still = source.kind in ("image", "folder")
    start = time.perf_counter()
    known_length = source.length is not None and source.kind != "image"
    frames = progress_bar(annotated_frames(source, annotator, output is not None or show, timings),
                          progress if known_length else False, total=source.length, desc=source.name,
                          unit="image" if still else "frame", leave=False)
    if not frames.disable:
        report = _around_bar(report)
    try:
        for name, frame, records in frames:
            faces_per_frame.append(len(records))
            tick = time.perf_counter()
            if data is not None:
                data.write_frame(records)
            timings["data"] += time.perf_counter() - tick
            if still:
                if photo is not None:
                    photo(name, records)
                elif not records:
                    report(f"{name}: no face found")
                for record in records if photo is None else ():
                    yaw, pitch, roll = record.pose
                    report(f"{name}: face {record.track} box {tuple(record.box)}: yaw {yaw:+.1f}, "
                           f"pitch {pitch:+.1f}, roll {roll:+.1f} degrees")
                if output is not None:
                    target = output / f"{name}_pose.jpg" if source.kind == "folder" else output
                    write_image(target, frame)
                    report(f"{name}: annotated image written to {target}")
            elif output is not None:
                if fps_overlay:
                    draw_fps(frame, len(faces_per_frame) / max(time.perf_counter() - start, 1e-9))
                if video is None:
                    video = VideoOutput(output, source.fps or 25.0)
                tick = time.perf_counter()
                video.write(frame)
                timings["waiting for the encoder"] += time.perf_counter() - tick
            if show:
                cv2.imshow("fsanet", frame)
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    break
        complete = True
    finally:
        frames.close()
        if video is not None and (complete or source.kind == "camera"):
            tick = time.perf_counter()
            video.close()
            timings["waiting for the encoder"] += time.perf_counter() - tick
            report(f"{source.name}: {len(faces_per_frame)} frames written to {video.path}")
        elif video is not None:
            video.discard()
    timings.update(annotator.timings)
    timings["decoding (thread)"] = getattr(source, "decode_seconds", 0.0)
    timings["encoding (thread)"] = video.encode_seconds if video is not None else 0.0
    return {"frames": len(faces_per_frame), "faces": faces_per_frame,
            "seconds": time.perf_counter() - start, "timings": dict(timings)}
