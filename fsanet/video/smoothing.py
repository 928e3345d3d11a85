"""Temporal smoothing of head poses per face track: the One-Euro filter.

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose cutoff rises with
the signal's speed: a still head's frame-to-frame jitter is removed, a turning head is followed with
little lag. Per sample at time t (seconds), with alpha(f) = 1 / (1 + 1 / (2 pi f dt)):

    dx    = lowpass((x - x_prev) / dt, alpha(d_cutoff))     the smoothed speed
    f     = min_cutoff + beta * |dx|                         the cutoff for this sample
    x_hat = lowpass(x, alpha(f))

Parameters (angles in degrees, time in seconds):

- ``min_cutoff`` (Hz): the cutoff of a still head; lower removes more jitter and adds more lag.
  At 1.0 Hz and 25 FPS, 1 degree of random jitter per frame becomes about 0.2 degrees.
- ``beta`` (Hz per degree/second): how fast the cutoff rises with speed; 0.05 lifts it by 5 Hz for a
  head turning at 100 degrees per second, which is then followed within about 3 degrees (less
  than a frame's motion at 25 FPS).
- ``d_cutoff`` (Hz): the cutoff of the speed estimate; 1.0 Hz as the paper recommends.
"""

from __future__ import annotations

import math

import numpy as np

MIN_CUTOFF, BETA, D_CUTOFF = 1.0, 0.05, 1.0


def _alpha(cutoff, dt):
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


class OneEuroFilter:
    """One-Euro filter of a vector signal (each component filtered on its own)."""

    def __init__(self, min_cutoff=MIN_CUTOFF, beta=BETA, d_cutoff=D_CUTOFF):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("One-Euro filter: min_cutoff and d_cutoff must be > 0, beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._t = self._x = self._dx = None

    def __call__(self, t, x) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._t is None:
            self._t, self._x, self._dx = t, x, np.zeros_like(x)
            return x
        dt = t - self._t
        if dt <= 0:  # the same instant again (or a clock step back): nothing new to filter
            return self._x
        a = _alpha(self.d_cutoff, dt)
        self._dx = a * (x - self._x) / dt + (1 - a) * self._dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x


class PoseSmoother:
    """One One-Euro filter per face track: ``smoother(track_id, t, [yaw, pitch, roll])``."""

    def __init__(self, min_cutoff=MIN_CUTOFF, beta=BETA, d_cutoff=D_CUTOFF):
        self.parameters = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        OneEuroFilter(**self.parameters)  # check the parameters now, not at the first face
        self._filters = {}

    def __call__(self, track_id, t, angles) -> np.ndarray:
        if track_id not in self._filters:
            self._filters[track_id] = OneEuroFilter(**self.parameters)
        return self._filters[track_id](t, angles)

    def keep_only(self, track_ids):
        """Forget the filters of tracks that ended (their IDs never come back)."""
        keep = set(track_ids)
        self._filters = {i: f for i, f in self._filters.items() if i in keep}
