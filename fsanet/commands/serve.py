"""Serve head pose over HTTP and a WebSocket, with a live webcam page at /.

    fsanet serve                               # http://127.0.0.1:8000/ : the page; API at /v1/...
    fsanet serve --host 0.0.0.0 --token-file token.txt

POST /v1/pose (an image) -> the faces as `fsanet PHOTO --data` writes them; POST /v1/pose/crops
(face crops) -> angles; WS /v1/stream (JPEG frames) -> tracked, smoothed faces per frame; /healthz,
/readyz (ready once the model has run), /metrics (Prometheus). Binding any address but loopback needs
--token-file (clients send `Authorization: Bearer <token>`). Ctrl-C / SIGTERM: requests in flight
finish, exit 130 / 143.
"""

from __future__ import annotations

from pathlib import Path

from fsanet.commands import add_protocol_argument, non_negative_int, positive_float, positive_int
from fsanet.deploy.backends import BACKENDS
from fsanet.faces.detectors import DETECTORS
from fsanet.faces.framing import RULES


def port(text):
    """argparse type: a TCP port, 1..65535."""
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(text)
    return value


def add_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=port, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--token-file", type=Path,
                        help="a file whose first line is the API token; required for any --host but loopback")
    parser.add_argument("--model", default="fusion", help="any model spec, as the demo's --model (default: fusion)")
    add_protocol_argument(parser, help="whose released weights: 300W_LP (default) or BIWI")
    parser.add_argument("--backend", choices=BACKENDS, help="pose runtime (default: the fastest that matches Keras)")
    parser.add_argument("--detector", choices=list(DETECTORS),
                        help="face detector (default: mtcnn_cascade for /v1/pose, dlib for /v1/stream)")
    parser.add_argument("--crop", choices=RULES, help="crop rule, as the demo's --crop")
    parser.add_argument("--detection-width", type=non_negative_int,
                        help="detect on a copy at most this wide (default 960 for photos, 640 for streams)")
    parser.add_argument("--flip-average", action="store_true",
                        help="average each face with its mirror image, as the demo's --flip-average")
    parser.add_argument("--every", type=positive_int, default=1,
                        help="streams: detect every N frames, track in between (default 1)")
    parser.add_argument("--max-mb", type=positive_float, default=10.0, help="largest request body, MB (default 10)")
    parser.add_argument("--max-megapixels", type=positive_float, default=40.0,
                        help="largest image, megapixels, read from its header before decoding (default 40)")
    parser.add_argument("--batch-window-ms", type=float, default=4.0,
                        help="how long the pose network waits to batch requests of other clients (0: no batching)")
    parser.add_argument("--max-queue", type=positive_int, default=32,
                        help="requests admitted at once; more get 503 with Retry-After (default 32)")
    parser.add_argument("--workers", type=positive_int, default=2, help="detection and decoding threads (default 2)")


def run(args) -> int:
    from fsanet.errors import UsageError
    from fsanet.serving.server import check_address, is_loopback, read_token, serve

    if not 0 <= args.batch_window_ms <= 1000:
        raise UsageError(f"--batch-window-ms {args.batch_window_ms}: choose 0..1000")
    token = None if args.token_file is None else read_token(args.token_file)
    if token is None and not is_loopback(args.host):
        raise UsageError(f"--host {args.host}: binding beyond this machine requires --token-file")
    check_address(args.host, args.port)

    from fsanet.serving.app import ServeOptions, create_app
    options = ServeOptions(model=args.model, protocol=args.protocol, detector=args.detector, crop=args.crop,
                           detection_width=args.detection_width, backend=args.backend,
                           flip_average=args.flip_average, every=args.every,
                           max_bytes=int(args.max_mb * 1024 * 1024), max_pixels=int(args.max_megapixels * 1e6),
                           batch_window_s=args.batch_window_ms / 1000, max_queue=args.max_queue,
                           workers=args.workers, token=token)
    serve(create_app(options), args.host, args.port)
    return 0
