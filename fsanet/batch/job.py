"""A batch job on Ray Data: every unit (``fsanet.batch.plan``) through three pipeline stages
(``fsanet.batch.stages``: decoding and detection, pose, writing), each with its own resources;
results assembled by the driver (``fsanet.batch.tables``).

Exactly once: stage 3 writes each unit's rows atomically under the unit's name and returns only a
status; a unit whose worker dies is retried by Ray and rewrites the same file; a job started again
with the same output skips the units whose file exists. The tables are assembled from those files
alone, so a resumed job gives the same tables as one uninterrupted run.

Ray: with no ``address`` a local Ray starts on this machine (small object store, no dashboard);
``address="auto"`` or ``"ray://HOST:PORT"`` joins a cluster, whose nodes must all reach the inputs
and the output folder (a shared filesystem, or URIs: ``fsanet.batch.storage``): the model travels
to the actors as bytes.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import pyarrow as pa

from fsanet.batch import storage
from fsanet.batch.plan import STAGES, Unit, expand, is_image, units_of, video_length
from fsanet.batch.stages import DetectStage, PoseStage, input_error, unit_rows, write_units
from fsanet.batch.tables import read_table, segment_path, stitch, summary_row, write_table
from fsanet.core.progress import plural
from fsanet.core.quiet import native_stderr_captured
from fsanet.errors import FSANetError, InputError, UsageError

LOCAL_OBJECT_STORE = 200 * 1024 * 1024
"""Bytes of a local Ray's object store: it carries the crops between stages 1 and 2 (12 KiB a face;
a 500-frame segment of one face: 6 MB), Ray Data's backpressure keeps it within bounds."""


def model_file(model, protocol) -> Path:
    """The exported file of a model spec: an .onnx / .tflite file itself, else its ONNX conversion in
    the export cache (``fsanet.deploy.backends``: converted once, checked against Keras)."""
    if str(model).endswith((".onnx", ".tflite")):
        return Path(model)
    from fsanet.deploy.backends import converted_runner
    from fsanet.hub.model_spec import resolve_model
    return converted_runner(resolve_model(str(model), protocol), "onnxruntime").path


def connect(address=None, num_cpus=None, verbose=False):
    """Ray: joined at ``address``, else the running one in this process, else a local one started.
    Unless ``verbose``, Ray's Python loggers stay quiet (its start, token notice, Ray Data's plans
    and, where stderr is no terminal, its logged progress); ``run_batch`` keeps its C++ core's lines
    off the console too. The job's errors reach the caller as its summary and ``errors.parquet``;
    Ray's logs stay in its session folder."""
    import ray
    if ray.is_initialized():
        return ray
    if not verbose:
        import ray.data
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    level = logging.INFO if verbose else logging.ERROR
    if address is None:
        ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE, include_dashboard=False,
                 log_to_driver=False, logging_level=level)
    else:
        ray.init(address=address, log_to_driver=False, logging_level=level)
    return ray


def remote_length(path):
    """(frames, problem) of a video at a URI, read where this runs (a worker) from the file's
    stream: the container's header, not the whole file."""
    try:
        return video_length(path), ""
    except Exception as e:  # noqa: BLE001  (the store, OpenCV: the input's problem, recorded)
        return 0, input_error(e, path)


def stage_resources(cluster, workers=None, num_cpus=None, num_gpus=None) -> dict:
    """{stage: {"workers", "cpus", "gpus"}} of the detection and pose stages from the flags' values
    ({stage: number}, or one number for every stage; GPUs serve the pose stage alone) and the
    cluster's resources (``ray.cluster_resources()``): one pose actor and the CPUs left to detection
    unless told. A job the cluster cannot hold now is refused here, in one line, rather than left
    waiting for resources that never come."""
    def values(value, stages):
        return value if isinstance(value, dict) else dict.fromkeys(stages, value) if value is not None else {}
    workers, cpus, gpus = values(workers, STAGES), values(num_cpus, STAGES), values(num_gpus, ("pose",))
    stages = {stage: {"cpus": cpus.get(stage, 1.0), "gpus": gpus.get(stage, 0.0)} for stage in STAGES}
    have_cpus, have_gpus = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    if any(n < 1 or n != int(n) for n in workers.values()):
        raise UsageError("--workers: each stage needs a whole number of workers, at least one")
    stages["pose"]["workers"] = int(workers.get("pose", 1))
    left = have_cpus - stages["pose"]["workers"] * stages["pose"]["cpus"]
    stages["detect"]["workers"] = int(workers["detect"] if "detect" in workers else
                                      max(1, int(left // stages["detect"]["cpus"])) if stages["detect"]["cpus"] else 1)
    need_cpus = sum(s["workers"] * s["cpus"] for s in stages.values())
    need_gpus = stages["pose"]["workers"] * stages["pose"]["gpus"]
    if need_gpus > have_gpus:
        raise UsageError(f"--num-gpus pose={stages['pose']['gpus']:g}: {stages['pose']['workers']} pose worker(s) "
                         f"need {need_gpus:g} GPUs, the Ray cluster has {have_gpus:g}")
    if need_cpus > have_cpus:
        asked = ", ".join(f"{name} {s['workers']} x {s['cpus']:g}" for name, s in stages.items())
        raise UsageError(f"--workers / --num-cpus: {asked} = {need_cpus:g} CPUs, the Ray cluster has {have_cpus:g}")
    return stages


def run_batch(inputs, output, model="fusion", protocol="300W_LP", every=10, smooth=False,
              segment_frames=100, workers=None, num_cpus=None, num_gpus=None, address=None, detector=None,
              report=print, flip_average=False, verbose=False) -> dict:
    """Run a job (see the module docstring); returns its summary numbers. ``output``: a folder's
    path or URI; ``workers`` / ``num_cpus`` / ``num_gpus``: see ``stage_resources``; ``flip_average``:
    ``PosePredictor``'s option; ``verbose``: Ray's own logs on the console (see ``connect``)."""
    if segment_frames % every:
        raise UsageError(f"--segment-frames {segment_frames}: must be a multiple of --every {every} "
                         "(detections then fall on the frames one process detects on)")
    providers = None
    if (num_gpus.get("pose") if isinstance(num_gpus, dict) else num_gpus):
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if address is None:  # this machine's workers: their ONNX Runtime is this one
            import onnxruntime
            if providers[0] not in onnxruntime.get_available_providers():
                raise UsageError("--num-gpus: ONNX Runtime here has no CUDAExecutionProvider (pip install "
                                 "onnxruntime-gpu on a machine with a CUDA GPU)")
    started = time.perf_counter()
    output = str(output)
    paths, problems = expand(inputs)
    if not paths:  # nothing to do: a bad input, not a job with errors
        raise InputError(f"{problems[0][0]}: {problems[0][1]}")
    errors = [{"path": text, "stage": "input", "reason": reason} for text, reason in problems]
    model_path = model_file(model, protocol)
    model_bytes = model_path.read_bytes()
    # Ray's C++ core logs to the process's stderr (an actor's restart notice: ray-project/ray#53727);
    # kept aside unless verbose, and shown if the job fails
    with contextlib.nullcontext() if verbose else native_stderr_captured(python_stays=True):
        connecting = time.perf_counter()
        ray = connect(address, verbose=verbose)
        ray_seconds = time.perf_counter() - connecting
        stages = stage_resources(ray.cluster_resources(), workers, num_cpus, num_gpus)
        remote = [p for p in paths if storage.is_uri(p) and not is_image(p)]
        lengths = dict(zip(remote, ray.get([ray.remote(remote_length).remote(p) for p in remote])))
        units, sources, unopened = [], {}, set()
        for path in paths:
            try:
                frames, problem = lengths.get(path, (None, ""))
                if problem:
                    raise InputError(problem)
                sources[path] = units_of(path, segment_frames, frames)
                units.extend(sources[path])
            except FSANetError as e:
                errors.append({"path": path, "stage": "open", "reason": input_error(e, path)})
                sources[path], unopened = [Unit(path, "video")], unopened | {path}  # no unit to run: a row says so
        done = storage.files_under(storage.join(output, "segments"))
        todo = [u for u in units if segment_path(output, u) not in done]
        statuses = []
        if todo:
            data = ray.data
            dataset = data.from_items(unit_rows(todo), override_num_blocks=len(todo)).map_batches(
                DetectStage, batch_size=1, num_cpus=stages["detect"]["cpus"],
                compute=data.ActorPoolStrategy(size=min(stages["detect"]["workers"], len(todo))),
                fn_constructor_kwargs={"options": {"detector": detector} if detector else {}, "every": every},
            ).map_batches(
                PoseStage, batch_size=1, num_cpus=stages["pose"]["cpus"], num_gpus=stages["pose"]["gpus"] or None,
                compute=data.ActorPoolStrategy(size=min(stages["pose"]["workers"], len(todo))),
                fn_constructor_kwargs={"model_bytes": model_bytes, "model_name": model_path.name,
                                       "providers": providers, "flip_average": flip_average},
            ).map_batches(write_units, batch_size=1, num_cpus=0, compute=data.TaskPoolStrategy(size=1),
                          fn_kwargs={"output": output, "smooth": smooth})
            statuses = dataset.take_all()
    failed = {s["key"]: (s["stage"], s["error"]) for s in statuses if s["error"]}
    done = storage.files_under(storage.join(output, "segments"))
    frames = faces = 0
    summaries = []
    for path, source_units in sources.items():
        unit_errors = [failed[u.key] for u in source_units if u.key in failed]
        errors.extend({"path": path, "stage": stage, "reason": reason} for stage, reason in unit_errors)
        tables = [read_table(segment_path(output, u)) for u in source_units
                  if segment_path(output, u) in done]
        if not tables:  # every unit failed: a row that says so (its reasons are in errors.parquet)
            summaries.append(summary_row(path, source_units[0].source_id, [], None,
                                         len(unit_errors) + (path in unopened)))
            continue
        stitched = stitch(tables, every)
        write_table(storage.join(output, "rows", f"source_id={source_units[0].source_id}", "rows.parquet"), stitched)
        summaries.append(summary_row(path, source_units[0].source_id, tables, stitched, len(unit_errors)))
        frames += summaries[-1]["frames"]
        faces += summaries[-1]["faces"]
    write_table(storage.join(output, "summary.parquet"), pa.Table.from_pylist(summaries) if summaries
                else pa.table({"path": pa.array([], pa.string())}))
    write_table(storage.join(output, "errors.parquet"), pa.Table.from_pylist(
        errors, schema=pa.schema([("path", pa.string()), ("stage", pa.string()), ("reason", pa.string())])))
    seconds = time.perf_counter() - started
    written = sum(1 for row in summaries if row["frames"])
    result = {"sources": written, "inputs": len(paths) + len(problems), "frames": frames, "faces": faces,
              "errors": len(errors), "failed": errors,
              "seconds": seconds, "ray_start_seconds": ray_seconds, "skipped": len(units) - len(todo),
              "stages": stages, "stage_seconds": {stage: sum(s[f"{stage}_seconds"] for s in statuses)
                                                  for stage in ("detect", "pose", "write")}}
    report(f"{written} of {plural(result['inputs'], 'source')} done: {plural(frames, 'frame')}, "
           f"{plural(faces, 'face')}, {plural(len(errors), 'error')} in {seconds:.1f} s "
           f"({frames / max(seconds, 1e-9):.1f} frames/s; {plural(result['skipped'], 'unit')} done before)")
    return result
