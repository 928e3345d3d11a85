"""Runtimes for the pose networks: Keras itself, or an exported file under ONNX Runtime, LiteRT or
TensorFlow (SavedModel).

A runner is a callable from a float32 (N, 64, 64, 3) batch to (N, 3) angles (NumPy). Backends for a
Keras model (``BACKENDS``): ``keras`` runs it directly; ``onnxruntime`` and ``litert`` convert it once
(``fsanet.exports``) into the cache, ``<cache>/exports/<version>/<model_digest>/<name>.<suffix>``,
keyed by the project version (which fixes the exported inference form) and the SHA-256 of the model's
architecture and weights, and every time a runner opens such a file it is
checked against the Keras model on ``check_inputs()`` at batch 1 and 4 (max |difference|
<= ``PARITY_DEGREES``): a file that fails is deleted and never used.

The default backend is the first of ``FASTEST_FIRST`` that converts and passes that check: an order
measured by ``benchmarks/inference.py`` (LiteRT leads at batch 1 and at batch 64), not re-timed at run
time.

Threads: FSA-Net's ops are small, so splitting one op over cores gains little. Every runtime instance
runs on one thread; up to ``SMALL_BATCH`` images run in the caller's thread (on an idle machine two
threads are faster at batch 1, but a video pipeline needs the second core for decoding and encoding,
and under load one thread was faster), a larger batch is cut into chunks of ``SMALL_BATCH`` (their activations
stay in cache) that one worker per core runs side by side. At batch 64 this and one instance with an
intra-op thread per core came within noise of each other on the shared 2-core machine. ONNX Runtime's idle
threads would spin, stealing the core the rest of a pipeline (video decoding, face detection) needs:
spinning is turned off.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

import fsanet
from fsanet.exports import SUFFIXES, ExportError, export, model_digest, read_metadata
from fsanet.runtime import native_stderr_captured

BACKENDS = ("keras", "onnxruntime", "litert")
FASTEST_FIRST = ("litert", "onnxruntime", "keras")
FILE_BACKENDS = {".onnx": "onnxruntime", ".tflite": "litert"}
"""The runtime of each exported file, by suffix (a SavedModel folder runs under "tensorflow")."""
FORMAT_OF = {"onnxruntime": "onnx", "litert": "litert"}
PARITY_DEGREES = 1e-3
SMALL_BATCH = 8


def check_inputs(image_size=64) -> np.ndarray:
    """Four fixed random 0..255 images: the inputs on which a converted file must match Keras."""
    return np.random.default_rng(0).uniform(0, 255, (4, image_size, image_size, 3)).astype(np.float32)


def parity_difference(model, runner) -> float:
    """Max |runner - Keras model| (degrees) on ``check_inputs()``, at batch 4 and at batch 1."""
    images = check_inputs(model.input_shape[1])
    expected = np.asarray(model(images, training=False))
    return float(np.max([np.abs(runner(images) - expected).max(),
                         np.abs(runner(images[:1]) - expected[:1]).max()]))  # NaN propagates


class KerasRunner:
    """One concrete ``tf.function`` of the inference form (``fold_batch_norm``), called directly:
    ``model.predict`` costs tens of milliseconds of set-up per call and even the generic
    ``tf.function`` dispatch about a millisecond, more than the network itself at batch 1."""

    backend = "keras"

    def __init__(self, model):
        import tensorflow as tf
        from fsanet.inference import fold_batch_norm
        self.inference_model = fold_batch_norm(model)
        size = model.input_shape[1]
        self._forward = tf.function(
            lambda images: self.inference_model(images, training=False), autograph=False,
            input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)],
        ).get_concrete_function()

    def __call__(self, batch):
        import tensorflow as tf
        return self._forward(tf.convert_to_tensor(batch, tf.float32)).numpy()


class _ThreadedRunner:
    """Single-threaded runtime instances, one per calling thread: a batch of up to ``SMALL_BATCH``
    images runs on the caller's; a larger one is cut into chunks of ``SMALL_BATCH`` that a pool of
    one worker per core runs side by side (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self._local = threading.local()
        self._pool = None
        self._instance()  # opens the file now: a bad file fails here, not mid-video

    def _instance(self):
        if not hasattr(self._local, "instance"):
            self._local.instance = self.open(threads=1)
        return self._local.instance

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        if len(batch) <= SMALL_BATCH:
            return self._instance()(batch)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1)
        chunks = [batch[i:i + SMALL_BATCH] for i in range(0, len(batch), SMALL_BATCH)]
        return np.concatenate(list(self._pool.map(lambda chunk: self._instance()(chunk), chunks)))


class OnnxRuntimeRunner(_ThreadedRunner):
    backend = "onnxruntime"

    def open(self, threads):
        """A new instance with ``threads`` intra-op threads, (N, 64, 64, 3) -> (N, 3)."""
        try:
            import onnxruntime
        except ImportError:
            raise ExportError("the onnxruntime backend needs the onnxruntime package") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(str(self.path), options,
                                                   providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own types for unreadable files
            raise ExportError(f"{self.path}: not a readable ONNX model ({e})") from None
        return lambda batch: session.run(["pose"], {"image": batch})[0]


class LiteRTRunner(_ThreadedRunner):
    backend = "litert"

    def open(self, threads):
        """A new instance with ``threads`` intra-op threads, (N, 64, 64, 3) -> (N, 3)."""
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ExportError("the litert backend needs the ai-edge-litert package") from None
        try:  # XNNPACK's latest features: same results, about 20% faster at batch 64 (measured)
            with native_stderr_captured():  # a deprecation notice printed as "ERROR:"
                interpreter = Interpreter(model_path=str(self.path), num_threads=threads,
                                          experimental_default_delegate_latest_features=True)
            return _Interpreter(interpreter)
        except ValueError as e:
            raise ExportError(f"{self.path}: not a readable LiteRT model ({e})") from None


class _Interpreter:
    """A LiteRT interpreter resized only when the batch size changes (re-planning costs time)."""

    def __init__(self, interpreter):
        self.interpreter = interpreter
        (self._input,) = interpreter.get_input_details()
        (self._output,) = interpreter.get_output_details()
        self._batch_size = None

    def __call__(self, batch):
        if len(batch) != self._batch_size:
            self.interpreter.resize_tensor_input(self._input["index"], batch.shape)
            with native_stderr_captured():  # LiteRT announces its XNNPACK delegate here
                self.interpreter.allocate_tensors()
            self._batch_size = len(batch)
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"])


class SavedModelRunner:
    backend = "tensorflow"

    def __init__(self, path):
        import tensorflow as tf
        self.path = Path(path)
        try:
            self._serve = tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as e:  # TensorFlow raises many types for unreadable folders
            raise ExportError(f"{self.path}: not a readable SavedModel ({e})") from None

    def __call__(self, batch):
        import tensorflow as tf
        return self._serve(image=tf.convert_to_tensor(batch, tf.float32))["pose"].numpy()


_FILE_RUNNERS = {"onnxruntime": OnnxRuntimeRunner, "litert": LiteRTRunner,
                 "tensorflow": SavedModelRunner}


def file_backend(path) -> str | None:
    """The runtime of an exported file or SavedModel folder, None if ``path`` is neither."""
    path = Path(path)
    if path.is_dir():
        return "tensorflow" if (path / "saved_model.pb").is_file() else None
    return FILE_BACKENDS.get(path.suffix) if path.suffix else None


class ExportedModel:
    """An exported file standing in for a model where only inference is needed (``PosePredictor``,
    the demo, evaluation): ``model(images)`` gives (N, 3) angles under the file's own runtime."""

    def __init__(self, path):
        self.path = Path(path)
        self.backend = file_backend(self.path)
        if not self.path.exists():
            raise ExportError(f"{self.path}: exported model not found")
        if self.backend is None:
            raise ExportError(f"{self.path}: not an exported model (.onnx, .tflite or a SavedModel "
                              "folder)")
        self.runner = _FILE_RUNNERS[self.backend](self.path)
        self.metadata = read_metadata(self.path)
        self.name = self.metadata.get("variant") or self.path.stem
        self.input_shape = (None, 64, 64, 3)

    @property
    def size_bytes(self) -> int:
        files = self.path.rglob("*") if self.path.is_dir() else [self.path]
        return sum(f.stat().st_size for f in files if f.is_file())

    def __call__(self, images):
        return self.runner(np.asarray(images, np.float32))


def export_cache_path(model, backend, cache_dir=None) -> Path:
    """Where ``backend``'s conversion of ``model`` is cached (see the module docstring)."""
    if cache_dir is None:
        from fsanet.pretrained import default_cache_dir
        cache_dir = default_cache_dir()
    return (Path(cache_dir) / "exports" / fsanet.__version__ / model_digest(model) /
            f"{model.name}{SUFFIXES[FORMAT_OF[backend]]}")


def converted_runner(model, backend, cache_dir=None):
    """A runner of ``model`` under ``backend``, converting it into the cache on first use and
    checking the file against the model every time it is opened (see the module docstring). A
    cached file that cannot be read or no longer matches is converted again; a cache folder that
    cannot be written gives a conversion in a temporary folder, for this run only."""
    if backend == "keras":
        return KerasRunner(model)
    if backend not in FORMAT_OF:
        raise ExportError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    path = export_cache_path(model, backend, cache_dir)
    if path.exists():
        try:
            return _checked_runner(model, backend, path)
        except ExportError as e:
            print(f"{e}; converting again", file=sys.stderr)
    path = _writable(path)
    print(f"converting {model.name} for {backend} once (cached in {path.parent})", file=sys.stderr)
    try:
        export(model, path, FORMAT_OF[backend])
    except ExportError:
        raise
    except Exception as e:  # converters raise many types; auto selection moves on
        raise ExportError(f"converting {model.name} for {backend} failed: "
                          f"{type(e).__name__}: {e}") from e
    return _checked_runner(model, backend, path)


def _checked_runner(model, backend, path):
    """The runner of a converted file that matches ``model``; the file is removed otherwise."""
    try:
        runner = _FILE_RUNNERS[backend](path)
        difference = parity_difference(model, runner)
        if not difference <= PARITY_DEGREES:  # also refuses NaN
            raise ExportError(f"{path}: {backend} output differs from the Keras model by "
                              f"{difference:.2g} degrees (> {PARITY_DEGREES}); file removed")
    except ExportError:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return runner


def _writable(path: Path) -> Path:
    """``path`` if its folder can be written, else the same name in a temporary folder removed at
    exit (a read-only cache must not stop a run)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            return path
    except OSError as e:
        folder = Path(tempfile.mkdtemp(prefix="fsanet-conversion-"))
        atexit.register(shutil.rmtree, folder, True)
        print(f"{path.parent}: the cache cannot be written ({e.strerror or e}); converting for this "
              "run only", file=sys.stderr)
        return folder / path.name


def select_runner(model, backend=None, cache_dir=None):
    """(backend name, runner) for a Keras model or an ``ExportedModel``; ``backend=None`` takes the
    first of ``FASTEST_FIRST`` that works (see the module docstring)."""
    if isinstance(model, ExportedModel):
        if backend not in (None, model.backend):
            raise ExportError(f"{model.path} runs under {model.backend}, not {backend}")
        return model.backend, model.runner
    if backend is not None:
        return backend, converted_runner(model, backend, cache_dir)
    for candidate in FASTEST_FIRST[:-1]:
        try:
            return candidate, converted_runner(model, candidate, cache_dir)
        except ExportError as e:
            warnings.warn(f"{candidate} backend unavailable, trying the next: {e}")
    return FASTEST_FIRST[-1], converted_runner(model, FASTEST_FIRST[-1], cache_dir)
