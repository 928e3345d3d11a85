"""Image and video input and output for the demo: decoding, the built-in photo, atomic writing.

Images are decoded strictly (``fsanet.images``) and of any depth and channel count become BGR uint8;
videos decode every stored frame; outputs appear whole or not at all (an image is encoded first, a
video written under a temporary name and renamed only once complete).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2

from fsanet.errors import FSANetError
from fsanet.images import IMAGE_SUFFIXES, ImageError, read_image
from fsanet.io import atomic_write

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi"}
"""Extensions a video output may have (the mp4v codec in these containers)."""


class InputError(FSANetError, ValueError):
    """An input or output the demo cannot use; the message names it and says why."""


# ---------------------------------------------------------------- inputs and outputs

def default_image():
    """scikit-image's public-domain ``astronaut`` photo (BGR): a real face with no user files."""
    from skimage.data import astronaut
    return cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


def write_image(path, image):
    """Encode first, then write atomically: a crash never leaves a half-written file."""
    path = Path(path)
    try:
        ok, data = cv2.imencode(path.suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"{path}: cannot encode an image with this extension")
    with atomic_write(path) as f:
        f.write(data.tobytes())


class Source:
    """Frames of one input: ``kind`` is image, folder, video or camera; iterate for (name, frame).
    A folder's unreadable images are reported and listed in ``failed``."""

    def __init__(self, spec):
        self.spec, self.fps, self._capture, self.failed = spec, None, None, []
        if spec is None:
            self.kind, self.name = "image", "astronaut"
            return
        spec = str(spec)
        if not spec.strip():
            raise InputError("an empty input name")
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
                    image = read_image(path)
                except ImageError as e:  # named now, counted in ``failed``; the other images go on
                    self.failed.append(str(e))
                    print(f"error: {e}", file=sys.stderr)
                    continue
                yield path.stem, image
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
    """An mp4 written under a temporary name: ``close`` renames it into place once complete,
    ``discard`` (after an error or Ctrl-C) deletes it, so an earlier file of the same name is never
    replaced by a partial one."""

    def __init__(self, path, fps):
        self.path, self.fps, self._writer = Path(path), fps, None
        self._partial = self.path.with_name(f".{self.path.stem}.{os.getpid()}.partial{self.path.suffix}")

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

    def discard(self):
        if self._writer is not None:
            self._writer.release()
            self._partial.unlink(missing_ok=True)


def display_available():
    """A window can open: a display is set (or not Linux) and OpenCV has its GUI module."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("fsanet")
        return True
    except cv2.error:
        return False
