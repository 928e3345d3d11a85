"""What a batch job does: its inputs (files, folders, globs, manifests) cut into units of work.

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

from fsanet.core.images import IMAGE_SUFFIXES
from fsanet.errors import InputError
from fsanet.video.media import Source

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
        return f"{Path(self.path).stem}-{hashlib.sha256(self.path.encode()).hexdigest()[:8]}"

    @property
    def key(self) -> str:
        return f"{self.source_id}/{self.start:09d}"


def expand(inputs) -> tuple[list, list]:
    """(paths, problems): the media files named by ``inputs`` in order, without repeats, and one
    (input, reason) per input that names none."""
    paths, problems = [], []
    for text in inputs:
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
        paths.extend(os.path.abspath(p) for p in found)  # not resolved: two links are two sources
    return list(dict.fromkeys(paths)), problems


def _media(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() not in MANIFEST_SUFFIXES


def _manifest(path: Path) -> list:
    lines = path.read_text().splitlines()
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(lines))
        column = rows[0].index("path") if rows and "path" in rows[0] else 0
        lines = [row[column] for row in rows[1 if rows and "path" in rows[0] else 0:] if row]
    return [path.parent / line.strip() for line in lines if line.strip() and not line.startswith("#")]


def units_of(path, segment_frames) -> list:
    """The units of one media file; a file that cannot be opened raises ``InputError``."""
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return [Unit(path, "image")]
    source = Source(path)
    if source.kind != "video":
        raise InputError(f"{path}: not an image or video")
    frames = source.length or 0  # as the container states it: the last segment reads to the end
    source.close()
    starts = list(range(0, max(frames, 1), segment_frames))
    return [Unit(path, "video", start, start + segment_frames if i + 1 < len(starts) else None)
            for i, start in enumerate(starts)]
