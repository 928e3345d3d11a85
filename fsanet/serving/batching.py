"""Micro-batching: pose requests of all clients that arrive within a short window run as one batch
of the pose network, on one thread (the only caller of the model, so no backend needs to be
thread-safe). Callers block on their share of the batch; ``window_s=0`` runs each request alone."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np


class _Job:
    def __init__(self, crops):
        self.crops, self.done = crops, threading.Event()
        self.result = self.error = None


class MicroBatcher:
    """``predict_members``-compatible front of a ``PosePredictor`` (so a ``PoseAnnotator`` can use it)
    that gathers the crops of concurrent callers for up to ``window_s`` seconds or ``max_batch`` crops."""

    def __init__(self, predictor, window_s=0.004, max_batch=64):
        self.predictor, self.window_s, self.max_batch = predictor, window_s, max_batch
        self.batches = self.crops = 0
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="fsanet-batcher", daemon=True)
        self._thread.start()

    def predict_members(self, crops):
        """(angles (N, 3), members (N, M, 3) or None), as ``PosePredictor.predict_members``."""
        crops = list(crops)
        if not crops:
            return self.predictor.predict_members([])
        job = _Job(crops)
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self):
        self._queue.put(None)
        self._thread.join()

    def _gather(self, first):
        jobs, count = [first], len(first.crops)
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
            count += len(job.crops)
        return jobs

    def _loop(self):
        while (first := self._queue.get()) is not None:
            jobs = self._gather(first) if self.window_s > 0 else [first]
            try:
                angles, members = self.predictor.predict_members([c for job in jobs for c in job.crops])
            except Exception as e:  # noqa: BLE001  (handed to each caller, raised in its thread)
                for job in jobs:
                    job.error = e
                    job.done.set()
                continue
            self.batches += 1
            self.crops += len(angles)
            start = 0
            for job in jobs:
                end = start + len(job.crops)
                job.result = (np.asarray(angles[start:end]), None if members is None else members[start:end])
                start = end
                job.done.set()
