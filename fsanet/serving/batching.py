"""Micro-batching: pose requests of all clients that arrive within a short window run as one batch
of the pose network, on one thread (the only caller of the model, so no backend needs to be
thread-safe). ``submit`` gives a future (the event loop awaits it without holding a worker thread);
``predict_members`` blocks (a ``PoseAnnotator`` on a worker thread calls it). ``window_s=0`` runs
each request alone."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np


class MicroBatcher:
    """``predict_members``-compatible front of a ``PosePredictor`` that gathers the crops of concurrent
    callers for up to ``window_s`` seconds or ``max_batch`` crops."""

    def __init__(self, predictor, window_s=0.004, max_batch=64):
        self.predictor, self.window_s, self.max_batch = predictor, window_s, max_batch
        self.batches = self.crops = 0
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="fsanet-batcher", daemon=True)
        self._thread.start()

    def submit(self, crops) -> Future:
        """A future of (angles (N, 3), members (N, M, 3) or None) for a list of crops."""
        future = Future()
        self._queue.put((list(crops), future))
        return future

    def predict_members(self, crops):
        """(angles, members), as ``PosePredictor.predict_members``."""
        crops = list(crops)
        return self.submit(crops).result() if crops else self.predictor.predict_members([])

    def close(self):
        self._queue.put(None)
        self._thread.join()

    def _gather(self, first):
        jobs, count = [first], len(first[0])
        deadline = time.monotonic() + self.window_s
        while count < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)
                break
            jobs.append(job)
            count += len(job[0])
        return jobs

    def _loop(self):
        while (first := self._queue.get()) is not None:
            jobs = self._gather(first) if self.window_s > 0 else [first]
            try:
                angles, members = self.predictor.predict_members([c for crops, _ in jobs for c in crops])
            except Exception as e:  # noqa: BLE001  (handed to each caller, raised where it waits)
                for _, future in jobs:
                    future.set_exception(e)
                continue
            self.batches += 1
            self.crops += len(angles)
            start = 0
            for crops, future in jobs:
                end = start + len(crops)
                future.set_result((np.asarray(angles[start:end]), None if members is None else members[start:end]))
                start = end
