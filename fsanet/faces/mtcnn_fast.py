"""MTCNN fast: the ``mtcnn`` package's own P-, R- and O-net weights run under ONNX Runtime, its box
logic redone in NumPy and OpenCV.

``FastMTCNNCascade`` adds O-net: a drop-in for ``MTCNNCascadeDetector(rgb=True)`` (the full cascade,
stage thresholds 0.6 / 0.7 / 0.7) that also fills ``Face.landmarks`` (O-net's five points), with a
``min_confidence`` cut (0.9, the photo rule; 0 keeps every face, as ``MTCNNCascadeDetector`` does) and
``rgb=False`` for the authors' BGR input. Same boxes to the pixel, confidences within 1e-3 (measured
2.2e-5), landmarks within 0.05 px (measured 0.0023) on the group photo at 640x360 and the 16 AFLW2000
samples (24 faces; ``tests/test_fast_detector.py``). It is a subclass, not a ``stages=`` option: its
output differs in kind (O-net's box, not squared or clipped, ``int`` not ``round``; landmarks; another
confidence default), as ``MTCNNCascadeDetector`` differs from ``MTCNNDetector``, and each class stands
for one package class. The package computes the box regression's product in float32 (a float32
tensor times float64 sizes): so does ``_adjust``, for both R- and O-net, which the pixel parity of
``int`` truncation needs.

``FastMTCNNDetector`` is a drop-in for ``fsanet.faces.detectors.MTCNNDetector`` (``mtcnn==1.0.0``,
``MTCNN(stages="face_detection_only")``, RGB input, the same 0.95 confidence rule): same call
(BGR uint8 image -> list of ``Face``), same boxes (within a pixel) and confidences (within 1e-3)
(``tests/test_fast_detector.py``), several times faster (``benchmarks/photo_detectors.py``).

Where the time went in the package (eager Keras on two cores): one eager Keras call per pyramid scale
and per layer (Python dispatch of small ops), TensorFlow's area resize on a float64 image, and R-net
on every proposal (about 190 on the group photo at 640x360). Here (``benchmarks/photo_detectors.py``):

- each network is one ONNX Runtime session built in memory (dynamic input size; one intra-op thread,
  spinning off, as in ``fsanet.deploy.backends``);
- PReLU is written ``Max(y, alpha * y)`` where every slope of the layer is <= 1, else
  ``Relu(y) + alpha * Min(y, 0)`` (the first layers have slopes above 1): the same numbers, 2.6x
  faster than ONNX Runtime's ``PRelu`` with per-channel slopes;
- P-net's two heads are one 1x1 convolution whose fifth channel is the face logit minus the non-face
  logit (its sigmoid is the softmax's face probability);
- R-net runs on chunks of ``RNET_CHUNK`` patches (activations stay in cache);
- the pyramid is ``cv2.resize(INTER_AREA)`` on float32 (the same area average as
  ``tf.image.resize(method="area")``, within 3e-5 on the [-1, 1] scale), and R-net's 24x24 patches
  are cut with a NumPy copy of ``tf.image.crop_and_resize`` (bilinear, zero outside; within 1e-4).

The package's pipeline, step by step (``mtcnn/stages/stage_pnet.py``, ``stage_rnet.py``,
``mtcnn/utils/bboxes.py``):

1. pyramid: scales ``(12 / 20) * 0.709 ** k``, ``k < round(-(log(min_side / 12) / log(0.709) + 1))``;
   each level ``int(side * scale)`` pixels, of the image normalized to ``(x - 127.5) / 128``;
2. P-net per level; a cell (row, col) whose face probability is > 0.6 proposes the 12 x 12 window at
   ``(2 col + 1, 2 row + 1)``..``(2 col + 12, 2 row + 12)`` moved by the regression times 11, divided by the
   scale; per level NMS (IoU > 0.5), then across levels (IoU > 0.7), then made square;
3. R-net on 24 x 24 crops of those squares; its face probability replaces the confidence, its
   regression moves the box (times width + 1 and height + 1); kept when > 0.7; NMS (IoU > 0.7); square;
4. clipped to ``[0, width - 1] x [0, height - 1]``, reported as ``round`` of (x1, y1, x2 - x1, y2 - y1).

The package's NMS is not the greedy one: a box is dropped when any higher-scored box (kept or not)
overlaps it by more than the threshold; it is reproduced here as is.

The ONNX graphs are built in memory from the weights the ``mtcnn`` wheel ships (``mtcnn/assets/
weights/*.lz4``, read as the package reads them but without importing it, which would import
TensorFlow) in about 1.5 s, the imports of onnx and ONNX Runtime included: there is no file to
convert, cache or download.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fsanet.errors import DetectorError
from fsanet.faces.boxes import Face

PNET_THRESHOLD, RNET_THRESHOLD = 0.6, 0.7
PNET_NMS_SCALE, PNET_NMS_ALL, RNET_NMS = 0.5, 0.7, 0.7
MIN_FACE_SIZE, MIN_SIZE, SCALE_FACTOR = 20, 12, 0.709
RNET_CHUNK = 16
"""R-net's patches per run: its activations stay in the CPU's cache (measured: 192 patches in chunks of
16 took 2/3 of the time of one batch of 192)."""


def _weights(name):
    """The ``mtcnn`` wheel's weights file ``name`` (float32 arrays in Keras' order), read as the package
    reads it (joblib) but without importing the package, which imports TensorFlow."""
    import importlib.util
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorError("mtcnn_fast needs the mtcnn package's weights (pip install mtcnn)")
    path = Path(spec.submodule_search_locations[0]) / "assets" / "weights" / name
    if not path.is_file():
        raise DetectorError(f"{path}: MTCNN weights missing from the mtcnn package")
    import joblib
    return [np.asarray(w, dtype=np.float32) for w in joblib.load(path)]


def _graph_builder():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def prelu(y, name, alpha):
        # Not ONNX Runtime's PRelu, whose per-channel slopes are not vectorized (measured 2.6x slower
        # than the form below): where every slope is <= 1, Max(y, alpha * y); else (the first layers
        # have slopes up to 1.3, and negative ones) Relu(y) + alpha * Min(y, 0). The same numbers.
        slopes = const(f"{name}_alpha", alpha)
        if (alpha <= 1).all():
            return node("Max", [y, node("Mul", [y, slopes], f"{name}_scaled")], f"{name}_prelu")
        zero = const(f"{name}_zero", np.zeros((), np.float32))
        negative = node("Mul", [node("Min", [y, zero], f"{name}_min"), slopes], f"{name}_negative")
        return node("Add", [node("Relu", [y], f"{name}_relu"), negative], f"{name}_prelu")

    def conv_prelu(x, name, kernel, bias, alpha):
        # Keras: kernel HWIO, PReLU alpha (1, 1, C) shared over H and W.
        y = node("Conv", [x, const(f"{name}_w", kernel.transpose(3, 2, 0, 1)), const(f"{name}_b", bias)],
                 f"{name}_conv")
        return prelu(y, name, alpha.reshape(-1, 1, 1))

    def model(inputs, outputs):
        graph = helper.make_graph(nodes, "mtcnn", inputs, outputs, inits)
        built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        built.ir_version = 8
        onnx.checker.check_model(built)
        return built.SerializeToString()

    def tensor(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    return const, node, conv_prelu, prelu, model, tensor


def pnet_onnx() -> bytes:
    """P-net as an ONNX model: NCHW float32 (1, 3, H, W) -> (1, 5, h, w): box regression (4 channels)
    and the face logit minus the non-face logit."""
    w = _weights("pnet.lz4")
    const, node, conv_prelu, prelu, model, tensor = _graph_builder()
    x = conv_prelu("image", "c1", *w[0:3])
    x = node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
    x = conv_prelu(x, "c2", *w[3:6])
    x = conv_prelu(x, "c3", *w[6:9])
    # One 1x1 convolution for both heads: the 4 regression channels and the difference of the two
    # class logits (face - not face), whose sigmoid is the softmax's face probability.
    kernel = np.concatenate([w[9], w[11][..., 1:] - w[11][..., :1]], axis=-1)
    bias = np.concatenate([w[10], w[12][1:] - w[12][:1]])
    node("Conv", [x, const("heads_w", kernel.transpose(3, 2, 0, 1)), const("heads_b", bias)], "heads")
    return model([tensor("image", [1, 3, "height", "width"])], [tensor("heads", [1, 5, None, None])])


def rnet_onnx() -> bytes:
    """R-net as an ONNX model: NCHW float32 (N, 3, 24, 24) -> regression (N, 4), probabilities (N, 2)."""
    w = _weights("rnet.lz4")
    const, node, conv_prelu, prelu, model, tensor = _graph_builder()
    x = conv_prelu("patches", "c1", *w[0:3])
    x = node("MaxPool", [x], "pool1", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    x = conv_prelu(x, "c2", *w[3:6])
    x = node("MaxPool", [x], "pool2", kernel_shape=[3, 3], strides=[2, 2])
    x = conv_prelu(x, "c3", *w[6:9])
    # Keras permutes (H, W, C) to (W, H, C) before flattening: NCHW -> N, W, H, C.
    x = node("Transpose", [x], "permute", perm=[0, 3, 2, 1])
    x = node("Flatten", [x], "flatten", axis=1)
    x = node("Gemm", [x, const("fc4_w", w[9]), const("fc4_b", w[10])], "fc4")
    x = prelu(x, "fc4", w[11])
    node("Gemm", [x, const("fc51_w", w[12]), const("fc51_b", w[13])], "regression")
    logits = node("Gemm", [x, const("fc52_w", w[14]), const("fc52_b", w[15])], "logits")
    node("Softmax", [logits], "probabilities", axis=1)
    return model([tensor("patches", ["n", 3, 24, 24])],
                 [tensor("regression", ["n", 4]), tensor("probabilities", ["n", 2])])


def onet_onnx() -> bytes:
    """O-net as an ONNX model: NCHW float32 (N, 3, 48, 48) -> (N, 16): box regression (4), landmarks
    (10: x of the five points, then y, as fractions of the box) and the two class logits (not face,
    face), one Gemm for the three heads."""
    w = _weights("onet.lz4")
    const, node, conv_prelu, prelu, model, tensor = _graph_builder()
    x = conv_prelu("patches", "c1", *w[0:3])
    x = node("MaxPool", [x], "pool1", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    x = conv_prelu(x, "c2", *w[3:6])
    x = node("MaxPool", [x], "pool2", kernel_shape=[3, 3], strides=[2, 2])
    x = conv_prelu(x, "c3", *w[6:9])
    x = node("MaxPool", [x], "pool3", kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
    x = conv_prelu(x, "c4", *w[9:12])
    # Keras permutes (H, W, C) to (W, H, C) before flattening: NCHW -> N, W, H, C.
    x = node("Transpose", [x], "permute", perm=[0, 3, 2, 1])
    x = node("Flatten", [x], "flatten", axis=1)
    x = node("Gemm", [x, const("fc5_w", w[12]), const("fc5_b", w[13])], "fc5")
    x = prelu(x, "fc5", w[14])
    kernel = np.concatenate([w[15], w[17], w[19]], axis=1)
    bias = np.concatenate([w[16], w[18], w[20]])
    node("Gemm", [x, const("heads_w", kernel), const("heads_b", bias)], "heads")
    return model([tensor("patches", ["n", 3, 48, 48])], [tensor("heads", ["n", 16])])


def _session(model_bytes, threads):
    try:
        import onnxruntime as ort
    except ImportError:
        raise DetectorError("mtcnn_fast needs ONNX Runtime (pip install onnxruntime)") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def scale_pyramid(width, height, min_face_size=MIN_FACE_SIZE, scale_factor=SCALE_FACTOR, min_size=MIN_SIZE):
    """The package's ``build_scale_pyramid``."""
    count = round(-((np.log(min(width, height) / min_size) / np.log(scale_factor)) + 1))
    return (min_size / min_face_size) * scale_factor ** np.arange(max(count, 0))


def _sort_descending(boxes):
    return boxes[np.argsort(boxes[:, 4])[::-1]]


def nms(boxes, threshold, method="union"):
    """The package's NMS on rows (x1, y1, x2, y2, score, ...) in their order: row j is dropped when an
    earlier row (kept or not) overlaps it by more than ``threshold`` (areas without the +1): the
    intersection over the union (``method="union"``, P- and R-net) or over the smaller of the two
    areas (``"min"``, O-net)."""
    n = len(boxes)
    if n < 2:
        return boxes
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    dropped = np.zeros(n, dtype=bool)
    block = 128  # rows i against the rows after the block's first (bounded memory, half the pairs)
    for start in range(0, n - 1, block):
        i, j = slice(start, min(start + block, n - 1)), slice(start + 1, n)
        w = np.maximum(0, np.minimum(x2[i, None], x2[None, j]) - np.maximum(x1[i, None], x1[None, j]))
        h = np.maximum(0, np.minimum(y2[i, None], y2[None, j]) - np.maximum(y1[i, None], y1[None, j]))
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):  # empty boxes: nan, never > threshold
            if method == "min":
                iou = inter / np.minimum(area[i, None], area[None, j])
            else:
                iou = inter / (area[i, None] + area[None, j] - inter)
        later = np.arange(j.start, n)[None] > np.arange(i.start, i.stop)[:, None]
        dropped[j] |= ((iou > threshold) & later).any(axis=0)
    return boxes[~dropped]


def square(boxes):
    """The package's ``resize_to_square``: the longer side, same centre."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += w * 0.5 - side * 0.5
    boxes[:, 1] += h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def crop_and_resize(image_chw, boxes, size):
    """``tf.image.crop_and_resize`` of one CHW float32 image at (x1, y1, x2, y2) pixel boxes normalized
    by the image's height and width as the package does: bilinear, 0 where a sample falls outside;
    returns (N, C, size, size) float32, R-net's layout."""
    channels, height, width = image_chw.shape
    b = boxes[:, :4].astype(np.float32)
    y1, x1 = b[:, 1] / np.float32(height), b[:, 0] / np.float32(width)
    y2, x2 = b[:, 3] / np.float32(height), b[:, 2] / np.float32(width)
    steps = np.arange(size, dtype=np.float32)
    in_y = y1[:, None] * (height - 1) + steps[None] * ((y2 - y1) * (height - 1) / (size - 1))[:, None]
    in_x = x1[:, None] * (width - 1) + steps[None] * ((x2 - x1) * (width - 1) / (size - 1))[:, None]
    valid = ((in_y >= 0) & (in_y <= height - 1))[:, :, None] & ((in_x >= 0) & (in_x <= width - 1))[:, None, :]
    top, left = np.floor(in_y), np.floor(in_x)
    dy, dx = (in_y - top)[:, :, None], (in_x - left)[:, None, :]
    top = np.clip(top, 0, height - 1).astype(np.intp)[:, :, None] * width
    bottom = np.clip(np.ceil(in_y), 0, height - 1).astype(np.intp)[:, :, None] * width
    left = np.clip(left, 0, width - 1).astype(np.intp)[:, None, :]
    right = np.clip(np.ceil(in_x), 0, width - 1).astype(np.intp)[:, None, :]
    planes = image_chw.reshape(channels, -1)
    # (C, N, size, size) throughout, one transpose at the end
    top_left, top_right = np.take(planes, top + left, axis=1), np.take(planes, top + right, axis=1)
    bottom_left, bottom_right = np.take(planes, bottom + left, axis=1), np.take(planes, bottom + right, axis=1)
    top_row = top_left + (top_right - top_left) * dx
    patches = top_row + (bottom_left + (bottom_right - bottom_left) * dx - top_row) * dy
    patches *= valid
    return np.ascontiguousarray(patches.transpose(1, 0, 2, 3))


def _adjust(boxes, regression):
    """The package's ``adjust_bboxes``: corners moved by the regression times width + 1 and height + 1.
    The package multiplies a float32 tensor by the float64 sizes, which TensorFlow casts to float32,
    and adds the float32 product to the float64 corners; so here."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += regression.astype(np.float32) * np.stack([w, h, w, h], axis=1).astype(np.float32)
    return boxes


class FastMTCNNDetector:
    """``MTCNNDetector`` (P- and R-net, RGB input, confidence >= ``min_confidence``) under ONNX Runtime.

    ``workers``: threads that share the work of one image (pyramid levels, largest first, and R-net's
    chunks of ``RNET_CHUNK`` patches, each taken by whichever worker is free), each network session running
    one intra-op thread (spinning off) as in ``fsanet.deploy.backends``; 1 runs everything in the caller's
    thread. Two by default, one per core of the 2-core machine (``benchmarks/photo_detectors.py``: on
    the group photo 5.5x MTCNN's speed with 2 workers, 4.2x with 1, when nothing else ran; with another
    process busy on both cores 1 worker was the faster, 4.1-4.9x against 3.8-4.6x).

    ``pyramid_width``: None searches the image for faces from ``MIN_FACE_SIZE`` (20) pixels, as the
    package does. A width ``w`` searches an image wider than ``w`` for faces from 20 * width / w pixels
    (the package's ``min_face_size``), so that P-net's pyramid levels, where most of the time goes, are
    those of a copy ``w`` wide, while R- and O-net still cut their patches from the image itself (a
    960-wide photo with ``pyramid_width=640``: proposals as at 640, faces judged at 960). Levels under
    12 px are skipped: the package, given ``min_face_size=30`` on a 960x540 image, reaches a 9-px level
    that P-net cannot take and reports no face. Images up to ``w`` wide are searched as by the package.
    """

    framing = "mtcnn"  # the same boxes as MTCNNDetector, so the same crop rule (fsanet.faces.framing)

    def __init__(self, min_confidence=0.95, workers=2, pyramid_width=None):
        self.min_confidence = min_confidence
        self.workers = max(1, int(workers))
        self.pyramid_width = pyramid_width
        self._pnet = _session(pnet_onnx(), 1)
        self._rnet = _session(rnet_onnx(), 1)
        self._pool = None
        if self.workers > 1:
            import concurrent.futures
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="mtcnn_fast")

    def _map(self, function, items):
        return list(self._pool.map(function, items)) if self._pool else [function(i) for i in items]

    def _proposals(self, image, scale):
        """P-net's boxes at one pyramid level, (x1, y1, x2, y2, score) in image pixels, after that
        level's NMS; None when it proposes nothing."""
        height, width = image.shape[:2]
        # int(side * scale), as tf.image.resize truncates the package's float size
        w, h = int(width * scale), int(height * scale)
        if w < MIN_SIZE or h < MIN_SIZE:
            return None
        level = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        (heads,) = self._pnet.run(None, {"image": np.ascontiguousarray(level.transpose(2, 0, 1)[None])})
        with np.errstate(over="ignore"):  # exp(88+) is inf: probability 0
            regression, score = heads[0, :4], 1 / (1 + np.exp(-heads[0, 4]))
        rows, cols = np.nonzero(score > PNET_THRESHOLD)
        if not len(rows):
            return None
        reg = regression[:, rows, cols].astype(np.float64)
        x1, y1 = cols * 2 + 1 + reg[0] * 11, rows * 2 + 1 + reg[1] * 11
        x2, y2 = cols * 2 + 12 + reg[2] * 11, rows * 2 + 12 + reg[3] * 11
        boxes = _sort_descending(np.stack([x1, y1, x2, y2, score[rows, cols].astype(np.float64)], axis=1))
        boxes[:, :4] /= scale
        return nms(boxes, PNET_NMS_SCALE)

    def _refine(self, patches):
        """R-net's regression and probabilities of (N, 3, 24, 24) patches."""
        return self._rnet.run(None, {"patches": patches})

    def raw(self, image_rgb) -> np.ndarray:
        """All boxes the two stages keep, (x1, y1, x2, y2, confidence) float rows, before clipping."""
        return self._two_stages(image_rgb)[1]

    def _two_stages(self, image_rgb):
        """The normalized image (CHW float32, None when nothing was proposed) and R-net's boxes
        (x1, y1, x2, y2, confidence), squared, as the package hands them to O-net."""
        image = (image_rgb.astype(np.float32) - np.float32(127.5)) / np.float32(128)
        height, width = image.shape[:2]
        min_face = MIN_FACE_SIZE
        if self.pyramid_width and width > self.pyramid_width:
            min_face = MIN_FACE_SIZE * width / self.pyramid_width
        pyramid = scale_pyramid(width, height, min_face)
        found = [b for b in self._map(lambda s: self._proposals(image, s), pyramid) if b is not None]
        if not found:
            return None, np.empty((0, 5))
        boxes = square(nms(_sort_descending(np.concatenate(found)), PNET_NMS_ALL))
        image_chw = np.ascontiguousarray(image.transpose(2, 0, 1))
        patches = crop_and_resize(image_chw, boxes, 24)  # contiguous
        parts = self._map(self._refine, [patches[i:i + RNET_CHUNK] for i in range(0, len(boxes), RNET_CHUNK)])
        regression = np.concatenate([p[0] for p in parts])
        boxes[:, 4] = np.concatenate([p[1] for p in parts])[:, 1]
        boxes = _adjust(boxes, regression)
        boxes = boxes[boxes[:, 4] > RNET_THRESHOLD]
        return image_chw, square(nms(_sort_descending(boxes), RNET_NMS))

    def __call__(self, image_bgr) -> list:
        image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        height, width = image.shape[:2]
        faces = []
        for x1, y1, x2, y2, confidence in self.raw(image):
            x1, x2 = (min(max(v, 0), width - 1) for v in (x1, x2))
            y1, y2 = (min(max(v, 0), height - 1) for v in (y1, y2))
            box = tuple(int(v) for v in np.round([x1, y1, x2 - x1, y2 - y1]))
            if confidence >= self.min_confidence and box[2] > 0 and box[3] > 0:
                faces.append(Face(box, float(confidence)))
        return faces


ONET_THRESHOLD, ONET_NMS = 0.7, 0.7
ONET_CHUNK = 16
"""O-net's patches per run (measured: 4, 8, 16 and 64 within 1% of each other on the group photo)."""


class FastMTCNNCascade(FastMTCNNDetector):
    """``MTCNNCascadeDetector`` (the full cascade: P-, R- and O-net, stage thresholds 0.6 / 0.7 / 0.7,
    minimum face 20 px) under ONNX Runtime, with O-net's five landmarks.

    Each face's box and confidence are O-net's, reported as ``MTCNNCascadeDetector`` reports them: not
    squared, not clipped to the image, ``int`` of the corner and of the size; ``Face.landmarks`` holds
    the five points (``fsanet.faces.boxes.LANDMARKS`` order) as float (x, y) pixels of the image,
    not clipped either. Faces with confidence >= ``min_confidence`` are returned: 0.9 by default, the
    photo rule (it keeps all 16 AFLW2000 faces, two of which score 0.93 and 0.95); 0 returns every face
    the cascade keeps, as ``MTCNNCascadeDetector`` does. ``rgb=False`` feeds the frame's channels as
    given (BGR), as the authors did for BIWI; ``workers`` and ``pyramid_width`` as in ``FastMTCNNDetector``.

    The O-net stage, as the package's ``StageONet`` (``threshold_onet=0.7``): 48 x 48 patches of R-net's
    squares (``tf.image.crop_and_resize``, here ``crop_and_resize``); landmarks placed in the square
    (x1 - 1 + fraction * (width + 1), stored as float32); confidence replaced by O-net's; box moved
    by the regression; kept when > 0.7; NMS with the intersection over the smaller area > 0.7.

    Speed (``benchmarks/photo_detectors.py``, 2-core AMD EPYC shared with other jobs, 7 repeats): O-net
    adds about 17% to P- and R-net on the group photo (17 patches; ``ONET_CHUNK`` 4 to 64 within 1%).
    Against ``MTCNNDetector`` through ``PoseAnnotator.detect``: 4.0-4.6x on the group photo at 640x360
    (six of its seven faces: the 22-px one gets O-net 0.60, as in the package), 2.1-2.9x at 960x540
    (all seven), 6.3-8.1x on the AFLW2000 photos (all 16); against the package's cascade 4.8-5.7x.
    With the machine otherwise idle (one run, 2 workers, ``MTCNNDetector`` 106 ms on the group photo):
    3.6x at 640x360 (six faces), 1.7x at 960x540, 2.8x at 960x540 with ``pyramid_width=640`` (all
    seven, nothing else; the 22-px face gets O-net 0.97 on the 960-wide patch).
    """

    framing = "mtcnn_cascade"

    def __init__(self, min_confidence=0.9, workers=2, rgb=True, pyramid_width=None):
        super().__init__(min_confidence=min_confidence, workers=workers, pyramid_width=pyramid_width)
        self.rgb = rgb
        self._onet = _session(onet_onnx(), 1)

    def _output(self, patches):
        (heads,) = self._onet.run(None, {"patches": patches})
        return heads

    def raw(self, image_rgb) -> np.ndarray:
        """Every face the three stages keep, rows (x1, y1, x2, y2, confidence, x of the five landmarks,
        y of the five landmarks) as the package's numpy output without its image-index column: float,
        not clipped, sorted by confidence (descending)."""
        image_chw, boxes = self._two_stages(image_rgb)
        if not len(boxes):
            return np.empty((0, 15))
        patches = crop_and_resize(image_chw, boxes, 48)
        heads = np.concatenate(self._map(self._output, [patches[i:i + ONET_CHUNK]
                                                        for i in range(0, len(boxes), ONET_CHUNK)]))
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1
        # adjust_landmarks: float64 arithmetic written back into O-net's float32 output
        landmarks = np.concatenate([(w * heads[:, 4:9] + boxes[:, 0:1] - 1).astype(np.float32),
                                    (h * heads[:, 9:14] + boxes[:, 1:2] - 1).astype(np.float32)], axis=1)
        logits = heads[:, 14:16]
        with np.errstate(over="ignore"):
            boxes[:, 4] = (np.float32(1) / (np.float32(1) + np.exp(logits[:, 0] - logits[:, 1])))
        boxes = np.concatenate([_adjust(boxes, heads[:, :4]), landmarks], axis=1)
        boxes = boxes[boxes[:, 4] > ONET_THRESHOLD]
        return nms(_sort_descending(boxes), ONET_NMS, method="min")

    def __call__(self, image_bgr) -> list:
        image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB) if self.rgb else image_bgr
        faces = []
        for row in self.raw(image):
            x1, y1, x2, y2, confidence = row[:5]
            if confidence >= self.min_confidence:
                landmarks = tuple((float(x), float(y)) for x, y in zip(row[5:10], row[10:15]))
                faces.append(Face((int(x1), int(y1), int(x2 - x1), int(y2 - y1)), float(confidence), landmarks))
        return faces
