"""Video I/O in background threads (fsanet.video.media): frames in order, errors where they belong,
threads that stop with the consumer, and an encoder that finishes every frame it was given."""

import threading

import cv2
import numpy as np
import pytest

from fsanet.errors import InputError
from fsanet.video.media import VideoOutput, prefetched


def test_prefetched_keeps_order_and_raises_in_the_consumer():
    def frames():
        yield from range(10)
        raise InputError("clip.mp4: broken")

    seen = []
    with pytest.raises(InputError, match="clip.mp4: broken"):
        for item in prefetched(frames(), depth=2):
            seen.append(item)
    assert seen == list(range(10))


def test_prefetched_stops_its_thread_when_the_consumer_leaves():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    items = prefetched(endless(), depth=3)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()
    assert closed.is_set() and threading.active_count() == before


def test_video_output_encodes_every_frame_in_order(tmp_path):
    path = tmp_path / "out.mp4"
    video = VideoOutput(path, 25.0, depth=2)
    for i in range(30):
        video.write(np.full((64, 96, 3), 8 * i, np.uint8))
    assert not path.exists()  # written under a temporary name until closed
    video.close()
    capture = cv2.VideoCapture(str(path))
    means = []
    while (frame := capture.read()[1]) is not None:
        means.append(frame.mean())
    assert len(means) == 30 and np.all(np.diff(means) > 0)
    assert video.encode_seconds > 0 and not list(tmp_path.glob(".*.part"))
