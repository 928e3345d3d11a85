"""The service's Prometheus metrics, kept in memory and written in the text exposition format
(version 0.0.4) by hand: five series need no client library."""

from __future__ import annotations

import threading
from collections import Counter

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Request latency histogram bounds, seconds."""


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests = Counter()  # (endpoint, status) -> count
        self.errors = Counter()  # endpoint -> count of 4xx/5xx answers
        self.faces = 0
        self.queue_depth = 0
        self._buckets = Counter()  # (endpoint, bound) -> count
        self._sums, self._counts = Counter(), Counter()

    def observe(self, endpoint, status, seconds, faces=0, probe=False):
        """One answer; a ``probe``'s (a health check's) 503 says "not ready yet", not an error."""
        with self._lock:
            self.requests[(endpoint, status)] += 1
            if status >= 400 and not probe:
                self.errors[endpoint] += 1
            self.faces += faces
            self._sums[endpoint] += seconds
            self._counts[endpoint] += 1
            for bound in BUCKETS:
                if seconds <= bound:
                    self._buckets[(endpoint, bound)] += 1

    def text(self) -> str:
        with self._lock:
            lines = ["# HELP fsanet_requests_total Requests answered, by endpoint and status.",
                     "# TYPE fsanet_requests_total counter"]
            lines += [f'fsanet_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self.requests.items())]
            lines += ["# HELP fsanet_errors_total Requests answered with a 4xx or 5xx status (health checks not counted).",
                      "# TYPE fsanet_errors_total counter"]
            lines += [f'fsanet_errors_total{{endpoint="{e}"}} {n}' for e, n in sorted(self.errors.items())]
            lines += ["# HELP fsanet_request_seconds Request latency.", "# TYPE fsanet_request_seconds histogram"]
            for endpoint in sorted(self._counts):
                lines += [f'fsanet_request_seconds_bucket{{endpoint="{endpoint}",le="{b}"}} '
                          f'{self._buckets[(endpoint, b)]}' for b in BUCKETS]
                lines += [f'fsanet_request_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} {self._counts[endpoint]}',
                          f'fsanet_request_seconds_sum{{endpoint="{endpoint}"}} {self._sums[endpoint]:.6f}',
                          f'fsanet_request_seconds_count{{endpoint="{endpoint}"}} {self._counts[endpoint]}']
            lines += ["# HELP fsanet_faces_total Faces estimated.", "# TYPE fsanet_faces_total counter",
                      f"fsanet_faces_total {self.faces}",
                      "# HELP fsanet_queue_depth Requests admitted and not yet answered.",
                      "# TYPE fsanet_queue_depth gauge", f"fsanet_queue_depth {self.queue_depth}"]
        return "\n".join(lines) + "\n"
