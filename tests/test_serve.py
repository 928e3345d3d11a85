"""``fsanet serve`` (fsanet/serving): each endpoint through an in-process client, each refused input
as a one-line JSON 4xx, the token, and /v1/pose giving the rows ``fsanet PHOTO --data`` writes."""

import json
import socket
import struct
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import SHARED
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_api import KEYS, command_rows

from fsanet.api.estimator import HeadPoseEstimator
from fsanet.cli import run_command
from fsanet.core.images import image_from_bytes
from fsanet.serving.app import ServeOptions, create_app
from fsanet.serving.batching import MicroBatcher
from fsanet.serving.uploads import header_size
from fsanet.video.records import flat_row

IMAGES = SHARED / "data" / "images"
PORTRAIT = IMAGES / "portrait_750x375.jpg"
TOKEN = "s3cret-token-0123456789"


def ready(client):
    for _ in range(600):
        if client.get("/readyz").status_code == 200:
            return client
        time.sleep(0.1)
    raise AssertionError(client.get("/readyz").text)


@pytest.fixture(scope="module")
def estimator(shared):
    return HeadPoseEstimator()


@pytest.fixture(scope="module")
def client(estimator):
    with TestClient(create_app(ServeOptions(max_bytes=1_000_000, max_pixels=2_100_000), estimator)) as c:
        yield ready(c)


def one_line_error(response, status):
    assert response.status_code == status, response.text
    assert "\n" not in response.text and set(response.json()) == {"error"}
    return response.json()["error"]


def obama_frames(count):
    from itertools import islice

    from fsanet.video.media import Source
    return [frame for _, frame in islice(Source(str(SHARED / "data" / "video" / "obama.mp4")), count)]


@pytest.mark.parametrize("photo", ["portrait_750x375.jpg", "group_1920x1080.jpg"])
def test_pose_gives_the_commands_rows(client, tmp_path, photo):
    rows = command_rows(tmp_path, IMAGES / photo)
    response = client.post("/v1/pose", content=(IMAGES / photo).read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text
    faces = response.json()["faces"]
    assert len(faces) == len(rows) >= 1
    for face, row in zip(faces, rows):
        assert face["track"] is None
        assert {k: flat_row(face)[k] for k in KEYS} == {k: row[k] for k in KEYS}


def test_pose_takes_multipart_png_and_webp(client):
    image = cv2.imread(str(PORTRAIT))
    want = client.post("/v1/pose", content=cv2.imencode(".png", image)[1].tobytes(),
                       headers={"Content-Type": "image/png"}).json()["faces"]
    assert len(want) == 1
    multipart = client.post("/v1/pose", files={"image": ("p.png", cv2.imencode(".png", image)[1].tobytes(), "image/png")})
    # a face's source: the uploaded file's name's stem, as the command's is its input's; a plain body's "image"
    assert [f["source"] for f in want] == ["image"] and [f["source"] for f in multipart.json()["faces"]] == ["p"]
    assert multipart.json()["faces"] == [dict(f, source="p") for f in want]
    webp = client.post("/v1/pose", content=cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes(),
                       headers={"Content-Type": "image/webp"})
    assert webp.json()["faces"] == want  # lossless WebP: the same pixels
    assert webp.json()["width"] == 750 and webp.json()["height"] == 375


def test_crops_gives_the_predictors_angles(client, estimator):
    crops = [cv2.imencode(".png", f[100:300, 200:400])[1].tobytes() for f in obama_frames(2)]
    response = client.post("/v1/pose/crops", files=[("crop", (f"{i}.png", c, "image/png")) for i, c in enumerate(crops)])
    assert response.status_code == 200, response.text
    rows = response.json()["crops"]
    angles, members = estimator.predictor.predict_members([image_from_bytes(c) for c in crops])
    assert len(rows) == 2 and {"yaw_spread", "pitch_spread", "roll_spread"} <= set(rows[0])
    for row, want in zip(rows, angles):
        assert (row["yaw"], row["pitch"], row["roll"]) == pytest.approx(want, abs=1e-3)
    single = client.post("/v1/pose/crops", content=crops[0], headers={"Content-Type": "image/png"})
    assert single.json()["crops"] == rows[:1]


def test_stream_tracks_and_smooths_one_face_per_connection(client):
    frames = [cv2.imencode(".jpg", f)[1].tobytes() for f in obama_frames(4)]
    for _ in range(2):  # a second connection starts its own tracks
        with client.websocket_connect("/v1/stream") as ws:
            replies = []
            for data in frames:
                ws.send_bytes(data)
                replies.append(json.loads(ws.receive_text()))
            ws.send_text("hello")
            assert "binary" in json.loads(ws.receive_text())["error"]
            ws.send_text('{"time": 100.5}')  # the client's capture time of the next frame
            ws.send_bytes(frames[0])
            assert json.loads(ws.receive_text())["faces"][0]["time"] == 100.5
            ws.send_bytes(b"not an image")
            assert "not a readable image" in json.loads(ws.receive_text())["error"]
            ws.send_bytes(frames[0])  # still serving this connection
            assert len(json.loads(ws.receive_text())["faces"]) == 1
        assert [r["frame"] for r in replies] == [0, 1, 2, 3]
        times = [r["faces"][0]["time"] for r in replies]  # no time sent: arrival, from the first frame
        assert times[0] == 0 and times == sorted(times)
        assert all(len(r["faces"]) == 1 and r["faces"][0]["track"] == 0 for r in replies)
        assert all("yaw_smoothed" in r["faces"][0] and r["server_ms"] > 0 for r in replies)


def test_health_readiness_metrics_and_page(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.post("/v1/pose", content=PORTRAIT.read_bytes(), headers={"Content-Type": "image/jpeg"})
    client.post("/v1/pose", content=b"x", headers={"Content-Type": "text/plain"})
    text = client.get("/metrics").text
    assert 'fsanet_requests_total{endpoint="/v1/pose",status="200"}' in text
    assert 'fsanet_errors_total{endpoint="/v1/pose"}' in text
    assert 'fsanet_request_seconds_bucket{endpoint="/v1/pose",le="+Inf"}' in text
    assert "fsanet_queue_depth 0" in text and "fsanet_faces_total " in text
    page = client.get("/")
    assert page.status_code == 200 and "static/page.js" in page.text and "http" not in page.text.split("<body>")[1]
    script = client.get("/static/page.js")
    assert script.status_code == 200 and "/v1/stream" in script.text


def png_header(width, height):
    """A PNG signature and IHDR chunk announcing width x height (nothing decodable after)."""
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + body + struct.pack(">I", 0) + b"\0" * 64


def test_bad_inputs_get_a_one_line_json_4xx_and_the_server_keeps_serving(client):
    jpeg = PORTRAIT.read_bytes()
    post = lambda data, kind="image/jpeg": client.post("/v1/pose", content=data, headers={"Content-Type": kind})  # noqa: E731
    assert "over the limit of 1000000 bytes" in one_line_error(post(b"\xff" * 1_000_001), 413)
    assert "more than the limit of 2100000 pixels" in one_line_error(post(png_header(20000, 20000), "image/png"), 413)
    assert "not a readable image" in one_line_error(post(b"\xff\xd8 this is not a jpeg"), 400)
    assert "not a readable image" in one_line_error(post(jpeg[: len(jpeg) // 3]), 400)  # header fine, data cut
    assert "not an image" in one_line_error(post(jpeg, "text/plain"), 415)
    assert "empty body" in one_line_error(post(b""), 400)
    fields_only = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--b--\r\n'
    assert "no file part" in one_line_error(post(fields_only, "multipart/form-data; boundary=b"), 400)
    assert "multipart body" in one_line_error(post(b"--b\r\ngarbage", "multipart/form-data; boundary=b"), 400)
    assert "not an image" in one_line_error(
        client.post("/v1/pose/crops", files={"c": ("c.txt", b"hello", "text/plain")}), 415)
    assert client.get("/v1/pose").status_code == 405
    assert len(post(jpeg).json()["faces"]) == 1


def test_a_failure_inside_is_a_one_line_500_and_the_server_goes_on(client, monkeypatch):
    from fsanet.serving import app as serving

    def broken(self, data, name):
        raise RuntimeError("boom")
    monkeypatch.setattr(serving.PoseService, "photo", broken)
    response = client.post("/v1/pose", content=PORTRAIT.read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert one_line_error(response, 500) == "internal error: RuntimeError: boom"
    monkeypatch.undo()
    assert client.post("/v1/pose", content=PORTRAIT.read_bytes(), headers={"Content-Type": "image/jpeg"}).status_code == 200


def test_a_full_queue_answers_503_with_retry_after(estimator):
    with TestClient(create_app(ServeOptions(max_queue=0), estimator)) as c:
        response = ready(c).post("/v1/pose", content=PORTRAIT.read_bytes(), headers={"Content-Type": "image/jpeg"})
        assert "busy" in one_line_error(response, 503) and response.headers["Retry-After"] == "1"


def test_flip_average_serves_the_mean_of_each_crop_and_its_mirror(shared):
    """``--flip-average`` reaches the service's model: a crop and its mirror image get mirrored poses."""
    crop = obama_frames(1)[0][100:300, 200:400]
    with TestClient(create_app(ServeOptions(model="capsule", flip_average=True))) as c:
        ready(c)
        rows = [c.post("/v1/pose/crops", content=cv2.imencode(".png", image)[1].tobytes(),
                       headers={"Content-Type": "image/png"}).json()["crops"][0] for image in (crop, crop[:, ::-1])]
    assert (rows[1]["yaw"], rows[1]["pitch"], rows[1]["roll"]) == pytest.approx(
        (-rows[0]["yaw"], rows[0]["pitch"], -rows[0]["roll"]), abs=1e-3)


def test_readyz_is_503_until_the_model_has_run_and_names_a_model_that_fails(shared):
    with TestClient(create_app(ServeOptions(model="no-such-model"))) as c:
        for _ in range(100):
            response = c.get("/readyz")
            if "no-such-model" in response.text:
                break
            assert response.status_code == 503
            time.sleep(0.05)
        assert "no-such-model" in one_line_error(response, 503)
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/pose", content=b"x", headers={"Content-Type": "image/jpeg"}).status_code == 503
        text = c.get("/metrics").text  # a probe's 503 is an answer, not an error; the refused request is one
        assert 'fsanet_requests_total{endpoint="/readyz",status="503"}' in text
        errors = [line for line in text.splitlines() if line.startswith("fsanet_errors_total{")]
        assert errors == ['fsanet_errors_total{endpoint="/v1/pose"} 1']


def test_a_token_guards_every_endpoint_but_the_health_checks(estimator):
    with TestClient(create_app(ServeOptions(token=TOKEN), estimator)) as c:
        ready(c)
        for path in ("/", "/metrics", "/static/page.js"):
            assert "API token" in one_line_error(c.get(path), 401)
        assert "API token" in one_line_error(c.post("/v1/pose", content=PORTRAIT.read_bytes(),
                                                    headers={"Content-Type": "image/jpeg"}), 401)
        assert one_line_error(c.post("/v1/pose/crops", headers={"Authorization": "Bearer wrong"}), 401)
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("/v1/stream") as ws:
                ws.receive_text()
        assert c.get("/healthz").status_code == 200
        good = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/jpeg"}
        assert len(c.post("/v1/pose", content=PORTRAIT.read_bytes(), headers=good).json()["faces"]) == 1
        assert c.get(f"/?token={TOKEN}").status_code == 200
        with c.websocket_connect(f"/v1/stream?token={TOKEN}") as ws:
            ws.send_bytes(cv2.imencode(".jpg", obama_frames(1)[0])[1].tobytes())
            assert len(json.loads(ws.receive_text())["faces"]) == 1


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_header_size_reads_the_dimensions_without_decoding(suffix):
    image = np.zeros((37, 91, 3), np.uint8)
    data = cv2.imencode(suffix, image)[1].tobytes()
    assert header_size(data) == (91, 37)
    assert header_size(data[:10]) is None


class CountingPredictor:
    def __init__(self):
        self.batches = []

    def predict_members(self, crops):
        self.batches.append(len(crops))
        angles = np.array([[float(c), 0, 0] for c in crops], np.float32).reshape(-1, 3)
        return angles, None


@pytest.mark.parametrize("window_s", [0.0, 0.3])
def test_the_batcher_gathers_concurrent_callers_and_hands_each_its_own_rows(window_s):
    predictor = CountingPredictor()
    batcher = MicroBatcher(predictor, window_s=window_s)
    results = {}

    def call(i):
        results[i] = batcher.predict_members([i, i + 100])[0][:, 0].tolist()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert results == {i: [i, i + 100] for i in range(6)}
    assert sum(predictor.batches) == 12
    assert (len(predictor.batches) == 6) == (window_s == 0)


def test_serve_refuses_a_public_address_without_a_token_and_a_short_token(tmp_path, capsys):
    assert run_command("serve", ["--host", "0.0.0.0"]) == 2
    assert "--host 0.0.0.0: binding beyond this machine requires --token-file" in capsys.readouterr().err
    (tmp_path / "token").write_text("short\n")
    assert run_command("serve", ["--host", "0.0.0.0", "--token-file", str(tmp_path / "token")]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert run_command("serve", ["--token-file", str(tmp_path / "missing")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_serve_names_a_port_it_cannot_listen_on_before_loading_the_model(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_command("serve", ["--port", str(port)]) == 2
    assert f"--host 127.0.0.1 --port {port}: cannot listen there" in capsys.readouterr().err
