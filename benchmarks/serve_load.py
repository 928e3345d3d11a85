"""A bounded load test of ``fsanet serve`` on loopback: photos/s and crops/s with p50 / p99 latency
at 1, 4 and 16 concurrent clients, with micro-batching (4 ms window) and without (0), then the
overload case (many clients against a small admission queue: 503s at once, no crash, RSS before and
after two rounds). Each client sends a fixed number of requests, so the run stops by itself.

    .venv/bin/python benchmarks/serve_load.py [--requests 8] [--json out.json]

Photos: the shared portrait (750x375, one face) through detection and pose; crops: face crops of
obama.mp4 (200x200 PNG), 1 or 8 per request, pose only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FSANET_SHARED", ROOT.parent / "shared"))
PORTRAIT = SHARED / "data" / "images" / "portrait_750x375.jpg"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(port, *flags):
    process = subprocess.Popen([sys.executable, "-m", "fsanet", "serve", "--port", str(port), *flags], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5):
                return process, url
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                raise SystemExit(f"server exited {process.returncode}")
            time.sleep(0.5)
    raise SystemExit("server not ready")


def multipart(crops):
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"crop\"; filename=\"{i}.png\"\r\n"
             f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for i, data in enumerate(crops)]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def send(url, body, content_type):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def load(url, body, content_type, clients, requests):
    """(requests/s of 200s, p50 ms, p99 ms, {status: count}) of ``clients`` threads x ``requests``."""
    latencies, statuses, lock = [], {}, threading.Lock()

    def client():
        for _ in range(requests):
            begun = time.perf_counter()
            status = send(url, body, content_type)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(time.perf_counter() - begun)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    begun = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - begun
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return len(latencies) / seconds, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), statuses


def crop_bodies(count=8):
    from itertools import islice

    from fsanet.video.media import Source
    frames = [f for _, f in islice(Source(str(SHARED / "data" / "video" / "obama.mp4")), count)]
    return [cv2.imencode(".png", f[90:390, 622:922][50:250, 50:250])[1].tobytes() for f in frames]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per client (default 8)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    photo = PORTRAIT.read_bytes()
    crops = crop_bodies()
    crops_body, crops_type = multipart(crops)
    crop_body, crop_type = multipart(crops[:1])
    results = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "runs": []}
    for window in ("4", "0"):
        process, url = start(free_port(), "--batch-window-ms", window, "--max-queue", "64")
        try:
            for kind, body, content_type, path, per_request in (
                    ("photos", photo, "image/jpeg", "/v1/pose", 1),
                    ("crops, 1 per request", crop_body, crop_type, "/v1/pose/crops", 1),
                    ("crops, 8 per request", crops_body, crops_type, "/v1/pose/crops", 8)):
                for clients in (1, 4, 16):
                    rate, p50, p99, statuses = load(url + path, body, content_type, clients, args.requests)
                    per = rate * per_request
                    row = dict(window_ms=float(window), kind=kind, clients=clients, per_s=round(per, 1),
                               p50_ms=round(p50, 1), p99_ms=round(p99, 1), statuses=statuses)
                    results["runs"].append(row)
                    print(json.dumps(row), flush=True)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    process, url = start(free_port(), "--max-queue", "4")
    try:
        results["overload"] = []
        for _ in range(2):  # twice: memory after the first round is where it stays
            before = rss_mb(process.pid)
            rate, p50, p99, statuses = load(url + "/v1/pose", photo, "image/jpeg", 48, args.requests)
            row = dict(clients=48, max_queue=4, statuses=statuses, p50_ms_of_200s=round(p50, 1),
                       rss_mb_before=round(before), rss_mb_after=round(rss_mb(process.pid)),
                       serves_after=send(url + "/v1/pose", photo, "image/jpeg"))
            results["overload"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
