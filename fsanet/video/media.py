"""Image and video input and output for the demo: decoding, the built-in photo, atomic writing.

Images are decoded strictly (``fsanet.core.images``) and of any depth and channel count become BGR uint8;
videos decode every stored frame; outputs appear whole or not at all (an image is encoded first, a
video written under a temporary name and renamed only once complete).
Video frames are decoded and encoded in background threads (OpenCV releases the GIL while it
works), so on two cores decoding and encoding run beside detection and pose instead of before and
after them; ``decode_seconds`` and ``encode_seconds`` hold those threads' own time.
"""

from __future__ import annotations

import collections
import os
import queue
import sys
import threading
import time
import warnings
from pathlib import Path

import cv2

from fsanet.core.images import IMAGE_SUFFIXES, check_image_file, read_image
from fsanet.core.outputs import PendingOutput, atomic_write
from fsanet.errors import ImageError, InputError, OutputError

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi"}
"""Extensions a video output may have (H.264 in these containers; mp4v where no H.264 encoder is)."""
H264_PRESET = "veryfast"
"""libx264's speed preset for the demo's videos: keeps encoding off the critical path on two cores
(``medium`` halves its speed for ~10% smaller files)."""


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
        raise OutputError(f"{path}: cannot encode an image with this extension")
    with atomic_write(path) as f:
        f.write(data.tobytes())


def _video_capture(source, *api):
    """OpenCV's capture of a video file's path, or of a seekable binary stream (``CAP_FFMPEG``),
    decoding every stored frame: an MP4 edit list may hide most of them (obama.mp4 stores 158
    frames; its edit list presents the last 55). FFmpeg's own log lines (``moov atom not found``) are
    off: the failure reaches the caller as an ``InputError`` naming the file (FFmpeg reads its level
    once, at the process's first capture). Users' own settings win."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "ignore_editlist;1")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    return cv2.VideoCapture(source, *api)


def stream_length(stream) -> int | None:
    """A video's frame count as its container states it, read from a seekable binary stream (an
    object store's file: only the bytes the container's header needs are read); 0 if it states
    none, None if the stream is no readable video. The count is ``Source.length`` of the same file."""
    capture = _video_capture(stream, cv2.CAP_FFMPEG, [])
    try:  # OpenCV reads ``stream`` until release: the caller keeps it open until then
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0) if capture.isOpened() else None
    finally:
        capture.release()


class Source:
    """Frames of one input: ``kind`` is image, folder, video or camera; iterate for (name, frame).
    A photo that no decoder claims raises ``ImageError`` here; a folder's unreadable images are
    reported and listed in ``failed``. ``length``: how many frames (a video's as its container
    states it), None for a camera. ``start`` / ``stop``: a video's frames [start, stop) only (a
    segment), found by decoding and skipping the frames before ``start`` (exact where a container's
    seek would land on a key frame; times stay the video's)."""

    def __init__(self, spec, start=0, stop=None):
        self.spec, self.fps, self._capture, self.failed, self.length = spec, None, None, [], 1
        self.start, self.stop = start, stop
        self._times = collections.deque()
        if spec is None:
            self.kind, self.name = "image", "astronaut"
            return
        spec = str(spec)
        if not spec.strip():
            raise InputError("an empty input name")
        self.name = Path(spec).stem
        if spec.isdigit():
            self.kind, self.name = "camera", f"camera{spec}"
            self._capture, self.length = cv2.VideoCapture(int(spec)), None
            if not self._capture.isOpened():
                raise InputError(f"no camera at index {spec}")
        elif Path(spec).is_dir():
            self.kind = "folder"
            self.files = sorted(p for p in Path(spec).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise InputError(f"{spec}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
            self.length = len(self.files)
        elif not Path(spec).is_file():
            raise InputError(f"{spec}: file not found")
        elif Path(spec).suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            check_image_file(spec)  # a file that is no image is named now, before any model loads
        else:
            self.kind = "video"
            self._capture = _video_capture(spec)
            if not self._capture.isOpened():
                raise InputError(f"{spec}: not a readable video or image")
            self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 25.0
            self.length = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None

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
            # a camera's frames are live: read at most one ahead, so none waits long
            yield from prefetched(self._decoded(), depth=1 if self.kind == "camera" else 4)

    def _presentation_time(self, index):
        """The time (s) of the frame just decoded, from its timestamp: a variable-frame-rate video's
        frames are not ``index / fps`` apart. A container without timestamps gives ``index / fps``."""
        seconds = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        return seconds if seconds > 0 or index == 0 else index / self.fps

    def frame_time(self) -> float:
        """The presentation time (s) of the next frame the iteration gave, in order (frames are
        decoded ahead, so each one's time waits here until it is taken)."""
        return self._times.popleft()

    def close(self):
        """Release a video or camera without reading it."""
        if self._capture is not None:
            self._capture.release()

    def _decoded(self):
        count, self.decode_seconds = 0, 0.0
        try:
            while count < self.start and self._capture.grab():
                count += 1
            while self.stop is None or count < self.stop:
                start = time.perf_counter()
                ok, frame = self._capture.read()
                self.decode_seconds += time.perf_counter() - start
                if not ok:
                    break
                if self.kind == "video":
                    self._times.append(self._presentation_time(count))
                count += 1
                yield self.name, frame
        finally:
            self._capture.release()
        if count == 0 and not self.start:  # a segment past the end is empty, like a slice
            raise InputError(f"{self.spec}: no frame could be decoded")


def prefetched(items, depth=4):
    """Iterate ``items`` (a generator) in a background thread, up to ``depth`` items ahead. Its
    exceptions are raised here, in order; leaving the loop early stops and closes it."""
    ready, stop = queue.Queue(depth), threading.Event()

    def put(entry):
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((None, StopIteration()))
        except BaseException as e:  # handed to the consumer, raised there
            put((None, e))
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="fsanet-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if isinstance(error, StopIteration):
                return
            if error is not None:
                raise error
            yield item
    finally:
        stop.set()
        thread.join()


class H264Writer:
    """Frames (BGR uint8) into an H.264 video (yuv420p, libx264, what browsers play) by PyAV, whose
    wheel ships FFmpeg. yuv420p needs even sizes: an odd width or height gets one replicated column
    or row. Raises ``ImportError`` / ``av.FFmpegError`` where PyAV or its encoder is missing."""

    def __init__(self, path, fps, size):
        import fractions

        import av
        self._av = av
        width, height = size
        self._pad = (width % 2, height % 2)
        muxer = _container_format(path)
        self._file = open(path, "w+b", buffering=0)  # ours to close: FFmpeg leaves its own open when the disk fills
        try:
            self._container = av.open(self._file, "w", format=muxer,  # faststart: the index first, for streaming
                                      options={"movflags": "faststart"} if muxer in ("mp4", "mov") else {})
        except BaseException:
            self._file.close()
            raise
        try:
            self._stream = self._container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1001))
            self._stream.width, self._stream.height = width + self._pad[0], height + self._pad[1]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": H264_PRESET}
        except BaseException:
            self._close()
            raise

    def write(self, frame):
        if any(self._pad):
            frame = cv2.copyMakeBorder(frame, 0, self._pad[1], 0, self._pad[0], cv2.BORDER_REPLICATE)
        try:
            for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(frame, format="bgr24")):
                self._container.mux(packet)
        except BaseException:
            self._failed = True
            raise

    _failed = False

    def release(self):
        """Flush the encoder and close the file; after a failed write (a full disk) only close it:
        flushing libx264 into a muxer that failed crashes FFmpeg (a segmentation fault)."""
        try:
            if not self._failed:
                for packet in self._stream.encode():  # the encoder's delayed frames
                    self._container.mux(packet)
        finally:
            self._close()

    def _close(self):
        try:
            self._container.close()
        finally:
            self._file.close()


def _container_format(path):
    """FFmpeg's muxer for a video suffix (the file is written under a temporary name: named here)."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}[Path(path).suffix.lower()]


def open_video_writer(path, fps, size):
    """An H.264 writer (``H264Writer``), or OpenCV's mp4v where PyAV or libx264 is missing (with a
    warning: browsers do not play mp4v)."""
    try:
        return H264Writer(path, fps, size)
    except ImportError as e:
        why = f"PyAV is not installed ({e})"
    except Exception as e:  # noqa: BLE001  (av.FFmpegError and its kin: no libx264 in this FFmpeg)
        why = f"no H.264 encoder ({e})"
    warnings.warn(f"{path}: written as mp4v, which browsers do not play: {why}", stacklevel=2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    return writer if writer.isOpened() else None


class VideoOutput:
    """A video (H.264, ``open_video_writer``) written under a temporary name: ``close`` renames it into
    place once complete, ``discard`` (after an error or Ctrl-C) deletes it, so an earlier file of the
    same name is never replaced by a partial one. Frames are encoded in a background thread, up to
    ``depth`` frames behind; ``write`` hands a frame over (do not change it afterwards)."""

    def __init__(self, path, fps, depth=8):
        self.path, self.fps, self._writer, self._pending = Path(path), fps, None, None
        self._frames, self._thread, self._error = queue.Queue(depth), None, None
        self.encode_seconds, self._count = 0.0, 0

    def write(self, frame):
        if self._writer is None:
            self._pending = PendingOutput(self.path)
            height, width = frame.shape[:2]
            try:
                self._writer = open_video_writer(self._pending.tmp, self.fps, (width, height))
            except OSError:  # a full disk, an unwritable folder
                self._writer = None
            if self._writer is None:  # nothing to stop: no encoder thread was started
                self._pending.discard()
                full = _free_bytes(self.path.parent) == 0
                raise OutputError(f"{self.path}: cannot be written "
                                  f"({'No space left on device' if full else 'no video writer could open it'})")
            self._thread = threading.Thread(target=self._encode, name="fsanet-encode", daemon=True)
            self._thread.start()
        if self._error is not None:
            raise self._error
        self._frames.put(frame)
        self._count += 1

    def _encode(self):
        while (frame := self._frames.get()) is not None:
            if self._error is None:
                start = time.perf_counter()
                try:
                    self._writer.write(frame)
                except OSError as e:  # a full disk: named by the user's path, not the temporary one
                    self._error = OutputError(f"{self.path}: cannot be written ({e.strerror or e})")
                except Exception as e:  # noqa: BLE001  (raised in the caller's thread)
                    self._error = e
                self.encode_seconds += time.perf_counter() - start

    def close(self):
        """Encode what is queued, finish the file and give it its name (if it is whole: OpenCV's
        writer says nothing when the disk fills, it leaves a cut file)."""
        if self._stop():
            if self._error is None and not self._whole():
                full = _free_bytes(self.path.parent) == 0
                self._error = OutputError(f"{self.path}: cannot be written "
                                          f"({'No space left on device' if full else 'the encoder left it incomplete'})")
            if self._error is not None:
                self._pending.discard()
                raise self._error
            self._pending.commit()

    def _whole(self) -> bool:
        """Whether the written file opens and holds every frame (its header's count, which an
        index-less container only estimates: one off is allowed) with the disk not full."""
        if _free_bytes(self._pending.tmp.parent) == 0:
            return False
        capture = cv2.VideoCapture(str(self._pending.tmp))
        try:
            return capture.isOpened() and abs(capture.get(cv2.CAP_PROP_FRAME_COUNT) - self._count) <= 1
        finally:
            capture.release()

    def discard(self):
        """Stop encoding and delete the partial file."""
        if self._stop():
            self._pending.discard()

    def _stop(self) -> bool:
        """Encode what is queued and release the writer; False if it was released already."""
        if self._writer is None:
            return False
        self._frames.put(None)
        self._thread.join()
        try:
            self._writer.release()
        except OSError as e:
            self._error = self._error or OutputError(f"{self.path}: cannot be written ({e.strerror or e})")
        except Exception as e:  # noqa: BLE001  (the encoder's last frames or the container's end)
            self._error = self._error or e
        self._writer = None
        return True


def _free_bytes(folder) -> int | None:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def display_available():
    """A window can open: a display is set (or not Linux) and OpenCV has its GUI module."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("fsanet")
        return True
    except cv2.error:
        return False
