"""A quiet start for the command line: TensorFlow, absl, CUDA and OpenCV logs stay out of the way.

TensorFlow writes several lines to stderr while it loads (oneDNN, "Could not find cuda drivers",
and on a CPU machine ``failed call to cuInit: ... CUDA error``), before its own log level applies,
so no environment variable silences them. The command line imports TensorFlow once with the
process's stderr (file descriptor 2) pointed at a temporary file, and keeps what was written there
in case the import fails. Only commands call this; ``import fsanet`` changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

_LOADED = False


@contextlib.contextmanager
def native_stderr_captured():
    """Point file descriptor 2 at a temporary file; on an exception, replay what was captured.
    Also for native calls whose only output on success is a notice (LiteRT's, the TFLite quantiser's)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except Exception:  # a failure: show what was printed (not on Ctrl-C: one line then)
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow(verbose: bool = False):
    """Import TensorFlow (and Keras) with their start-up and runtime logs silenced, unless
    ``verbose``. Safe to call more than once; a user's own TF_CPP_MIN_LOG_LEVEL wins."""
    global _LOADED
    if _LOADED or "tensorflow" in sys.modules:
        _LOADED = True
        return
    if verbose:
        import tensorflow  # noqa: F401
        _LOADED = True
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_captured():
        import tensorflow as tf
        tf.config.list_physical_devices()  # CUDA probing happens here, still inside the capture
        import keras  # noqa: F401
    tf.get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import absl.logging
        absl.logging.set_verbosity(absl.logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")
    _LOADED = True


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
