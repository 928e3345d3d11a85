"""The ASGI app of ``fsanet serve``: head pose over HTTP and a WebSocket, and the webcam page.

    POST /v1/pose        one image (JPEG / PNG / WebP body, or multipart) -> one entry per face: the
                         rows ``fsanet PHOTO --data`` writes (box, confidence, angles, rotation, spread)
    POST /v1/pose/crops  face crops (multipart, one image per part, or one image body) -> angles
    WS   /v1/stream      binary JPEG frames in, per-frame faces out: track IDs and One-Euro-smoothed
                         angles (one tracker and smoother per connection); a text message
                         ``{"time": seconds}`` before a frame gives its capture time (else: arrival)
    GET  /healthz /readyz /metrics, and / (the page, from ``static/``)

Detection and decoding run on a thread pool, never on the event loop; the pose network runs on the
micro-batching thread (``fsanet.serving.batching``), shared by all clients. At most ``max_queue``
requests are admitted at a time: the next one gets 503 with Retry-After at once, so memory stays
bounded (``max_queue`` x ``max_bytes``) and admitted requests do not slow down. No endpoint reads a
path given by a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
from starlette.applications import Starlette
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect

from fsanet.api.estimator import HeadPoseEstimator
from fsanet.core.images import image_from_bytes
from fsanet.core.pose import ANGLES
from fsanet.core.protocols import DEFAULT_PROTOCOL
from fsanet.errors import FSANetError, ImageError, one_line
from fsanet.faces.detectors import default_detector, make_detector
from fsanet.serving.batching import MicroBatcher
from fsanet.serving.metrics import Metrics
from fsanet.serving.uploads import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, UploadError, check_image

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = ("/healthz", "/readyz")
"""Answered without the token: a load balancer's probes carry none."""
MAX_CROPS = 256


@dataclasses.dataclass
class ServeOptions:
    """What ``fsanet serve``'s flags set. ``model`` ... ``backend``: as ``HeadPoseEstimator``'s;
    ``every``: detection every this many frames of a stream (boxes tracked in between);
    ``batch_window_s``: how long the pose network waits for more requests (0: no micro-batching);
    ``token``: the Bearer token every endpoint but the health checks requires (None: no check)."""

    model: str = "fusion"
    protocol: str = DEFAULT_PROTOCOL
    detector: str | None = None
    crop: str | None = None
    detection_width: int | None = None
    backend: str | None = None
    flip_average: bool = False
    every: int = 1
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    batch_window_s: float = 0.004
    max_batch: int = 64
    max_queue: int = 32
    workers: int = 2
    token: str | None = None


def error(status, message, retry_after=None) -> JSONResponse:
    """The one-line JSON error every refusal answers with."""
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse({"error": message}, status, headers=headers)


class _ThreadDetector:
    """A detector by name, one instance per worker thread (detectors keep per-call state)."""

    def __init__(self, name):
        self.name, self._local = name, threading.local()
        self.framing = getattr(make_detector(name), "framing", None)

    def __call__(self, image):
        if not hasattr(self._local, "detector"):
            self._local.detector = make_detector(self.name)
        return self._local.detector(image)


class _Busy(Exception):
    """The admission queue is full."""


class PoseService:
    """The state behind the routes: the estimator (loaded at start-up, off the event loop), the
    batcher, the worker pool, admission and metrics."""

    def __init__(self, options: ServeOptions, estimator: HeadPoseEstimator | None = None):
        self.options, self.estimator = options, estimator
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(options.workers, thread_name_prefix="fsanet-worker")
        self.batcher = None
        self.ready = False
        self.load_error = None
        self._detectors = {}
        self._loading = None

    # start-up and shut-down -------------------------------------------------------------------
    async def start(self):
        self._loading = asyncio.get_running_loop().run_in_executor(self.pool, self._load)

    def _load(self):
        """Load the model and run detection and pose once (``/readyz`` says ready after this)."""
        try:
            if self.estimator is None:
                o = self.options
                self.estimator = HeadPoseEstimator(o.model, o.protocol, o.detector, o.crop, o.detection_width,
                                                   o.backend, flip_average=o.flip_average)
            self.batcher = MicroBatcher(self.estimator.predictor, self.options.batch_window_s,
                                        self.options.max_batch)
            blank = np.full((240, 320, 3), 128, np.uint8)
            self._photo(blank)
            self.batcher.predict_members([blank[:64, :64]])
            self.ready = True
        except Exception as e:  # noqa: BLE001  (reported by /readyz and the pose endpoints)
            self.load_error = one_line(e)

    async def stop(self):
        if self._loading is not None:
            with contextlib.suppress(Exception):
                await self._loading
        self.pool.shutdown(wait=True)
        if self.batcher is not None:
            self.batcher.close()

    # the work, on pool threads ----------------------------------------------------------------
    def annotator(self, kind, smooth):
        """The estimator's annotator for ``kind``, its pose network behind the batcher and one
        detector per worker thread."""
        annotator = self.estimator.annotator(kind, self.options.every if kind == "camera" else 1, smooth)
        name = self.estimator.detector_name or default_detector(kind)
        if name not in self._detectors:
            self._detectors[name] = _ThreadDetector(name)
        annotator.predictor, annotator.detector = self.batcher, self._detectors[name]
        return annotator

    def _photo(self, frame, source="image"):
        return [dataclasses.replace(r, track=None)
                for r in self.annotator("image", False)(frame, None, source, draw=False)]

    def photo(self, data, name="image"):
        """A photo's faces; their ``source`` is the upload's file name's stem, as the command's is the
        input's (a plain body: ``image``)."""
        frame = image_from_bytes(data, name)
        return frame.shape, [r.as_dict() for r in self._photo(frame, Path(name).stem)]

    @staticmethod
    def decode_crops(items):
        return [image_from_bytes(data, name) for name, data in items]

    async def crops(self, items):
        """Angles (and members' spread) of the uploaded crops: decoded on a worker thread, then
        awaited in the batcher without holding that thread (so many requests can share a batch)."""
        crops = await self.run(self.decode_crops, items)
        angles, members = await asyncio.wrap_future(self.batcher.submit(crops))
        rows = []
        for i, pose in enumerate(angles):
            row = {a: round(float(v), 4) for a, v in zip(ANGLES, pose)}
            if members is not None:
                row.update({f"{a}_spread": round(float(s), 4) for a, s in zip(ANGLES, members[i].std(axis=0))})
            rows.append(row)
        return rows

    def frame(self, annotator, data, time_s):
        frame = image_from_bytes(data, "frame")
        return frame.shape, [r.as_dict() for r in annotator(frame, time_s, "stream", draw=False)]

    # admission --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def admitted(self):
        if self.metrics.queue_depth >= self.options.max_queue:
            raise _Busy
        self.metrics.queue_depth += 1  # only the event loop's thread changes it
        try:
            yield
        finally:
            self.metrics.queue_depth -= 1

    async def run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)


async def read_body(request, limit) -> bytes:
    """The body, refused with 413 as soon as it exceeds ``limit`` bytes (Content-Length or counted)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadError(413, f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadError(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def uploaded_images(request, service, many) -> list:
    """[(name, bytes)] of the request's images, each checked (``check_image``) before decoding."""
    options = service.options
    content_type = request.headers.get("content-type", "")
    if not content_type:
        raise UploadError(415, "no content type; send image/jpeg, image/png, image/webp or multipart/form-data")
    body = await read_body(request, options.max_bytes)
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        async def chunks():
            yield body
        try:
            form = await MultiPartParser(request.headers, chunks(), max_files=MAX_CROPS if many else 1,
                                         max_fields=MAX_CROPS, max_part_size=options.max_bytes).parse()
        except MultiPartException as e:
            raise UploadError(400, f"multipart body: {e.message}") from None
        items = [(value.filename or key, await value.read(), value.content_type)
                 for key, value in form.multi_items() if not isinstance(value, str)]
        if not items:
            raise UploadError(400, "multipart body has no file part")
    else:
        items = [("image", body, content_type)]
    for name, data, declared in items:
        check_image(data, declared, options.max_pixels, name)
    return [(name, data) for name, data, _ in items]


def frame_time(text):
    """The seconds of a stream's ``{"time": seconds}`` text message, or None when it is not one."""
    try:
        value = json.loads(text or "")["time"]
    except (ValueError, TypeError, KeyError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def create_app(options: ServeOptions | None = None, estimator: HeadPoseEstimator | None = None) -> Starlette:
    """The app; ``estimator``: one already loaded (tests share one), else loaded at start-up."""
    options = options or ServeOptions()
    service = PoseService(options, estimator)

    async def answer(work):
        """Run a pose endpoint's ``work`` (a coroutine function) with readiness, admission and
        every failure turned into a one-line JSON error."""
        if not service.ready:
            why = service.load_error or "the model is loading"
            return error(503, why, retry_after=None if service.load_error else 2)
        try:
            async with service.admitted():
                return await work()
        except _Busy:
            return error(503, f"busy: {options.max_queue} requests in progress; retry", retry_after=1)
        except UploadError as e:
            return error(e.status, str(e))
        except (ImageError, FSANetError) as e:
            return error(400, one_line(e))
        except Exception as e:  # noqa: BLE001  (a bug: still one JSON line, and the server goes on)
            return error(500, f"internal error: {one_line(e)}")

    async def pose(request):
        async def work():
            ((name, data),) = await uploaded_images(request, service, many=False)
            (height, width, _), faces = await service.run(service.photo, data, name)
            service.metrics.faces += len(faces)
            return JSONResponse({"width": width, "height": height, "faces": faces})
        return await answer(work)

    async def crops(request):
        async def work():
            items = await uploaded_images(request, service, many=True)
            rows = await service.crops(items)
            service.metrics.faces += len(rows)
            return JSONResponse({"crops": rows})
        return await answer(work)

    async def stream(websocket):
        await websocket.accept()
        state = {"annotator": None, "start": None, "time": None}

        async def frame(data):
            if len(data) > options.max_bytes:
                raise UploadError(413, f"frame of {len(data)} bytes is over the limit of {options.max_bytes} bytes")
            check_image(data, None, options.max_pixels, "frame")
            if state["annotator"] is None:
                state["annotator"] = service.annotator("camera", smooth=True)
                state["start"] = time.perf_counter()
            time_s, state["time"] = state["time"], None
            if time_s is None:
                time_s = time.perf_counter() - state["start"]
            shape, faces = await service.run(service.frame, state["annotator"], data, time_s)
            service.metrics.faces += len(faces)
            return JSONResponse({"frame": state["annotator"].frames - 1, "width": shape[1], "height": shape[0],
                                 "faces": faces})

        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                begun = time.perf_counter()
                data = message.get("bytes")
                if data is None:
                    state["time"] = frame_time(message.get("text"))
                    if state["time"] is None:
                        await websocket.send_text(json.dumps(
                            {"error": 'send each frame as a binary JPEG message, its time as {"time": seconds}'}))
                    continue
                response = await answer(lambda: frame(data))
                reply = json.loads(response.body)
                reply["server_ms"] = round(1000 * (time.perf_counter() - begun), 1)
                service.metrics.observe("/v1/stream", response.status_code, time.perf_counter() - begun)
                await websocket.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            return

    async def healthz(request):
        return JSONResponse({"status": "ok"})

    async def readyz(request):
        if service.ready:
            return JSONResponse({"status": "ready", "backend": service.estimator.predictor.backend})
        return error(503, service.load_error or "the model is loading", retry_after=None if service.load_error else 2)

    async def metrics(request):
        return PlainTextResponse(service.metrics.text(), media_type="text/plain; version=0.0.4")

    async def page(request):
        return FileResponse(STATIC / "index.html")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.start()
        yield
        await service.stop()

    routes = [Route("/v1/pose", pose, methods=["POST"]), Route("/v1/pose/crops", crops, methods=["POST"]),
              WebSocketRoute("/v1/stream", stream), Route("/healthz", healthz), Route("/readyz", readyz),
              Route("/metrics", metrics), Route("/", page), Mount("/static", StaticFiles(directory=STATIC))]
    return _Guard(Starlette(routes=routes, lifespan=lifespan), service, options.token)


class _Guard:
    """ASGI middleware: the Bearer token (or ``?token=`` for a browser's WebSocket and page, which
    cannot set headers) on every path but the health checks, and each HTTP request's status and
    latency into the metrics."""

    def __init__(self, app, service, token):
        self.app, self.service, self.token = app, service, token

    def _allowed(self, scope) -> bool:
        if self.token is None or scope["path"] in OPEN_PATHS:
            return True
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        if given.startswith("Bearer "):
            return hmac.compare_digest(given[7:].strip().encode(), self.token.encode())
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return bool(query) and hmac.compare_digest(query.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        allowed = self._allowed(scope)
        if scope["type"] == "websocket":
            if not allowed:
                await receive()  # websocket.connect
                return await send({"type": "websocket.close", "code": 1008, "reason": "unauthorized"})
            return await self.app(scope, receive, send)
        begun, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if allowed:
                await self.app(scope, receive, sending)
            else:
                await error(401, "missing or wrong API token (Authorization: Bearer <token>)")(scope, receive, sending)
        finally:
            if scope["path"] != "/metrics":
                self.service.metrics.observe(scope["path"], status[0], time.perf_counter() - begun,
                                             probe=scope["path"] in OPEN_PATHS)
