"""Runners of the pose networks: Keras' own graph, or an exported file under ONNX Runtime, LiteRT or
TensorFlow (SavedModel). A runner is a callable from a float32 (N, 64, 64, 3) batch to (N, 3) angles.

Threads: FSA-Net's ops are small, so splitting one op over cores gains little. Every runtime instance
runs on one thread; up to ``SMALL_BATCH`` images run in the caller's thread (on an idle machine two
threads are faster at batch 1, but a video pipeline needs the second core for decoding and encoding,
and under load one thread was faster), a larger batch is cut into chunks of ``SMALL_BATCH`` (their activations
stay in cache) that one worker per granted core (``granted_cpus``: what an engine such as Ray gave
this process, not the machine's cores) runs side by side. At batch 64 this and one instance with an
intra-op thread per core came within noise of each other on the shared 2-core machine. ONNX Runtime's idle
threads would spin, stealing the core the rest of a pipeline (video decoding, face detection) needs:
spinning is turned off.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import threading
from pathlib import Path

import numpy as np

from fsanet.core.quiet import native_stderr_captured
from fsanet.deploy.export import INPUT_NAME, OUTPUT_NAME, read_metadata
from fsanet.errors import ArgumentTypeError, ExportError, one_line
from fsanet.model.variants import IMAGE_SIZE

FILE_BACKENDS = {".onnx": "onnxruntime", ".tflite": "litert"}
"""The runtime of each exported file, by suffix (a SavedModel folder runs under "tensorflow")."""
SMALL_BATCH = 8
LIBRARY_TEXT = 300
"""Characters of a runtime's own (often many-line) message kept in our one line."""


def check_signature(path, kind, inputs, outputs):
    """Refuse, in one line naming the file, a file that does not take and give what the exported
    networks do (``fsanet.deploy.export``): one input ``image`` float32 (N, 64, 64, 3) and an output
    ``pose`` float32 (N, 3), N free. ``inputs`` / ``outputs``: (name, shape, dtype name) as the
    runtime reports them, a free dimension as None, a string or a negative number."""
    def free(d):
        return not isinstance(d, (int, np.integer)) or d < 0

    def text(name, shape, dtype):
        return f"{name!r} {dtype} ({', '.join('N' if free(d) else str(int(d)) for d in shape)})"

    def fits(tensor, name, size):
        return (tensor[0] == name and tensor[2] == "float32" and len(tensor[1]) == len(size)
                and free(tensor[1][0]) and all(not free(d) and d == s for d, s in zip(tensor[1][1:], size[1:])))
    image = (INPUT_NAME, (None, IMAGE_SIZE, IMAGE_SIZE, 3))
    pose = (OUTPUT_NAME, (None, 3))
    expected = f"{INPUT_NAME!r} float32 (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) -> {OUTPUT_NAME!r} float32 (N, 3)"
    if (len(inputs) != 1 or not fits(inputs[0], *image)
            or not any(fits(tensor, *pose) for tensor in outputs)):
        raise ExportError(f"{path}: not an FSA-Net {kind} file: it computes "
                          f"{', '.join(text(*t) for t in inputs) or 'nothing'} -> "
                          f"{', '.join(text(*t) for t in outputs) or 'nothing'}; expected {expected}")


class KerasRunner:
    """One concrete ``tf.function`` of the inference form (``fold_batch_norm``), called directly:
    ``model.predict`` costs tens of milliseconds of set-up per call and even the generic
    ``tf.function`` dispatch about a millisecond, more than the network itself at batch 1."""

    backend = "keras"

    def __init__(self, model):
        import tensorflow as tf

        from fsanet.model.inference_form import fold_batch_norm
        self.inference_model = fold_batch_norm(model)
        size = model.input_shape[1]
        self._forward = tf.function(
            lambda images: self.inference_model(images, training=False), autograph=False,
            input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)],
        ).get_concrete_function()

    def __call__(self, batch):
        import tensorflow as tf
        return self._forward(tf.convert_to_tensor(batch, tf.float32)).numpy()


def granted_cpus() -> int:
    """The CPUs this process may use: what the engine granted it (Ray, like OpenMP launchers, sets
    ``OMP_NUM_THREADS`` to a worker's CPUs), else the cores it may run on (its affinity, which
    containers and ``taskset`` narrow), not the machine's ``os.cpu_count()``."""
    granted = os.environ.get("OMP_NUM_THREADS", "")
    if granted.isdigit() and int(granted) > 0:
        return int(granted)
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity on macOS / Windows
        return os.cpu_count() or 1


class _ThreadedRunner:
    """Single-threaded runtime instances, one per calling thread: a batch of up to ``SMALL_BATCH``
    images runs on the caller's; a larger one is cut into chunks of ``SMALL_BATCH`` that a pool of
    ``threads`` workers (None: ``granted_cpus()``) runs side by side (see the module docstring).
    It pickles without its instances: they reopen, lazily, where it is unpickled. ``providers``:
    ONNX Runtime's execution providers in order of preference (None: the CPU's alone)."""

    def __init__(self, path, threads=None, providers=None):
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ArgumentTypeError(f"threads is a number of threads (an int, at least 1), got {threads!r}")
        if providers is not None and self.backend != "onnxruntime":
            raise ArgumentTypeError(f"providers are ONNX Runtime's; {Path(path).name} runs under {self.backend}")
        self.path, self.threads, self.providers = Path(path), threads, providers
        self._local = threading.local()
        self._pool = None
        self._instance()  # opens the file now: a bad file fails here, not mid-video

    def __getstate__(self):
        return {"path": self.path, "threads": self.threads, "providers": self.providers}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local, self._pool = threading.local(), None

    def _instance(self):
        if not hasattr(self._local, "instance"):
            self._local.instance = self.open(threads=1)
        return self._local.instance

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        workers = self.threads or granted_cpus()
        if len(batch) <= SMALL_BATCH or workers == 1:
            return self._instance()(batch)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(workers)
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
        providers = self.providers or ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in onnxruntime.get_available_providers()]
        if missing:  # ONNX Runtime itself would fall back to the CPU with a warning only
            raise ExportError(f"{self.path}: ONNX Runtime {onnxruntime.__version__} here has no {', '.join(missing)} "
                              f"(it has {', '.join(onnxruntime.get_available_providers())}; CUDA needs the "
                              "onnxruntime-gpu package)")
        try:
            session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)
        except Exception as e:  # ONNX Runtime raises its own types for unreadable files
            raise ExportError(f"{self.path}: not a readable ONNX model ({one_line(e, LIBRARY_TEXT)})") from e
        dtypes = {"tensor(float)": "float32"}
        check_signature(self.path, "ONNX", *([(t.name, t.shape, dtypes.get(t.type, t.type)) for t in tensors]
                                             for tensors in (session.get_inputs(), session.get_outputs())))
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
        except ValueError as e:
            raise ExportError(f"{self.path}: not a readable LiteRT model ({one_line(e, LIBRARY_TEXT)})") from e
        # the converter names the input serving_default_image:0 and the one output after its op
        inputs, outputs = ([(re.sub(r"^serving_default_|:\d+$", "", t["name"]), tuple(t["shape_signature"]),
                             np.dtype(t["dtype"]).name) for t in details]
                           for details in (interpreter.get_input_details(), interpreter.get_output_details()))
        check_signature(self.path, "LiteRT", inputs,
                        [(OUTPUT_NAME, *t[1:]) for t in outputs] if len(outputs) == 1 else outputs)
        return _Interpreter(interpreter)


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
            signatures = tf.saved_model.load(str(self.path)).signatures
        except Exception as e:  # TensorFlow raises many types for unreadable folders (no variables, ...)
            raise ExportError(f"{self.path}: not a readable SavedModel ({one_line(e, LIBRARY_TEXT)})") from e
        if "serving_default" not in signatures:
            raise ExportError(f"{self.path}: not an FSA-Net SavedModel: no serving_default signature "
                              f"(it has {', '.join(signatures.keys()) or 'none'})")
        self._serve = signatures["serving_default"]
        _, inputs = self._serve.structured_input_signature
        check_signature(self.path, "SavedModel", *([(name, tuple(spec.shape), spec.dtype.name)
                                                   for name, spec in sorted(specs.items())]
                                                  for specs in (inputs, self._serve.structured_outputs)))

    def __call__(self, batch):
        import tensorflow as tf
        return self._serve(image=tf.convert_to_tensor(batch, tf.float32))["pose"].numpy()


class TFJSGraphRunner:
    """A TF.js graph model (``fsanet.export`` format tfjs) read back and run by TensorFlow: the check that
    the folder holds the network's graph and weights (TF.js runs it in a browser or Node, not here)."""
    backend = "tensorflow"

    def __init__(self, path):
        import json

        import tensorflow as tf
        from google.protobuf.json_format import ParseDict
        path = Path(path)
        model = json.loads((path / "model.json").read_text())
        graph = ParseDict(model["modelTopology"], tf.compat.v1.GraphDef())
        nodes, offset = {node.name: node for node in graph.node}, 0
        (manifest,) = model["weightsManifest"]
        data = b"".join((path / name).read_bytes() for name in manifest["paths"])
        for weight in manifest["weights"]:
            value = np.frombuffer(data, weight["dtype"], int(np.prod(weight["shape"])), offset).reshape(weight["shape"])
            nodes[weight["name"]].attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            offset += value.nbytes
        imported = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph, name=""), [])
        self._run = imported.prune(f"{INPUT_NAME}:0", f"{OUTPUT_NAME}:0")

    def __call__(self, batch):
        import tensorflow as tf
        return self._run(tf.convert_to_tensor(batch, tf.float32)).numpy()


FILE_RUNNERS = {"onnxruntime": OnnxRuntimeRunner, "litert": LiteRTRunner,
                 "tensorflow": SavedModelRunner}


def file_backend(path) -> str | None:
    """The runtime of an exported file or SavedModel folder, None if ``path`` is neither."""
    path = Path(path)
    if path.is_dir():
        return "tensorflow" if (path / "saved_model.pb").is_file() else None
    return FILE_BACKENDS.get(path.suffix) if path.suffix else None


class ExportedModel:
    """An exported file standing in for a model where only inference is needed (``PosePredictor``,
    the demo, evaluation): ``model(images)`` gives (N, 3) angles under the file's own runtime.
    ``threads``: an ONNX / LiteRT runner's pool size, ``providers``: an ONNX runner's execution
    providers (``_ThreadedRunner``)."""

    def __init__(self, path, threads=None, providers=None):
        self.path = Path(path)
        self.backend = file_backend(self.path)
        if not self.path.exists():
            raise ExportError(f"{self.path}: exported model not found")
        if self.backend is None:
            raise ExportError(f"{self.path}: not an exported model (.onnx, .tflite or a SavedModel "
                              "folder)")
        self.runner = (FILE_RUNNERS[self.backend](self.path) if self.backend == "tensorflow"
                       else FILE_RUNNERS[self.backend](self.path, threads, providers))
        self.metadata = read_metadata(self.path)
        self.name = self.metadata.get("variant") or self.path.stem
        self.input_shape = (None, IMAGE_SIZE, IMAGE_SIZE, 3)

    @property
    def size_bytes(self) -> int:
        files = self.path.rglob("*") if self.path.is_dir() else [self.path]
        return sum(f.stat().st_size for f in files if f.is_file())

    def __call__(self, images):
        return self.runner(np.asarray(images, np.float32))
