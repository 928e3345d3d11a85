"""``fsanet serve`` in a real browser: Debian's headless chromium, driven by Playwright (no browser
download), its fake webcam fed a Y4M clip of obama.mp4: the page shows one tracked face whose angles
agree with the command's data for the same frames; a dropped group photo shows the command's faces.
Also the served process itself: SIGINT / SIGTERM exit 130 / 143, and after a SIGKILL under load a
restart serves again. Screenshots are kept under each test's tmp_path."""

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import cv2
import pytest
from conftest import ROOT, SHARED
from test_api import command_rows

pytestmark = pytest.mark.large

VIDEO = SHARED / "data" / "video" / "obama.mp4"
GROUP = SHARED / "data" / "images" / "group_1920x1080.jpg"
CLIP_FRAMES = 25
TOLERANCE_DEGREES = 3.0


def write_y4m(path, frames, fps=25):
    """A YUV4MPEG2 file (4:2:0, what chromium's fake capture reads) of BGR frames of even size."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port, *flags, background=False):
    """``background``: SIGINT ignored from the start, as a non-interactive shell starts a ``&`` job."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    return subprocess.Popen([sys.executable, "-m", "fsanet", "serve", "--port", str(port), *flags], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)


def wait_ready(url, process, seconds=600):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise AssertionError("server not ready in time")


def post_photo(url, data, timeout=60):
    request = urllib.request.Request(url + "/v1/pose", data=data, headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # the server is gone
        return None


@pytest.fixture(scope="module")
def server(shared):
    port = free_port()
    process = start_server(port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from itertools import islice

    from fsanet.video.media import Source
    frames = [frame for _, frame in islice(Source(str(VIDEO)), CLIP_FRAMES)]  # the frames the command reads
    path = tmp_path_factory.mktemp("camera") / "obama.y4m"
    write_y4m(path, frames)
    return path


@pytest.fixture(scope="module")
def browser(clip):
    from playwright.sync_api import sync_playwright
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}"])
        yield browser
        browser.close()


def table_rows(page):
    """The faces table as the page shows it: [(track, yaw, pitch, roll)]."""
    return page.evaluate("""() => [...document.querySelectorAll('#faces tr')].map(tr =>
        [...tr.querySelectorAll('td')].slice(0, 4).map(td => td.textContent))""")


def test_the_live_page_tracks_one_face_whose_angles_match_the_commands_data(server, browser, clip, tmp_path):
    rows = [r for r in command_rows(tmp_path, VIDEO, "--every", "1") if r["frame"] < CLIP_FRAMES]
    assert len(rows) == CLIP_FRAMES
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_function("window.fsanet.replies >= 5", timeout=120_000)
    readings = []
    for _ in range(10):
        seen = window_replies = page.evaluate("window.fsanet.replies")
        page.wait_for_function(f"window.fsanet.replies > {window_replies}", timeout=60_000)
        readings.append(table_rows(page))
        assert seen >= 5
    page.screenshot(path=str(tmp_path / "live.png"))
    assert (tmp_path / "live.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'live.png'}")
    assert page.evaluate("window.fsanet.errors") == []
    assert all(len(shown) == 1 for shown in readings), readings
    assert {shown[0][0] for shown in readings} == {"0"}  # one face, one track throughout
    for shown in readings:
        yaw, pitch, roll = (float(v) for v in shown[0][1:])
        nearest = min(max(abs(yaw - r["yaw"]), abs(pitch - r["pitch"]), abs(roll - r["roll"])) for r in rows)
        assert nearest < TOLERANCE_DEGREES, (shown, nearest)
    assert page.evaluate("document.getElementById('fps').textContent") != "-"
    assert float(page.evaluate("document.getElementById('latency').textContent")) > 0
    page.close()


def test_a_photo_dropped_on_the_page_shows_the_commands_faces(server, browser, tmp_path):
    rows = command_rows(tmp_path, GROUP)
    page = browser.new_page()
    page.goto(server + "/")
    page.evaluate("""([data, name]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
        document.getElementById('stage').dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [base64.b64encode(GROUP.read_bytes()).decode(), GROUP.name])
    page.wait_for_function("window.fsanet.photo !== null", timeout=120_000)
    shown = table_rows(page)
    page.screenshot(path=str(tmp_path / "group.png"))
    print(f"screenshot: {tmp_path / 'group.png'}")
    assert len(shown) == len(rows) == 7
    for (track, yaw, pitch, roll), row in zip(shown, rows):
        assert track == "-"
        assert (float(yaw), float(pitch), float(roll)) == pytest.approx((row["yaw"], row["pitch"], row["roll"]), abs=0.006)
    page.close()


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_lets_the_request_in_flight_finish_and_exits_with_its_status(shared, signum, status):
    port = free_port()
    process = start_server(port)
    url = f"http://127.0.0.1:{port}"
    answered = []
    try:
        wait_ready(url, process)
        request = threading.Thread(target=lambda: answered.append(post_photo(url, GROUP.read_bytes())))
        request.start()
        while "fsanet_queue_depth 1" not in urllib.request.urlopen(url + "/metrics").read().decode():
            time.sleep(0.005)  # admitted: the request is in flight
    finally:
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    request.join()
    assert answered == [200]
    assert process.returncode == status, err
    assert err.strip().splitlines()[-1] == ("interrupted" if status == 130 else "terminated")


def test_sigint_stops_a_background_server_with_130_too(shared):
    """A ``fsanet serve ... &`` of a script starts with SIGINT ignored; uvicorn still stops on it,
    and the exit says so as in the foreground (it was 0, silent)."""
    port = free_port()
    process = start_server(port, background=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted"


def test_after_sigkill_under_load_a_restart_serves_again(shared):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(port)
    wait_ready(url, process)
    statuses, data = [], GROUP.read_bytes()

    def load():
        for _ in range(20):
            statuses.append(post_photo(url, data, timeout=10) if process.poll() is None else None)
    clients = [threading.Thread(target=load) for _ in range(4)]
    for c in clients:
        c.start()
    while len(statuses) < 3:
        time.sleep(0.05)
    process.kill()
    process.wait(30)
    for c in clients:
        c.join()
    assert process.returncode == -signal.SIGKILL and 200 in statuses
    restarted = start_server(port)
    try:
        wait_ready(url, restarted)
        assert post_photo(url, data) == 200
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.communicate(timeout=60)
