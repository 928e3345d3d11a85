"""A batch job on Ray Data: every unit (``fsanet.batch.plan``) analysed by a pool of actors, each
holding the exported pose model (loaded once per actor, ONNX Runtime on one thread: no
TensorFlow in a worker) and the detectors; results assembled by the driver (``fsanet.batch.tables``).

Exactly once: an actor writes each unit's rows atomically under the unit's name and returns only a
status; a unit whose actor dies is retried by Ray and rewrites the same file; a job started again with
the same output skips the units whose file exists. The tables are assembled from those files alone,
so a resumed job gives the same tables as one uninterrupted run.

Ray: with no ``address`` a local Ray starts on this machine (small object store, no dashboard);
``address="auto"`` or ``"ray://HOST:PORT"`` joins a cluster, whose nodes must all see the inputs and
the output folder (a shared filesystem): the model travels to the actors as bytes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fsanet.batch.plan import Unit, expand, units_of
from fsanet.batch.tables import segment_path, stitch, summary_row, unit_table, write_table, write_unit
from fsanet.errors import FSANetError, InputError, UsageError, one_line

LOCAL_OBJECT_STORE = 200 * 1024 * 1024
"""Bytes of a local Ray's object store: units carry paths and statuses, not frames."""
ERROR_TEXT = 300


class UnitWorker:
    """A Ray actor: the estimator of the job's options, built once, run on one unit per call."""

    def __init__(self, model_bytes, model_name, options, output, every, smooth):
        from fsanet.api.estimator import HeadPoseEstimator
        from fsanet.deploy.runners import ExportedModel
        folder = tempfile.mkdtemp(prefix="fsanet-batch-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / model_name
        path.write_bytes(model_bytes)
        self.estimator = HeadPoseEstimator(ExportedModel(path, threads=1), **options)
        self.output, self.every, self.smooth = output, every, smooth

    def __call__(self, batch):
        statuses = []
        for path, kind, start, stop in zip(batch["path"], batch["kind"], batch["start"], batch["stop"]):
            unit = Unit(str(path), str(kind), int(start), None if stop < 0 else int(stop))
            statuses.append(self.run_unit(unit))
        return {name: [s[name] for s in statuses] for name in ("key", "frames", "faces", "error", "seconds")}

    def run_unit(self, unit):
        started = time.perf_counter()
        try:
            frames = list(self.estimator.analyze(unit.path, self.every, self.smooth, unit.start, unit.stop))
            table = unit_table(unit, frames, self.smooth and unit.kind == "video")
            write_unit(self.output, unit, table)
        except Exception as e:  # noqa: BLE001  (OpenCV, a runtime: the input's problem, recorded)
            return {"key": unit.key, "frames": 0, "faces": 0, "error": one_line(e, ERROR_TEXT),
                    "seconds": time.perf_counter() - started}
        return {"key": unit.key, "frames": len(frames), "faces": table.num_rows, "error": "",
                "seconds": time.perf_counter() - started}


def model_file(model, protocol) -> Path:
    """The exported file of a model spec: an .onnx / .tflite file itself, else its ONNX conversion in
    the export cache (``fsanet.deploy.backends``: converted once, checked against Keras)."""
    if str(model).endswith((".onnx", ".tflite")):
        return Path(model)
    from fsanet.deploy.backends import converted_runner
    from fsanet.hub.model_spec import resolve_model
    return converted_runner(resolve_model(str(model), protocol), "onnxruntime").path


def connect(address=None, num_cpus=None):
    """Ray: joined at ``address``, else the running one in this process, else a local one started."""
    import ray
    if ray.is_initialized():
        return ray
    if address is None:
        ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE, include_dashboard=False,
                 log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return ray


def run_batch(inputs, output, model="fusion", protocol="300W_LP", every=10, smooth=False,
              segment_frames=100, workers=None, num_cpus=1, num_gpus=0, address=None, detector=None,
              report=print) -> dict:
    """Run a job (see the module docstring); returns its summary numbers."""
    if segment_frames % every:
        raise UsageError(f"--segment-frames {segment_frames}: must be a multiple of --every {every} "
                         "(detections then fall on the frames one process detects on)")
    started = time.perf_counter()
    output = Path(output)
    paths, problems = expand(inputs)
    if not paths:  # nothing to do: a bad input, not a job with errors
        raise InputError(f"{problems[0][0]}: {problems[0][1]}")
    errors = [{"path": text, "stage": "input", "reason": reason} for text, reason in problems]
    units, sources = [], {}
    for path in paths:
        try:
            sources[path] = units_of(path, segment_frames)
            units.extend(sources[path])
        except FSANetError as e:
            errors.append({"path": path, "stage": "open", "reason": one_line(e, ERROR_TEXT)})
    todo = [u for u in units if not segment_path(output, u).exists()]
    model_path = model_file(model, protocol)
    model_bytes = model_path.read_bytes()
    connecting = time.perf_counter()
    ray = connect(address, None if workers is None else workers * num_cpus)
    ray_seconds = time.perf_counter() - connecting
    failed, busy = {}, 0.0
    if todo:
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
        options = {"detector": detector} if detector else {}
        dataset = ray.data.from_items(
            [{"path": u.path, "kind": u.kind, "start": u.start, "stop": -1 if u.stop is None else u.stop}
             for u in todo], override_num_blocks=len(todo))
        statuses = dataset.map_batches(
            UnitWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(size, len(todo))),
            fn_constructor_kwargs={"model_bytes": model_bytes, "model_name": model_path.name, "options": options, "output": str(output),
                                   "every": every, "smooth": smooth},
            num_cpus=num_cpus, num_gpus=num_gpus or None,
        ).take_all()
        failed = {s["key"]: s["error"] for s in statuses if s["error"]}
        busy = sum(s["seconds"] for s in statuses)
    frames = faces = 0
    summaries = []
    for path, source_units in sources.items():
        unit_errors = [failed[u.key] for u in source_units if u.key in failed]
        errors.extend({"path": path, "stage": "analyze", "reason": e} for e in unit_errors)
        tables = [pq.read_table(segment_path(output, u)) for u in source_units
                  if segment_path(output, u).exists()]
        if not tables:
            continue
        stitched = stitch(tables, every)
        write_table(output / "rows" / f"source_id={source_units[0].source_id}" / "rows.parquet", stitched)
        summaries.append(summary_row(path, source_units[0].source_id, tables, stitched, len(unit_errors)))
        frames += summaries[-1]["frames"]
        faces += summaries[-1]["faces"]
    write_table(output / "summary.parquet", pa.Table.from_pylist(summaries) if summaries
                else pa.table({"path": pa.array([], pa.string())}))
    write_table(output / "errors.parquet", pa.Table.from_pylist(
        errors, schema=pa.schema([("path", pa.string()), ("stage", pa.string()), ("reason", pa.string())])))
    seconds = time.perf_counter() - started
    result = {"sources": len(summaries), "frames": frames, "faces": faces, "errors": len(errors),
              "seconds": seconds, "ray_start_seconds": ray_seconds, "skipped": len(units) - len(todo), "unit_seconds": busy}
    report(f"{len(summaries)} sources, {frames} frames, {faces} faces, {len(errors)} errors in "
           f"{seconds:.1f} s ({frames / max(seconds, 1e-9):.1f} frames/s; {result['skipped']} units "
           f"already done)")
    return result
