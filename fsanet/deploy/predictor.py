"""The predictor: yaw, pitch, roll of face crops, one at a time or in batches, on any backend
(``fsanet.deploy.backends``), with the demos' min-max normalisation as an option.

Keras (and so TensorFlow) is imported only for a Keras model: a predictor of an exported file
(``PosePredictor.from_file``) runs under ONNX Runtime or LiteRT alone, and pickles (its runtime
reopens lazily in the process that unpickles it), so it can be shipped to Ray, Dask or Beam workers."""

from __future__ import annotations

import sys
import threading
import warnings

import cv2
import numpy as np

from fsanet.core.images import face_crops, minmax_normalize  # noqa: F401  (minmax_normalize: public here too)
from fsanet.core.pose import ANGLES, mirrored
from fsanet.deploy.backends import select_runner
from fsanet.deploy.runners import ExportedModel
from fsanet.errors import ArgumentTypeError, ExportError


def _keras_model(model) -> bool:
    """Whether ``model`` is a Keras model (Keras is imported only if it is loaded already: a Keras
    model cannot exist before)."""
    return "keras" in sys.modules and isinstance(model, sys.modules["keras"].Model)


def _flip_mean(both) -> np.ndarray:
    """The mean of the first half's poses and the mirrored second half's (the crops' mirror images)."""
    n = len(both) // 2
    return ((both[:n] + mirrored(both[n:])) / 2).astype(np.float32)


class PosePredictor:
    """Yaw, pitch, roll (degrees) of BGR face crops.

    ``model`` is any FSA-Net, SSR-Net-MD or fusion model, or an exported file opened as
    ``fsanet.deploy.backends.ExportedModel``. A call takes one crop (an HxW or HxWxC array) or several (a
    list of them, or an NxHxWxC array), of any size (resized bilinearly to the model's input, as the
    authors did). Pixels (``fsanet.core.images.as_bgr``): uint8 BGR 0..255 as OpenCV reads them; uint16
    as 16-bit; floats only with ``value_range`` (e.g. ``(0, 1)``) saying what they span; grayscale
    and BGRA converted; NaN or infinity refused (``ImageError``). ``normalize=True`` adds the demos'
    per-crop min-max stretch; the networks themselves take raw 0..255 values.

    ``backend`` is ``"keras"``, ``"onnxruntime"`` or ``"litert"`` (``fsanet.deploy.backends``); None takes the
    fastest one whose converted file matches the Keras model (converted once and cached).

    ``flip_average=True`` also runs each crop's mirror image and averages the two poses (the
    mirror's yaw and roll negated, ``fsanet.core.pose.mirrored``): not the paper's, twice the network
    time, lower error (README, "Mirror averaging"); the output is then symmetric, a mirrored crop
    giving the mirrored pose exactly.

    ``predict_members`` also gives a fusion's members' outputs (their disagreement is an
    uncertainty estimate): the members then run one by one on the same backend (converted on first
    use) and are averaged, which is what the fusion's ``Average`` layer computes.
    """

    def __init__(self, model, normalize=False, backend=None, value_range=None, flip_average=False):
        if not (isinstance(model, ExportedModel) or _keras_model(model)):
            raise ArgumentTypeError(f"PosePredictor takes a model, got {type(model).__name__} {model!r:.60}; for a "
                                    "model spec use PosePredictor(fsanet.resolve_model(spec, exported=True))")
        self.model = model
        self.normalize, self.value_range, self.flip_average = normalize, value_range, bool(flip_average)
        self.image_size = model.input_shape[1]
        self._member_models = []
        if _keras_model(model):
            from fsanet.model.models import FSANet, SSRNetMD
            if not isinstance(model, (FSANet, SSRNetMD)):
                self._member_models = [layer for layer in model.layers if isinstance(layer, (FSANet, SSRNetMD))]
        # A fusion converts lazily: the fused network on the first plain call, the other members on
        # the first predict_members (the demo's path), so a run never converts the fused network it
        # does not run. The first member converts now, which chooses the backend and makes a bad
        # explicit backend fail here rather than mid-video.
        self._requested_backend = backend
        self._conversion_lock = threading.Lock()
        self._forward = self._members = None
        if self._member_models:
            self.backend, first = select_runner(self._member_models[0], backend)
            self._members = [first] + [None] * (len(self._member_models) - 1)
        else:
            self.backend, self._forward = select_runner(model, backend)

    @classmethod
    def from_file(cls, path, threads=None, normalize=False, value_range=None, providers=None,
                  flip_average=False) -> PosePredictor:
        """A predictor of an exported ``.onnx`` / ``.tflite`` file under its runtime alone (no
        TensorFlow). ``threads``: how many runtime instances a large batch is spread over (each runs
        on one thread); None takes what the engine granted this process (``fsanet.deploy.runners.granted_cpus``).
        ``providers``: ONNX Runtime's execution providers, e.g. ``["CUDAExecutionProvider",
        "CPUExecutionProvider"]`` for a GPU (onnxruntime-gpu); None: the CPU."""
        return cls(ExportedModel(path, threads=threads, providers=providers), normalize=normalize,
                   value_range=value_range, flip_average=flip_average)

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_conversion_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._conversion_lock = threading.Lock()

    def _runner(self, model):
        """A runner of ``model`` on this predictor's backend; where the backend was chosen
        automatically and this network fails to convert on it, the next backend that works."""
        try:
            return select_runner(model, self.backend)[1]
        except ExportError as e:
            if self._requested_backend is not None:
                raise
            backend, runner = select_runner(model)
            warnings.warn(f"{model.name} runs on {backend}: {e}")
            return runner

    @property
    def has_members(self) -> bool:
        """Whether ``predict_members`` gives members' outputs: a fusion given as a Keras model (an
        exported fusion is one network)."""
        return bool(self._member_models)

    def prepare(self, crops) -> np.ndarray:
        """(N, S, S, 3) float32 network input from one crop or a sequence / array of crops."""
        crops, _ = face_crops(crops, self.value_range)
        batch = np.empty((len(crops), self.image_size, self.image_size, 3), np.float32)
        for i, crop in enumerate(crops):
            if crop.shape[:2] != (self.image_size, self.image_size):
                crop = cv2.resize(crop, (self.image_size, self.image_size))
            batch[i] = minmax_normalize(crop) if self.normalize else crop
        return batch

    def predict_prepared(self, batch) -> np.ndarray:
        """(N, 3) angles for an already prepared float32 batch."""
        return self._predict(batch)[0]

    def _predict(self, batch, members=False):
        """(angles (N, 3), members (N, M, 3) or None) of a prepared batch."""
        batch = np.asarray(batch, np.float32)
        if len(batch) == 0:
            return np.empty((0, 3), np.float32), None
        if not self.flip_average:
            return self._run(batch, members)
        angles, outputs = self._run(np.concatenate([batch, batch[:, :, ::-1]]), members)  # one pass for both
        return _flip_mean(angles), None if outputs is None else _flip_mean(outputs)

    def _run(self, batch, members):
        """``_predict`` of the network alone, on a non-empty batch."""
        if not (members and self._member_models):
            if self._forward is None:  # first plain call of a fusion (the lock only then)
                with self._conversion_lock:
                    if self._forward is None:  # another thread may have converted it meanwhile
                        self._forward = self._runner(self.model)
            return np.asarray(self._forward(batch)), None
        if any(forward is None for forward in self._members):  # first predict_members
            with self._conversion_lock:
                self._members = [forward if forward is not None else self._runner(model)
                                 for forward, model in zip(self._members, self._member_models)]
        outputs = np.stack([np.asarray(forward(batch)) for forward in self._members], axis=1)
        return outputs.mean(axis=1, dtype=np.float32), outputs

    def predict_members(self, crops):
        """(angles, members) for a sequence of crops: the (N, 3) angles and a fusion's (N, M, 3)
        member outputs from the same pass (None for a single model). The angles are the members'
        mean: ``__call__``'s output to float32 rounding (about 1e-5 degrees)."""
        return self._predict(self.prepare(list(crops)), members=True)

    def __call__(self, crops) -> np.ndarray:
        """(3,) for one crop, (N, 3) for several; columns are yaw, pitch, roll."""
        angles = self.predict_prepared(self.prepare(crops))
        return angles[0] if isinstance(crops, np.ndarray) and crops.ndim in (2, 3) else angles

    @staticmethod
    def as_dict(angles) -> dict:
        return dict(zip(ANGLES, (float(a) for a in angles)))
