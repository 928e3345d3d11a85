"""Runtimes for the pose networks: Keras itself, or an exported file under ONNX Runtime, LiteRT or
TensorFlow (SavedModel).

A runner is a callable from a float32 (N, 64, 64, 3) batch to (N, 3) angles (NumPy). Backends for a
Keras model (``BACKENDS``): ``keras`` runs it directly; ``onnxruntime`` and ``litert`` convert it once
(``fsanet.deploy.export``) into the cache, ``<cache>/exports/<version>/<model_digest>/<name>.<suffix>``,
keyed by the project version (which fixes the exported inference form) and the SHA-256 of the model's
architecture and weights, and every time a runner opens such a file it is
checked against the Keras model on ``check_inputs()`` at batch 1 and 4 (max |difference|
<= ``PARITY_DEGREES``): a file that fails is deleted and never used.

The default backend is the first of ``FASTEST_FIRST`` that converts and passes that check: an order
measured by ``benchmarks/inference.py`` (LiteRT leads at batch 1 and at batch 64), not re-timed at run
time.

The runners themselves, and an exported file standing in for a model, are ``fsanet.deploy.runners``.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import fsanet
from fsanet.core.outputs import default_cache_dir
from fsanet.deploy.export import FORMAT_SUFFIXES, export, model_digest
from fsanet.deploy.runners import FILE_RUNNERS, ExportedModel, KerasRunner
from fsanet.errors import ExportError
from fsanet.model.variants import IMAGE_SIZE

BACKENDS = ("keras", "onnxruntime", "litert")
FASTEST_FIRST = ("litert", "onnxruntime", "keras")
FORMAT_OF = {"onnxruntime": "onnx", "litert": "litert"}
PARITY_DEGREES = 1e-3


def check_inputs(image_size=IMAGE_SIZE) -> np.ndarray:
    """Four fixed random 0..255 images: the inputs on which a converted file must match Keras."""
    return np.random.default_rng(0).uniform(0, 255, (4, image_size, image_size, 3)).astype(np.float32)


def parity_difference(model, runner) -> float:
    """Max |runner - Keras model| (degrees) on ``check_inputs()``, at batch 4 and at batch 1."""
    images = check_inputs(model.input_shape[1])
    expected = np.asarray(model(images, training=False))
    return float(np.max([np.abs(runner(images) - expected).max(),
                         np.abs(runner(images[:1]) - expected[:1]).max()]))  # NaN propagates


def export_cache_path(model, backend, cache_dir=None) -> Path:
    """Where ``backend``'s conversion of ``model`` is cached (see the module docstring)."""
    if cache_dir is None:
        cache_dir = default_cache_dir()
    return (Path(cache_dir) / "exports" / fsanet.__version__ / model_digest(model) /
            f"{model.name}{FORMAT_SUFFIXES[FORMAT_OF[backend]]}")


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
        runner = FILE_RUNNERS[backend](path)
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
