"""Face tracks: stable IDs for the faces of a video, boxes carried between detections.

A detector finds faces on some frames only (every N-th, for speed) and knows nothing of identity.
``FaceTracker`` links each detection to the track it continues by box overlap (IoU), solved as one
assignment per detection run (``scipy.optimize.linear_sum_assignment``, maximal total IoU, pairs
below ``min_iou`` refused), as SORT (Bewley et al. 2016) does with a simpler motion model: each
track moves at the velocity of its last detections (damped), which carries its box over the frames
between detections and lets a face found again after a miss meet its predicted box. What the IoU
pass leaves unmatched gets a second, distance-based assignment: a face that moved further than its
box overlap allows (a young track has no velocity yet, and ten frames of walking can move a face by
half its width) still continues the nearest track of its size within ``max_shift`` box sizes.
A detection no track claims starts a new track with the next ID; a track that misses
``max_missed`` detection runs in a row ends. Only tracks found at the latest detection run are
``visible``: a face that was not found is not drawn or recorded at a guessed place.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment

from fsanet.faces.boxes import centre_shift, iou


@dataclasses.dataclass
class Track:
    """One face over time. ``box`` is (x, y, w, h) in float pixels at the current frame."""

    id: int
    box: np.ndarray
    confidence: float
    velocity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(4))
    detected: bool = True
    """The box comes from a detection on this very frame (else it was carried)."""
    missed: int = 0
    """Detection runs in a row that did not find this face."""
    hits: int = 1
    """Detections of this face so far."""

    @property
    def visible(self) -> bool:
        return self.missed == 0


def _assign(score, allowed) -> dict:
    """{column: row} of the best total ``score`` among ``allowed`` pairs (one row per column)."""
    if not allowed.any():
        return {}
    rows, cols = linear_sum_assignment(np.where(allowed, score, -1e9), maximize=True)
    return {c: r for r, c in zip(rows, cols) if allowed[r, c]}


class FaceTracker:
    """Track IDs for detections; call ``update`` on detection frames and ``carry`` on the others.

    ``min_iou``: the least overlap of a detection with a track's predicted box to continue it.
    ``max_shift``: the second pass's farthest centre distance, in box sizes (sizes within 1.5x).
    ``max_missed``: detection runs in a row a track may miss before it ends (a face turned away
    or hidden for a moment keeps its ID). ``damping``: weight of the newest velocity measurement.
    """

    def __init__(self, min_iou=0.3, max_shift=1.0, max_missed=3, damping=0.5):
        self.min_iou, self.max_shift = min_iou, max_shift
        self.max_missed, self.damping = max_missed, damping
        self.tracks: list[Track] = []
        self.next_id = 0
        """The ID of the next new track: the number of tracks so far."""
        self._frames_since_detection = 0

    @property
    def visible(self) -> list:
        return [t for t in self.tracks if t.visible]

    def carry(self) -> list:
        """Advance every track one frame at its velocity; the visible tracks, boxes not detected."""
        for track in self.tracks:
            track.box = track.box + track.velocity
            track.box[2:] = np.maximum(track.box[2:], 1.0)
            track.detected = False
        self._frames_since_detection += 1
        return self.visible

    def update(self, faces) -> list:
        """Advance one frame and match this frame's detections (objects with ``box`` and
        ``confidence``); the visible tracks, in the order of ``faces``."""
        steps = self._frames_since_detection + 1
        self.carry()
        self._frames_since_detection = 0
        boxes = np.array([f.box for f in faces], np.float64).reshape(-1, 4)
        predicted = np.array([t.box for t in self.tracks], np.float64).reshape(-1, 4)
        overlap = iou(predicted, boxes)
        matched = _assign(overlap, overlap >= self.min_iou)
        rows = [r for r in range(len(predicted)) if r not in matched.values()]
        cols = [c for c in range(len(boxes)) if c not in matched]
        if rows and cols:
            shift = centre_shift(predicted[rows], boxes[cols])
            size = predicted[rows, 2:].max(axis=1)[:, None] / boxes[cols, 2:].max(axis=1)[None, :]
            allowed = (shift <= self.max_shift) & (size < 1.5) & (size > 1 / 1.5)
            matched.update({cols[c]: rows[r] for c, r in _assign(-shift, allowed).items()})
        for track in self.tracks:
            track.missed += 1
        found = []
        for index, face in enumerate(faces):
            if index in matched:
                track = self.tracks[matched[index]]
                # The carried box moved by velocity * steps since the last detection; the
                # remaining offset is the velocity error spread over those steps.
                measured = track.velocity + (boxes[index] - track.box) / steps
                if track.missed > 1:  # found again after a miss: its old velocity is stale
                    track.velocity = np.zeros(4)
                elif track.hits == 1:  # the first measurement: nothing to damp it with
                    track.velocity = measured
                else:
                    track.velocity = (1 - self.damping) * track.velocity + self.damping * measured
                track.box, track.confidence, track.missed = boxes[index], float(face.confidence), 0
                track.hits += 1
            else:
                track = Track(self.next_id, boxes[index], float(face.confidence))
                self.next_id += 1
                self.tracks.append(track)
            track.detected = True
            found.append(track)
        self.tracks = [t for t in self.tracks if t.missed < self.max_missed]
        return found
