"""The exported ONNX fusion in a browser: onnxruntime-web (pinned in tests/web/package-lock.json, installed
by `npm ci` there, which .ci/run does) on its wasm backend in Debian's headless chromium driven by
Playwright, the page and ort's files served from a loopback-only HTTP server. The angles of the 16 AFLW2000
crops and of random images, batch 1 and 16, equal the Keras model's (README, Deploying)."""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest
from conftest import ROOT

from fsanet import export
from fsanet.hub.model_spec import source_metadata

pytestmark = pytest.mark.large

WEB = ROOT / "tests" / "web"
ORT = WEB / "node_modules" / "onnxruntime-web" / "dist"
TOLERANCE_DEGREES = 1e-3


class Files(http.server.SimpleHTTPRequestHandler):
    """The page at /, ort's .js / .wasm under /ort/, the test's files (model, crops) elsewhere."""

    def __init__(self, *args, files, **kwargs):
        self.files = files
        super().__init__(*args, directory=str(files), **kwargs)

    def translate_path(self, path):
        if path == "/":
            return str(WEB / "index.html")
        if path.startswith("/ort/"):
            return str(ORT / path.removeprefix("/ort/").split("?")[0])
        return super().translate_path(path)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(pretrained, tmp_path_factory):
    """The served folder, holding the fusion's ONNX export, and its URL."""
    if not (ORT / "ort.wasm.min.js").is_file():
        pytest.fail(f"onnxruntime-web is not installed: run `npm ci` in {WEB} (.ci/run does)")
    files = tmp_path_factory.mktemp("web")
    export(pretrained("fusion"), files / "fusion.onnx", "onnx", source_metadata("fusion"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Files, files=files))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield files, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        yield page
        browser.close()
        assert errors == []


@pytest.mark.parametrize("batch_size", [1, 16])
def test_onnxruntime_web_runs_the_fusion_at_parity_in_chromium(batch_size, site, page, pretrained, aflw_samples):
    files, url = site
    random = np.random.default_rng(11).uniform(0, 255, (16, 64, 64, 3)).astype(np.float32)
    images = np.concatenate([aflw_samples[0].astype(np.float32), random])
    (files / "crops.f32").write_bytes(images.tobytes())
    page.goto(url + "/")
    poses = np.array(page.evaluate("([m, c, b]) => window.runParity(m, c, b)", ["fusion.onnx", "crops.f32", batch_size]),
                     dtype=np.float32).reshape(-1, 3)
    expected = np.asarray(pretrained("fusion")(images))
    assert poses.shape == expected.shape and np.abs(expected).max() > 1.0
    difference = np.abs(poses - expected).max()
    print(f"onnxruntime-web (wasm) against Keras, batch {batch_size}: max |difference| "
          f"{np.abs(poses - expected)[:16].max():.2g} (AFLW2000), {np.abs(poses - expected)[16:].max():.2g} (random)")
    assert difference <= TOLERANCE_DEGREES, difference
