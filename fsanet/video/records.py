"""Per-frame head-pose data: one record per face per frame, written as CSV or JSON Lines.

A record holds the frame index, its time in seconds (video time, or since the first camera frame;
empty for images), the input's name, the face's track ID, its box (x, y, w, h), whether the box was
detected on this frame or carried from an earlier detection, the detector's confidence (the last
detection's for a carried box), yaw / pitch / roll in degrees, the 3x3 rotation matrix of those angles
(``fsanet.core.pose.rotation_from_pose``), and, when there are any, the spread of the fusion's members
(their standard deviation per angle: where they disagree the estimate is less certain) and the
smoothed angles (the raw ones stay next to them).

Rows are appended as each frame finishes, all rows of a frame in one write of an unbuffered file,
so a run that is interrupted, even killed, leaves every finished frame in a file that parses.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np

from fsanet.core.pose import ANGLES, rotation_from_pose
from fsanet.errors import RecordError

DATA_SUFFIXES = (".csv", ".jsonl")
ROTATION = tuple(f"r{i}{j}" for i in range(3) for j in range(3))
SPREAD = tuple(f"{a}_spread" for a in ANGLES)
SMOOTHED = tuple(f"{a}_smoothed" for a in ANGLES)


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


class RecordWriter:
    """Appends the records of each finished frame to a .csv or .jsonl file (its suffix decides).

    ``spread`` / ``smoothed``: whether the CSV has those columns (JSON lines carry what each record
    has). The file is created (replaced) when the writer opens. ``path`` may also be an open binary
    stream (``sys.stdout.buffer``), written in ``format`` (.csv or .jsonl) and flushed per frame, not closed.
    """

    def __init__(self, path, spread=True, smoothed=False, format=None):
        self._stream = None if isinstance(path, (str, os.PathLike)) else path
        self.path = Path(path) if self._stream is None else None
        self.format = (format or self.path.suffix).lower()
        if self.format not in DATA_SUFFIXES:
            raise RecordError(f"{self.path}: the data file must end in .csv or .jsonl")
        self.columns = columns(spread, smoothed)
        try:
            if self._stream is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb", buffering=0) if self._stream is None else self._stream
        except OSError as e:
            raise RecordError(f"{self.path}: cannot write the data file ({e.strerror})") from None
        if self.format == ".csv":
            self._write(self._csv_lines([self.columns]))
        self.frames = self.rows = 0

    def _csv_lines(self, rows) -> str:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        return text.getvalue()

    def _write(self, text):
        data = memoryview(text.encode())
        while data:  # a regular file takes it in one write; the loop only guards short writes
            data = data[self._file.write(data):]
        if self._stream is not None:
            self._stream.flush()

    def write_frame(self, records):
        """The records of one finished frame (possibly none), on disk when this returns."""
        rows = [r.as_dict() for r in records]
        if self.format == ".csv":
            flat = [flat_row(r) for r in rows]
            text = self._csv_lines([["" if r.get(c) is None else r.get(c, "") for c in self.columns]
                                    for r in flat])
        else:
            text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        self._write(text)
        self.frames += 1
        self.rows += len(rows)

    def close(self):
        if self._stream is None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_records(path) -> list:
    """The rows of a .csv or .jsonl data file as dicts with the CSV's column names (numbers as
    numbers, missing values as None). A last line without its newline (a run killed while
    writing it) is an unfinished row and is left out."""
    path = Path(path)
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise RecordError(f"{path}: a data file ends in .csv or .jsonl")
    try:
        text = path.read_text()
    except OSError as e:
        raise RecordError(f"{path}: cannot read the data file ({e.strerror})") from None
    lines = text.split("\n")[:-1]  # the part after the last newline is unfinished (or empty)
    try:
        if path.suffix.lower() == ".jsonl":
            return [flat_row(json.loads(line)) for line in lines if line.strip()]
        reader = csv.DictReader(lines)
        return [{k: _number(k, v) for k, v in row.items()} for row in reader]
    except (ValueError, KeyError, TypeError) as e:
        raise RecordError(f"{path}: not a head-pose data file ({e})") from None


def _number(column, value):
    if value == "":
        return None
    if column == "source":
        return value
    if column == "detected":
        return value == "True"
    return float(value) if any(c in value for c in ".eE") or column == "time" else int(value)
