"""The tables of a batch job: each unit's rows (one Parquet file per unit, written atomically), and
the job's results assembled from them: rows partitioned by source with track IDs stitched across
segment cuts, ``summary.parquet`` and ``errors.parquet``.

Output folder::

    segments/<source_id>/<start>.parquet    one per finished unit (what a restarted job skips)
    rows/source_id=<source_id>/rows.parquet the rows of each source (``--data`` columns + ``path``)
    summary.parquet                         per source: frames, faces, tracks, seconds, angles, errors
    errors.parquet                          per failed input: path, stage, one-line reason

Stitching: every segment starts with a detection and new tracks (IDs from 0), so a final pass maps
each segment's IDs onto the previous one's: a track found on a segment's first frame continues the
previous segment's track whose last box (within ``max_missed`` detection runs of the cut) overlaps
it most (IoU >= ``min_iou``, one assignment); the others get new IDs in order of appearance, as one
process gives them. Smoothing, velocity and the detection cadence restart at each cut (segments are
a multiple of ``every`` frames long, so detections fall on the frames one process detects on).
"""

from __future__ import annotations

import io
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.optimize import linear_sum_assignment

from fsanet.batch import storage
from fsanet.core.pose import ANGLES
from fsanet.faces.boxes import iou
from fsanet.video.records import columns, flat_row

FRAMES_KEY = b"fsanet.frames"


def schema(smoothed=False) -> pa.Schema:
    """The rows' columns: the ``--data`` file's (no members' spread: an exported fusion is one
    network) and ``path``, the input's full path."""
    types = {"frame": pa.int64(), "time": pa.float64(), "source": pa.string(), "track": pa.int64(),
             "detected": pa.bool_(), "path": pa.string()}
    return pa.schema([(c, types.get(c, pa.int64() if c in "xywh" else pa.float64()))
                      for c in columns(spread=False, smoothed=smoothed)] + [("path", pa.string())])


def unit_table(unit, records, frames, smoothed=False) -> pa.Table:
    """A unit's rows from its ``FaceRecord`` objects, its ``frames`` count kept in the table's
    metadata."""
    rows = [dict(flat_row(r.as_dict()), path=unit.path) for r in records]
    names = schema(smoothed)
    table = pa.Table.from_pylist([{c: row.get(c) for c in names.names} for row in rows], schema=names)
    return table.replace_schema_metadata({FRAMES_KEY: str(frames).encode()})


def segment_path(output, unit) -> str:
    """The unit's file (a path or URI): written whole or absent; a retried or repeated unit
    replaces it with the same rows."""
    return storage.join(output, "segments", f"{unit.key}.parquet")


def stitch(tables, every, min_iou=0.3, max_missed=3) -> pa.Table:
    """One source's segment tables, in order, as one table with track IDs stitched across the cuts
    (see the module docstring)."""
    frames = [t.to_pandas() for t in tables]
    next_id, previous = 0, None
    for frame in frames:
        if frame.empty or frame["track"].isna().all():
            continue
        mapping = {}
        if previous is not None:
            recent = previous[previous["frame"] >= previous["frame"].max() - every * max_missed]
            last = recent.sort_values("frame").groupby("track").tail(1)
            first = frame[frame["frame"] == frame["frame"].min()]
            overlap = iou(last[list("xywh")].to_numpy(), first[list("xywh")].to_numpy())
            rows, cols = linear_sum_assignment(np.where(overlap >= min_iou, overlap, -1), maximize=True)
            mapping = {int(first["track"].iloc[c]): int(last["track"].iloc[r])
                       for r, c in zip(rows, cols) if overlap[r, c] >= min_iou}
        for local in frame.sort_values(["frame", "track"])["track"].drop_duplicates():
            if int(local) not in mapping:
                mapping[int(local)], next_id = next_id, next_id + 1
        frame["track"] = frame["track"].map(mapping)
        next_id = max(next_id, int(frame["track"].max()) + 1)
        previous = frame
    merged = pa.concat_tables([pa.Table.from_pandas(f, schema=tables[0].schema, preserve_index=False)
                               for f in frames]) if frames else None
    return merged.replace_schema_metadata(None) if merged is not None else None


def frames_of(table) -> int:
    return int((table.schema.metadata or {}).get(FRAMES_KEY, b"0"))


def summary_row(path, source_id, tables, stitched, errors) -> dict:
    """Per source: frames, faces, tracks, seconds of video, mean and spread of each angle, errors
    (``stitched`` None: a source none of whose units was written, zeros and empty values)."""
    if stitched is None:
        stitched = pa.table({name: pa.array([], pa.float64()) for name in ("track", "time", *ANGLES)})
    frame = stitched.to_pandas()
    row = {"path": path, "source_id": source_id, "frames": sum(frames_of(t) for t in tables),
           "faces": len(frame), "tracks": int(frame["track"].nunique()),
           "seconds": float(frame["time"].max()) if len(frame) and frame["time"].notna().any() else None,
           "errors": errors}
    for angle in ANGLES:
        row[f"{angle}_mean"] = float(frame[angle].mean()) if len(frame) else None
        row[f"{angle}_std"] = float(frame[angle].std(ddof=0)) if len(frame) else None
    return row


def write_table(path, table):
    """A Parquet file (a path or URI), whole or absent."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    storage.write_bytes(path, buffer.getvalue())


def read_table(path) -> pa.Table:
    if not storage.is_uri(path):
        return pq.read_table(path)
    fs, inner = storage.filesystem(path)
    return pq.read_table(inner, filesystem=fs)
