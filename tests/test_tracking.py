"""Face tracks (fsanet.video.tracking) on boxes with known motion, and temporal smoothing
(fsanet.video.smoothing) on a still and a turning head."""

import dataclasses

import numpy as np
import pytest

from fsanet.faces.boxes import iou
from fsanet.video.smoothing import OneEuroFilter, PoseSmoother
from fsanet.video.tracking import FaceTracker


@dataclasses.dataclass
class Detection:
    box: tuple
    confidence: float = 1.0


def test_iou():
    assert iou([(0, 0, 10, 10)], [(0, 0, 10, 10)])[0, 0] == pytest.approx(1.0)
    assert iou([(0, 0, 10, 10)], [(5, 0, 10, 10)])[0, 0] == pytest.approx(50 / 150)
    assert iou([(0, 0, 10, 10)], [(20, 0, 10, 10)])[0, 0] == 0.0
    assert iou([], [(0, 0, 1, 1)]).shape == (0, 1)


def test_crossing_faces_keep_their_ids():
    """Two faces cross paths (at the crossing their boxes overlap with IoU 0.45, more than
    ``min_iou``); detections arrive every 3rd frame, in a changing order; each track must follow
    its own face."""
    tracker = FaceTracker()
    ids = {"a": set(), "b": set()}
    for frame in range(60):
        a = (9 * frame, 100, 80, 80)
        b = (540 - 9 * frame, 130, 80, 80)
        if frame % 3:
            tracks = tracker.carry()
            assert not any(t.detected for t in tracks)
            continue
        faces = [Detection(a), Detection(b)] if frame % 2 else [Detection(b), Detection(a)]
        tracks = tracker.update(faces)
        assert [t.detected for t in tracks] == [True, True]
        by_face = dict(zip(("a", "b") if frame % 2 else ("b", "a"), tracks))
        for name, track in by_face.items():
            ids[name].add(track.id)
    assert len(ids["a"]) == len(ids["b"]) == 1 and ids["a"] != ids["b"]


def test_boxes_are_carried_at_the_faces_velocity():
    tracker = FaceTracker(damping=1.0)
    tracker.update([Detection((100, 50, 60, 60))])
    for _ in range(4):
        tracker.carry()
    tracker.update([Detection((110, 50, 60, 60))])  # 5 frames later: 2 px per frame
    carried = [tracker.carry()[0].box.copy() for _ in range(4)]
    np.testing.assert_allclose([b[0] for b in carried], [112, 114, 116, 118])
    np.testing.assert_allclose([b[1:] for b in carried], [[50, 60, 60]] * 4)


def test_a_face_moving_beyond_its_box_overlap_keeps_its_id():
    """60 px between detections for an 80 px face: IoU 0.14, below min_iou; the distance pass
    (one box size, similar size) still continues the track, also for a new track without velocity."""
    tracker = FaceTracker()
    ids = {tracker.update([Detection((60 * step, 100, 80, 80))])[0].id for step in range(6)}
    assert ids == {0}
    far = tracker.update([Detection((600, 100, 80, 80))])[0]  # 4 box sizes from the prediction
    small = tracker.update([Detection((420, 100, 40, 40))])[0]  # near, but half the size
    assert (far.id, small.id) == (1, 2)


def test_a_missed_face_is_hidden_kept_then_ended():
    tracker = FaceTracker(max_missed=3)
    first = tracker.update([Detection((0, 0, 50, 50))])[0]
    assert tracker.update([]) == [] and tracker.visible == []  # missed once: hidden, not ended
    assert len(tracker.tracks) == 1
    again = tracker.update([Detection((2, 0, 50, 50))])[0]
    assert again.id == first.id  # found again: same ID
    for _ in range(3):
        tracker.update([])
    assert tracker.tracks == []  # three misses in a row end it
    assert tracker.update([Detection((2, 0, 50, 50))])[0].id == first.id + 1  # IDs never come back


def test_new_faces_get_new_ids_and_far_boxes_do_not_match():
    tracker = FaceTracker()
    one = tracker.update([Detection((0, 0, 50, 50), 0.9)])
    two = tracker.update([Detection((300, 0, 50, 50), 0.8), Detection((1, 1, 50, 50), 0.7)])
    assert [t.id for t in two] == [1, one[0].id]
    assert [t.confidence for t in two] == [0.8, 0.7]


def _jitter(values):
    return np.abs(np.diff(values, axis=0)).mean(axis=0)


def test_smoothing_removes_jitter_of_a_still_face_and_keeps_its_mean():
    rng = np.random.default_rng(0)
    t = np.arange(250) / 25.0
    pose = np.array([12.0, -8.0, 3.0]) + rng.normal(0, 1.5, (250, 3))
    smoother = PoseSmoother()
    smoothed = np.array([smoother(7, ti, p) for ti, p in zip(t, pose)])
    assert (_jitter(smoothed) < 0.3 * _jitter(pose)).all()
    settled = slice(50, None)  # after the first two seconds
    np.testing.assert_allclose(smoothed[settled].mean(axis=0), pose[settled].mean(axis=0), atol=0.3)


def test_smoothing_follows_a_turn_and_tracks_are_independent():
    t = np.arange(100) / 25.0
    yaw = np.where(t < 2, 0.0, 60.0)  # a quick turn at two seconds
    smoother = PoseSmoother()
    out = np.array([smoother(1, ti, [y, 0, 0])[0] for ti, y in zip(t, yaw)])
    assert abs(out[-1] - 60) < 1  # settled within two seconds
    assert out[55] > 30  # less than 0.2 s behind the turn
    assert smoother(2, 0.0, [-40, 5, 5])[0] == -40  # another track starts from its own value
    smoother.keep_only([2])
    assert smoother(1, 10.0, [0, 0, 0])[0] == 0  # track 1 forgotten: a fresh filter


def test_one_euro_parameters_are_checked():
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0)
    f = OneEuroFilter()
    assert f(1.0, [5.0]) == [5.0]
    assert f(1.0, [9.0]) == [5.0]  # the same instant again changes nothing
