"""Exported files that run without this project: SavedModel, LiteRT (``.tflite``), ONNX and a
TensorFlow.js graph model (a folder: ``model.json`` + ``weights.bin``).

One contract for every file: input ``image``, float32 (N, 64, 64, 3), BGR 0..255 (what the networks
take: no normalisation inside); output ``pose``, float32 (N, 3), yaw / pitch / roll in degrees in the
project's angle convention (``fsanet.core.pose``). N is dynamic. What is exported is the inference form of
the network (``fsanet.model.inference_form.fold_batch_norm``: BatchNorm folded into the convolutions, block 1 one
dense 3x3 conv, max pooling before tanh), the same function to float32 rounding.

Each file carries metadata, strings under ``variant``, ``protocol``, ``weights_sha256``,
``fsanet_version``, ``angle_convention``, ``input``, ``output`` (and ``quantization`` for int8): in ONNX
``metadata_props``; in LiteRT an ``fsanet``
entry (JSON) of the flatbuffer's metadata table (where the converter keeps its own
``min_runtime_version``; the TFLite Support metadata schema would add a dependency for no gain); in a
SavedModel ``assets.extra/fsanet.json`` (the folder SavedModel reserves for files the graph does not
load); in a TF.js model ``model.json``'s ``userDefinedMetadata`` (``model.metadata`` in TF.js).
``read_metadata(path)`` reads any of them.

Why the TF.js model is written here and not by the ``tensorflowjs`` converter. The converter's output of
our SavedModel does not run in TF.js's cpu and wasm backends: its graph optimiser fuses each Dense
head's MatMul + BiasAdd + Tanh into one ``_FusedMatMul`` when TensorFlow's oneDNN is on (the default on
x86 Linux), and neither backend has a fused tanh ("Activation tanh has not been implemented for the CPU
backend", "tanh activation not yet supported for FusedConv2D in the wasm backend"); without oneDNN the
wasm backend still refuses the scoring convolution's bias, which Keras adds as a (1, 1, 1, 1) tensor
("FusedConv2D only supports rank-1 bias but got rank 4"). And the converter cannot be a dependency: its
latest release (4.22.0) requires TensorFlow 2.19, TF Decision Forests and JAX. The graph written here is
TensorFlow's own frozen graph with constants folded and nothing fused (every op a plain TF.js kernel),
the constants in ``weights.bin`` as TF.js's graph-model format lays them out.

Why a plain TFLite conversion returned NaN. ``tf.saved_model.save`` on a Keras 3 model (which
``TFLiteConverter.from_concrete_functions(..., trackable_obj=model)`` calls) writes every weight twice:
Keras' variable wrapper exports the ``tf.Variable`` its functions read (``stage3_x_conv/bias``), then a
copy of it (``Variable_N``), and the checkpoint restores into the copies only. TensorFlow's object
loader copes; the converter imports the SavedModel by graph, where the variables the function reads
are never initialised (a TF1 session load fails with "Could not find variable stage3_x_conv/bias"), so
it keeps them as ``VAR_HANDLE`` / ``READ_VARIABLE`` ops with no values: the ``.tflite`` holds no
weights (capsule: 100 KB instead of 1 MB) and the LiteRT interpreter reads never-written variables.
Here the SavedModel is written by Keras' ``ExportArchive``, which saves the ``tf.Variable`` objects
themselves, the LiteRT file is converted from that SavedModel, and a converted file that still reads
a variable is refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import fsanet
from fsanet.core.outputs import atomic_path
from fsanet.core.quiet import native_stderr_captured
from fsanet.errors import ArgumentTypeError, ExportError
from fsanet.model.variants import IMAGE_SIZE

FORMATS = ("savedmodel", "litert", "onnx", "tfjs")
FORMAT_SUFFIXES = {"savedmodel": "", "litert": ".tflite", "onnx": ".onnx", "tfjs": ""}
FOLDER_MARKS = {"savedmodel": "saved_model.pb", "tfjs": "model.json"}
"""The file that makes a folder an export of a folder format."""
TFJS_DTYPES = {"float32": "float32", "int32": "int32", "bool": "bool"}
"""NumPy -> TF.js names of the constants' types (TF.js has no 64-bit types)."""
INPUT_NAME, OUTPUT_NAME = "image", "pose"
ANGLE_CONVENTION = ("pose = [yaw, pitch, roll] in degrees, the authors' label order; axes drawn as "
                    "Hopenet (x right, y down, z towards the camera)")
METADATA_FILE = "fsanet.json"


def model_digest(model) -> str:
    """SHA-256 of a model's architecture and weight values: one key for any model (released,
    ``.keras``, ``.h5``, trained in memory) that changes whenever a weight does."""
    digest = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def default_metadata(model) -> dict:
    """The metadata of ``model`` where nothing more is known (see ``source_metadata``)."""
    return {"variant": model.name, "protocol": "", "weights_sha256": model_digest(model),
            "fsanet_version": fsanet.__version__, "angle_convention": ANGLE_CONVENTION,
            "input": f"{INPUT_NAME}: float32 (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), BGR 0..255",
            "output": f"{OUTPUT_NAME}: float32 (N, 3), yaw / pitch / roll in degrees"}


def export(model, path, format, metadata=None, int8=None) -> Path:
    """Write ``model`` (any FSA-Net, SSR-Net-MD or fusion model) to ``path`` in ``format`` (``FORMATS``).

    The metadata has the model's name, no protocol and, as ``weights_sha256``, ``model_digest(model)``;
    ``metadata`` overrides any entry (``fsanet.hub.model_spec.export_model`` exports a model spec with
    its source's metadata). ``int8`` (LiteRT only): an (N, 64, 64, 3) array of crops
    (``fsanet.data.calibration.representative_crops``) on which to calibrate int8 weights and
    activations; input and output stay float32. The file appears whole or not at all.
    """
    import keras  # imported when needed
    if not isinstance(model, keras.Model):
        raise ArgumentTypeError(f"export takes a Keras model or a model spec, got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"export writes to a path, got {type(path).__name__}")
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; known: {', '.join(FORMATS)}")
    check_replaceable(path, format)
    if int8 is not None and format != "litert":
        raise ExportError("int8 quantisation is available for the litert format only")
    metadata = {k: str(v) for k, v in dict(default_metadata(model), **(metadata or {})).items()}
    if int8 is not None:
        metadata["quantization"] = ("int8 weights and activations (DIV, ADD, MUL in float); "
                                    "float32 input and output")
    from fsanet.model.inference_form import fold_batch_norm  # Keras: imported when needed
    network = fold_batch_norm(model)
    path = Path(path)
    with atomic_path(path) as tmp, _converters_quiet(), _no_space_named(tmp):
        if format == "onnx":
            _write_onnx(network, tmp, metadata)
        elif format == "litert":
            _write_litert(network, tmp, metadata, int8)
        elif format == "tfjs":
            _write_tfjs(network, tmp, metadata)
        else:
            _write_saved_model(network, tmp, metadata)
    return path


@contextlib.contextmanager
def _no_space_named(tmp):
    """A full disk as the ``OSError`` of ``tmp`` (which ``atomic_path`` reports under the user's
    name): TensorFlow says it as a ``ResourceExhaustedError`` naming a file of its own."""
    try:
        yield
    except Exception as e:
        if not isinstance(e, OSError) and "No space left on device" in str(e):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from None
        raise


@contextlib.contextmanager
def _converters_quiet():
    """The converters' own chatter (TensorFlow's graph optimiser announcing sessions, tf2onnx's
    FutureWarning, the quantiser's settings) kept off stderr, unless the conversion fails."""
    with native_stderr_captured(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def check_replaceable(path, format, name=None):
    """Refuse an output that an export would destroy: a folder in place of a file, or, for a folder
    format (SavedModel, TF.js), a folder holding anything but such an export (it is replaced whole)."""
    path = Path(path)
    where = f"{name} {path}" if name else str(path)
    mark = FOLDER_MARKS.get(format)
    if mark and path.is_symlink() and path.is_dir():  # a folder cannot replace a link
        raise ExportError(f"{where}: is a link to the folder {os.path.realpath(path)}; an export replaces its "
                          "output folder, so give that folder itself or a new name")
    if not mark and path.is_dir():
        raise ExportError(f"{where}: is a folder; give a file name ending in {FORMAT_SUFFIXES[format]}")
    if mark and path.is_dir() and any(path.iterdir()) and not (path / mark).is_file():
        kind = "a SavedModel" if format == "savedmodel" else "a TF.js model"
        raise ExportError(f"{where}: a folder that holds other files, not {kind}; an export "
                          "replaces the whole folder, so give a new or empty one")


def _serving_archive(network):
    import keras
    import tensorflow as tf
    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.add_endpoint(
        "serve", lambda image: {OUTPUT_NAME: network(image, training=False)},
        input_signature=[tf.TensorSpec((None, *network.input_shape[1:]), tf.float32, INPUT_NAME)])
    return archive


def _write_saved_model(network, path: Path, metadata):
    _serving_archive(network).write_out(str(path), verbose=False)
    (path / "assets.extra").mkdir(exist_ok=True)
    (path / "assets.extra" / METADATA_FILE).write_text(json.dumps(metadata, indent=2))


def _write_litert(network, path: Path, metadata, int8):
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    with tempfile.TemporaryDirectory() as saved_model:
        _serving_archive(network).write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        flatbuffer = converter.convert() if int8 is None else _int8(converter, int8)
    tflite = flatbuffer_utils.convert_bytearray_to_object(flatbuffer)
    if flatbuffer_utils.count_resource_variables(tflite):
        raise ExportError(f"{path.name}: the converted LiteRT model reads variables instead of "
                          "holding its weights (see fsanet.deploy.export' docstring)")
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    tflite.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = "fsanet", len(tflite.buffers) - 1
    tflite.metadata = (tflite.metadata or []) + [entry]
    path.write_bytes(flatbuffer_utils.convert_object_to_bytearray(tflite))


def _int8(converter, crops):
    """Full-integer quantisation calibrated on ``crops``; the elementwise
    arithmetic (DIV, ADD, MUL) stays float. The int8 DIV kernel refuses a divisor that rounds to its
    zero point, which the capsule squash and the fine-grained structure's row sums reach on ordinary
    faces; int8 ADD and MUL moved the fusion's angles by 9.6 degrees on average (measured on the 16
    AFLW2000 crops; 0.6 with them in float). The convolutions, where the work is, are int8."""
    import tensorflow as tf
    crops = np.asarray(crops, np.float32)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([crop[None]] for crop in crops)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: iter([[crops[:1]]]),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=["DIV", "ADD", "MUL"]))
    return debugger.get_nondebug_quantized_model()


def _write_onnx(network, path: Path, metadata):
    import onnx
    import tensorflow as tf
    network(np.zeros((1, *network.input_shape[1:]), np.float32))  # Keras exports called models only
    spec = tf.TensorSpec((None, *network.input_shape[1:]), tf.float32, INPUT_NAME)
    with tempfile.TemporaryDirectory() as tmp:
        network.export(f"{tmp}/model.onnx", format="onnx", input_signature=[spec], verbose=False)
        graph = onnx.load(f"{tmp}/model.onnx")
    (output,) = graph.graph.output
    for node in graph.graph.node:
        node.output[:] = [OUTPUT_NAME if name == output.name else name for name in node.output]
    output.name = OUTPUT_NAME
    for value in (graph.graph.input[0], output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def _write_tfjs(network, path: Path, metadata):
    """TF.js's graph-model format (see the module docstring): the topology as a JSON GraphDef whose
    constants hold no values, their values one after another in ``weights.bin``."""
    import tensorflow as tf
    from google.protobuf.json_format import MessageToDict
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.grappler import tf_optimizer
    spec = tf.TensorSpec((None, *network.input_shape[1:]), tf.float32, INPUT_NAME)
    frozen = convert_variables_to_constants_v2(
        tf.function(lambda image: network(image, training=False)).get_concrete_function(spec))
    graph = frozen.graph.as_graph_def()
    (output,) = frozen.outputs
    for node in graph.node:  # the output named as in every other format
        if node.name == output.op.name:
            node.name = OUTPUT_NAME
    signature = meta_graph_pb2.SignatureDef()
    for names, key, tensor in ((signature.inputs, INPUT_NAME, frozen.inputs[0]),
                               (signature.outputs, OUTPUT_NAME, output)):
        names[key].CopyFrom(meta_graph_pb2.TensorInfo(name=f"{key}:0", dtype=tensor.dtype.as_datatype_enum,
                                                      tensor_shape=tensor.shape.as_proto()))
    item = tf.compat.v1.train.export_meta_graph(graph_def=graph, graph=frozen.graph)
    item.signature_def["serving_default"].CopyFrom(signature)
    item.collection_def["train_op"].node_list.value.append(OUTPUT_NAME)  # what the optimiser keeps
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.optimizers[:] = ["pruning", "constfold", "arithmetic", "dependency"] * 2
    graph = tf_optimizer.OptimizeGraph(config, item)  # no "remap": nothing is fused
    weights, values = [], []
    for node in graph.node:
        if node.op == "Const":
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.dtype.name not in TFJS_DTYPES:
                raise ExportError(f"{path.name}: the constant {node.name} is {value.dtype.name}, a type TF.js lacks")
            weights.append({"name": node.name, "shape": list(value.shape), "dtype": TFJS_DTYPES[value.dtype.name]})
            values.append(np.ascontiguousarray(value).tobytes())
            for field in ("tensor_content", "float_val", "int_val", "bool_val"):
                node.attr["value"].tensor.ClearField(field)
    path.mkdir()
    (path / "weights.bin").write_bytes(b"".join(values))
    (path / "model.json").write_text(json.dumps({
        "format": "graph-model", "generatedBy": tf.__version__, "convertedBy": f"fsanet {fsanet.__version__}",
        "signature": MessageToDict(signature), "modelTopology": MessageToDict(graph),
        "weightsManifest": [{"paths": ["weights.bin"], "weights": weights}], "userDefinedMetadata": metadata}))


def read_metadata(path) -> dict:
    """The metadata an exported file carries (see the module docstring); {} if it has none."""
    path = Path(path)
    if (path / FOLDER_MARKS["tfjs"]).is_file():
        return json.loads((path / FOLDER_MARKS["tfjs"]).read_text()).get("userDefinedMetadata", {})
    if path.is_dir():
        file = path / "assets.extra" / METADATA_FILE
        return json.loads(file.read_text()) if file.is_file() else {}
    if path.suffix == ".onnx":
        import onnx
        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if path.suffix == ".tflite":
        from tensorflow.lite.tools import flatbuffer_utils
        tflite = flatbuffer_utils.read_model(str(path))
        for entry in tflite.metadata or []:
            if entry.name.decode() == "fsanet":
                return json.loads(bytes(tflite.buffers[entry.buffer].data).decode())
        return {}
    raise ExportError(f"{path}: not an exported model (.onnx, .tflite, a SavedModel or TF.js folder)")
