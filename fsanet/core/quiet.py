"""A quiet start: TensorFlow, absl, CUDA and OpenCV logs stay out of the way.

TensorFlow writes several lines to stderr while it loads (oneDNN, "Could not find cuda drivers",
and on a CPU machine ``failed call to cuInit: ... CUDA error``), before its own log level applies,
so no environment variable silences them. Its first import (whoever makes it: ``fsanet.core.imports``
watches for it) runs with the process's stderr (file descriptor 2) pointed at a temporary file,
and what was written there is shown if the import fails. The commands ask for this and for quiet
logs (``quiet_tensorflow``); ``import fsanet`` asks for the quiet start only (``quiet_start``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

from fsanet.core.imports import around_import, not_around_import, when_imported
from fsanet.errors import ArgumentTypeError


@contextlib.contextmanager
def native_stderr_captured(python_stays=False):
    """Point file descriptor 2 at a temporary file; on an exception, replay what was captured.
    Also for native calls whose only output on success is a notice (LiteRT's, the TFLite quantiser's).
    ``python_stays``: Python's ``sys.stderr`` (progress bars, messages) keeps the console meanwhile;
    only native code's writes (a C++ core's log lines) are captured."""
    sys.stderr.flush()
    saved, python_stderr = os.dup(2), sys.stderr
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        if python_stays:
            sys.stderr = open(os.dup(saved), "w", buffering=1, errors="backslashreplace")
        try:
            yield
        except Exception:  # a failure: show what was printed (not on Ctrl-C: one line then)
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            if python_stays:
                sys.stderr.close()
                sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow(verbose: bool = False):
    """TensorFlow (and Keras) with their start-up and runtime logs silenced, unless ``verbose``:
    applied when TensorFlow is first imported, by whatever imports it, so nothing loads here and a
    command's checks answer before TensorFlow has cost its seconds (at once if it is loaded already).
    Safe to call more than once; a user's own TF_CPP_MIN_LOG_LEVEL wins."""
    if not isinstance(verbose, bool):
        raise ArgumentTypeError(f"verbose must be True or False, got {type(verbose).__name__}")
    if verbose:  # everything through, TensorFlow's start-up lines too (``import fsanet`` holds them back)
        not_around_import("tensorflow", _start_captured)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    around_import("tensorflow", _start_captured)
    when_imported("tensorflow", _quiet_loggers)


def quiet_start():
    """Only TensorFlow's start-up lines kept off stderr (replayed if its import fails): what
    ``import fsanet`` arranges; its log level and warnings are the user's."""
    around_import("tensorflow", _start_captured)


@contextlib.contextmanager
def _start_captured():
    with native_stderr_captured():
        yield
        sys.modules["tensorflow"].config.list_physical_devices()  # CUDA is probed here: still captured


def _quiet_loggers():
    sys.modules["tensorflow"].get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import absl.logging
        absl.logging.set_verbosity(absl.logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")


def quiet_opencv(verbose: bool = False):
    """OpenCV's and FFmpeg's native logging off (``[ WARN:0@...]``, ``[ERROR:0@...] imdecode_``,
    ``[mov,mp4 @ 0x...] moov atom not found``): every failure they report reaches the user as the
    command's own one-line message naming the file."""
    if not verbose:
        os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
        if "cv2" in sys.modules:
            with contextlib.suppress(AttributeError):
                sys.modules["cv2"].utils.logging.setLogLevel(sys.modules["cv2"].utils.logging.LOG_LEVEL_SILENT)
