"""What a batch job does: its inputs (files, folders, globs, manifests; local paths or URIs,
``fsanet.batch.storage``) cut into units of work.

A unit is one photo, or one segment of a video: frames [start, stop), ``segment_frames`` long, so
that one long video spreads over workers. Each unit has a name derived from its source and first
frame (``unit_key``): its rows are written under that name, once, so a job started again skips it.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import os
from pathlib import Path

from fsanet.batch import storage
from fsanet.core.images import IMAGE_SUFFIXES
from fsanet.errors import InputError, UsageError, one_line
from fsanet.video.media import Source, stream_length

MANIFEST_SUFFIXES = (".txt", ".csv")
"""A manifest: a text file of paths, one a line, or a CSV whose first column (or one named ``path``)
holds them; relative paths are relative to the manifest."""


@dataclasses.dataclass(frozen=True)
class Unit:
    """One photo, or the frames [start, stop) of a video (``stop`` None: to the end)."""

    path: str
    kind: str
    start: int = 0
    stop: int | None = None

    @property
    def source_id(self) -> str:
        """The source's partition name: its file name's stem and a digest of its whole path (two
        ``talk.mp4`` in different folders stay apart)."""
        return f"{Path(storage.name_of(self.path)).stem}-{hashlib.sha256(self.path.encode()).hexdigest()[:8]}"

    @property
    def key(self) -> str:
        return f"{self.source_id}/{self.start:09d}"


def expand(inputs) -> tuple[list, list]:
    """(paths, problems): the media files named by ``inputs`` in order, without repeats, and one
    (input, reason) per input that names none."""
    paths, problems = [], []
    for text in map(str, inputs):
        if storage.is_uri(text):
            try:
                found = _uri_files(text)
            except InputError as e:  # a scheme pyarrow lacks, options it does not take
                problems.append((text, str(e).removeprefix(f"{text}: ")))
                continue
            except OSError as e:  # a store that cannot be reached
                problems.append((text, one_line(e, 300)))
                continue
            if not found:
                problems.append((text, "no such file, or no images or videos in it"))
            paths.extend(found)
            continue
        path = Path(text)
        if path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            found = [str(p) for p in _manifest(path)]
        elif path.is_dir():
            found = [str(p) for p in sorted(path.iterdir()) if _media(p)]
        elif path.is_file():
            found = [text]
        else:
            found = sorted(p for p in glob.glob(text, recursive=True) if _media(Path(p)))
        if not found:
            problems.append((text, "no such file, or no images or videos in it"))
        paths.extend(p if storage.is_uri(p) else os.path.abspath(p) for p in found)  # not resolved: two links are two sources
    return list(dict.fromkeys(paths)), problems


def _media(path: Path) -> bool:
    return path.is_file() and _media_name(path.name)


def _media_name(name) -> bool:
    return Path(name).suffix.lower() not in MANIFEST_SUFFIXES


def _uri_files(uri) -> list:
    """The media files a URI names (a manifest's entries, relative ones beside it)."""
    if Path(storage.name_of(uri)).suffix.lower() in MANIFEST_SUFFIXES and storage.exists(uri):
        return [line if storage.is_uri(line) else storage.join(storage.parent(uri), line)
                for line in _manifest_lines(storage.read_text(uri), storage.name_of(uri))]
    return storage.listing(uri, _media_name) or []


def _manifest(path: Path) -> list:
    return [line if storage.is_uri(line) else path.parent / line
            for line in _manifest_lines(path.read_text(), path.name)]


def _manifest_lines(text, name) -> list:
    lines = text.splitlines()
    if Path(name).suffix.lower() == ".csv":
        rows = list(csv.reader(lines))
        column = rows[0].index("path") if rows and "path" in rows[0] else 0
        lines = [row[column] for row in rows[1 if rows and "path" in rows[0] else 0:] if row]
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_image(path) -> bool:
    return Path(storage.name_of(path)).suffix.lower() in IMAGE_SUFFIXES


def video_length(path) -> int:
    """A video's frame count as its container states it (0 if it states none: the last segment
    reads to the end, so a wrong count costs nothing); a URI's is read from its stream, without a
    copy. ``InputError`` if it is no video."""
    if storage.is_uri(path):
        with storage.open_stream(path) as stream:
            frames = stream_length(stream)
        if frames is None:
            raise InputError(f"{path}: not a readable video or image")
        return frames
    source = Source(str(path))
    if source.kind != "video":
        raise InputError(f"{path}: not an image or video")
    frames = source.length or 0
    source.close()
    return frames


def units_of(path, segment_frames, frames=None) -> list:
    """The units of one media file; ``frames``: a video's length (None: read here, from a local
    file); a file that cannot be opened raises ``InputError``."""
    if is_image(path):
        return [Unit(path, "image")]
    frames = video_length(path) if frames is None else frames
    starts = list(range(0, max(frames, 1), segment_frames))
    return [Unit(path, "video", start, start + segment_frames if i + 1 < len(starts) else None)
            for i, start in enumerate(starts)]


STAGES = ("detect", "pose")
"""The stages whose resources a job sets (the writing stage runs one task at a time, no CPU
reserved); a GPU serves the pose stage alone."""


def per_stage(text, flag, stages=STAGES) -> dict:
    """``N`` (every one of ``stages``) or ``STAGE=N[,STAGE=N]``: {stage: number}, numbers >= 0;
    a ``UsageError`` naming ``flag`` otherwise."""
    values = {}
    for part in str(text).split(","):
        name, _, number = part.rpartition("=")
        names = [name.strip()] if name else list(stages)
        try:
            value = float(number)
        except ValueError:
            value = -1.0
        if value < 0 or value != value or any(n not in stages for n in names):
            raise UsageError(f"{flag} {text}: expected N or STAGE=N[,STAGE=N] with STAGE one of "
                             f"{', '.join(stages)} and N a number >= 0")
        values.update(dict.fromkeys(names, value))
    return values
