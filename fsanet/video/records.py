"""Per-frame head-pose data: one record per face per frame, written as CSV or JSON Lines.

A record holds the frame index, its time in seconds (video time, or since the first camera frame;
empty for images), the input's name, the face's track ID, its box (x, y, w, h), whether the box was
detected on this frame or carried from an earlier detection, the detector's confidence (the last
detection's for a carried box), yaw / pitch / roll in degrees, the 3x3 rotation matrix of those angles
(``fsanet.core.pose.rotation_from_pose``), and, when there are any, the spread of the fusion's members
(their standard deviation per angle: where they disagree the estimate is less certain) and the
smoothed angles (the raw ones stay next to them).

Rows are appended as each frame finishes, all rows of a frame in one write of an unbuffered file
named ``<data file>.partial``, renamed to the data file when the run completes
(``fsanet.core.outputs.GrowingOutput``): a run that is interrupted, even killed, leaves every
finished frame in the ``.partial`` file, which parses, and never replaces an earlier complete file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np

from fsanet.core.outputs import PARTIAL_SUFFIX, GrowingOutput
from fsanet.core.pose import ANGLES, rotation_from_pose
from fsanet.errors import ArgumentTypeError, OutputError, RecordError

DATA_SUFFIXES = (".csv", ".jsonl")
ROTATION = tuple(f"r{i}{j}" for i in range(3) for j in range(3))
SPREAD = tuple(f"{a}_spread" for a in ANGLES)
SMOOTHED = tuple(f"{a}_smoothed" for a in ANGLES)
REQUIRED = ("frame", "time", "track", *ANGLES)
"""The columns every record has (what ``fsanet plot`` draws)."""


@dataclasses.dataclass
class FaceRecord:
    """One face in one frame."""

    frame: int
    time: float | None
    source: str
    track: int | None  # None for a face of ``fsanet.estimate`` (a photo has no tracks)
    box: tuple
    detected: bool
    confidence: float
    pose: tuple
    spread: tuple | None = None
    smoothed: tuple | None = None

    def __post_init__(self):
        try:
            sizes = len(self.box), len(self.pose)
        except TypeError:
            sizes = None
        if sizes != (4, 3):
            raise ArgumentTypeError(f"a FaceRecord's box is (x, y, w, h) and its pose (yaw, pitch, roll), "
                                    f"got {self.box!r} and {self.pose!r}")

    @property
    def yaw(self) -> float:
        return float(self.pose[0])

    @property
    def pitch(self) -> float:
        return float(self.pose[1])

    @property
    def roll(self) -> float:
        return float(self.pose[2])

    @property
    def rotation(self) -> np.ndarray:
        """The 3x3 rotation matrix of the angles (``fsanet.core.pose.rotation_from_pose``)."""
        return rotation_from_pose(*(float(a) for a in self.pose))

    def as_dict(self) -> dict:
        """The record with the CSV's column names; ``box`` and ``rotation`` as lists."""
        row = dict(frame=self.frame, time=None if self.time is None else round(self.time, 4),
                   source=self.source, track=self.track, box=[int(v) for v in self.box],
                   detected=bool(self.detected), confidence=round(float(self.confidence), 4))
        row.update(zip(ANGLES, (round(float(a), 4) for a in self.pose)))
        row["rotation"] = np.round(self.rotation.astype(np.float64), 6).tolist()  # float64: 6 decimals print as 6
        if self.spread is not None:
            row.update(zip(SPREAD, (round(float(s), 4) for s in self.spread)))
        if self.smoothed is not None:
            row.update(zip(SMOOTHED, (round(float(a), 4) for a in self.smoothed)))
        return row


def columns(spread=True, smoothed=False) -> list:
    names = ["frame", "time", "source", "track", "x", "y", "w", "h", "detected", "confidence",
             *ANGLES, *ROTATION]
    return names + list(SPREAD if spread else ()) + list(SMOOTHED if smoothed else ())


def flat_row(row) -> dict:
    """A record's dict (``FaceRecord.as_dict``) with the CSV's flat columns: x, y, w, h and r00..r22."""
    row = dict(row)
    row.update(zip("xywh", row.pop("box")))
    row.update(zip(ROTATION, (v for line in row.pop("rotation") for v in line)))
    return row


class _StreamOutput:
    """``GrowingOutput``'s part for an open binary stream (``--data -``: stdout): each write flushed,
    the stream never closed or renamed."""

    partial = None
    failed = False

    def __init__(self, stream):
        self._stream = stream

    def write(self, data: bytes):
        self._stream.write(data)
        self._stream.flush()

    def commit(self):
        pass

    def keep_partial(self):
        return None


class RecordWriter:
    """Appends the records of each finished frame to a .csv or .jsonl file (its suffix decides).

    ``spread`` / ``smoothed``: whether the CSV has those columns (JSON lines carry what each record
    has). Rows go to ``partial`` until ``close`` names the file (see the module docstring). ``path``
    may also be an open binary stream (``sys.stdout.buffer``), written in ``format`` (.csv or .jsonl)
    and flushed per frame, never closed.
    """

    def __init__(self, path, spread=True, smoothed=False, format=None):
        stream = not isinstance(path, (str, os.PathLike))
        self.path = None if stream else Path(path)
        self.format = (format or self.path.suffix).lower()
        if self.format not in DATA_SUFFIXES:
            raise RecordError(f"{self.path}: the data file must end in .csv or .jsonl")
        self.columns = columns(spread, smoothed)
        self._output = _StreamOutput(path) if stream else GrowingOutput(self.path)
        self.partial = self._output.partial
        self.frames = self.rows = 0
        if self.format == ".csv":
            try:
                self._output.write(self._csv_lines([self.columns]).encode())
            except OutputError:
                self.abandon()
                raise

    def _csv_lines(self, rows) -> str:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        return text.getvalue()

    def write_frame(self, records):
        """The records of one finished frame (possibly none), on disk when this returns."""
        rows = [r.as_dict() for r in records]
        if self.format == ".csv":
            flat = [flat_row(r) for r in rows]
            text = self._csv_lines([["" if r.get(c) is None else r.get(c, "") for c in self.columns]
                                    for r in flat])
        else:
            text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        self._output.write(text.encode())
        self.frames += 1
        self.rows += len(rows)

    @property
    def failed(self) -> bool:
        """Whether a write failed (a full disk): the file misses rows and is never completed."""
        return self._output.failed

    def close(self):
        """The run is complete: the file takes its name."""
        self._output.commit()

    def abandon(self) -> Path | None:
        """The run was cut short: the file keeps its ``.partial`` name (returned), every finished
        frame in it, and an earlier complete file under the final name stays; without a finished
        frame it is removed (None). A stream keeps what it got (None)."""
        partial = self._output.keep_partial()
        if partial is None or self.frames:
            return partial
        partial.unlink(missing_ok=True)
        return None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        else:
            self.abandon()


def read_records(path) -> list:
    """The rows of a .csv or .jsonl data file (also one left as ``.partial`` by a run cut short) as
    dicts with the CSV's column names (numbers as numbers, missing values as None). A last line
    without its newline (a run killed while writing it) is an unfinished row and is left out. A file
    that is not one the demo wrote (another encoding, missing columns, text where numbers belong)
    raises ``RecordError`` naming it and the first row that is wrong."""
    path = Path(path)
    suffix = Path(path.name.removesuffix(PARTIAL_SUFFIX)).suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise RecordError(f"{path}: a data file ends in .csv or .jsonl")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise RecordError(f"{path}: cannot read the data file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: not a head-pose data file (not UTF-8 text: byte {e.start})") from None
    lines = text.split("\n")[:-1]  # the part after the last newline is unfinished (or empty)
    try:
        if suffix == ".jsonl":
            rows = [flat_row(json.loads(line)) for line in lines if line.strip()]
        else:
            reader = csv.DictReader(lines)
            rows = [{k: _number(k, v) for k, v in row.items()} for row in reader]
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"no column {', '.join(missing)}")
    except (ValueError, KeyError, TypeError, AttributeError, csv.Error) as e:
        raise RecordError(f"{path}: not a head-pose data file ({e})") from None
    for number, row in enumerate(rows, start=1):
        problem = _wrong(row)
        if problem:
            raise RecordError(f"{path}: not a head-pose data file (record {number}: {problem})")
    return rows


def _wrong(row) -> str | None:
    """What is wrong with a read record, None if nothing."""
    missing = [c for c in REQUIRED if c not in row]
    if missing:
        return f"no {', '.join(missing)}"
    for column in (*REQUIRED, *SPREAD, *SMOOTHED):
        value = row.get(column)
        if value is None and column in ("time", *SPREAD, *SMOOTHED):  # images have no time
            continue
        whole = column in ("frame", "track")
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            return f"{column} is {value!r}, not {'a whole number' if whole else 'a number'}"
    return None


def _number(column, value):
    if value == "":
        return None
    if column == "source":
        return value
    if column == "detected":
        return value == "True"
    return float(value) if any(c in value for c in ".eE") or column == "time" else int(value)
