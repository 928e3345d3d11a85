"""The exported files in a browser: Debian's headless chromium driven by Playwright, the runtimes from npm
(exact versions in tests/web/package-lock.json, installed by `npm ci` there, which .ci/run does), pages
and files served from a loopback-only HTTP server. The ONNX fusion under onnxruntime-web (wasm) and the
tfjs fusion under TensorFlow.js (cpu, wasm) give the Keras model's angles on the 16 AFLW2000 crops and
on random images, batch 1 and 16 (README, Deploying)."""

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
TOLERANCE_DEGREES = 1e-3


class Files(http.server.SimpleHTTPRequestHandler):
    """The pages of tests/web at /, its node_modules under /npm/, the test's files (exports, crops)
    under /files/."""

    def __init__(self, *args, files, **kwargs):
        self.files = files
        super().__init__(*args, directory=str(WEB), **kwargs)

    def translate_path(self, path):
        path = path.split("?")[0]
        if path.startswith("/npm/"):
            return str(WEB / "node_modules" / path.removeprefix("/npm/"))
        if path.startswith("/files/"):
            return str(self.files / path.removeprefix("/files/"))
        return super().translate_path(path)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(pretrained, tmp_path_factory):
    """The server's URL, the fusion exported under /files/ as fusion.onnx and fusion_tfjs/, and the
    crops (AFLW2000, then random) under /files/crops.f32 with the Keras model's angles for them."""
    if not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        pytest.fail(f"the npm packages are not installed: run `npm ci` in {WEB} (.ci/run does)")
    files = tmp_path_factory.mktemp("web")
    model = pretrained("fusion")
    export(model, files / "fusion.onnx", "onnx", source_metadata("fusion"))
    export(model, files / "fusion_tfjs", "tfjs", source_metadata("fusion"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Files, files=files))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def crops(site, pretrained, aflw_samples):
    """(images, the Keras fusion's angles), the images also served as /files/crops.f32."""
    random = np.random.default_rng(11).uniform(0, 255, (16, 64, 64, 3)).astype(np.float32)
    images = np.concatenate([aflw_samples[0].astype(np.float32), random])
    (site[1] / "crops.f32").write_bytes(images.tobytes())
    return images, np.asarray(pretrained("fusion")(images))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def poses_in_page(browser, url, *args):
    """window.poses(*args) of the page at ``url`` as (N, 3); the page must raise no error."""
    page, errors = browser.new_page(), []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(url)
    poses = page.evaluate("(args) => window.poses(...args)", list(args))
    page.close()
    assert errors == []
    return np.array(poses, np.float32).reshape(-1, 3)


def assert_parity(poses, crops, what):
    expected = crops[1]
    assert poses.shape == expected.shape and np.abs(expected).max() > 1.0
    difference = np.abs(poses - expected)
    print(f"{what} against Keras: max |difference| {difference[:16].max():.2g} (AFLW2000), "
          f"{difference[16:].max():.2g} (random) degrees")
    assert difference.max() <= TOLERANCE_DEGREES, difference.max()


@pytest.mark.parametrize("batch_size", [1, 16])
def test_onnxruntime_web_runs_the_onnx_fusion_at_parity(batch_size, site, crops, browser):
    url = site[0]
    poses = poses_in_page(browser, url + "/onnxruntime.html", "/files/fusion.onnx", "/files/crops.f32", batch_size)
    assert_parity(poses, crops, f"onnxruntime-web (wasm), batch {batch_size}")


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
@pytest.mark.parametrize("batch_size", [1, 16])
def test_tensorflow_js_runs_the_tfjs_fusion_at_parity(backend, batch_size, site, crops, browser):
    url = site[0]
    poses = poses_in_page(browser, url + "/tfjs.html", "/files/fusion_tfjs/model.json", "/files/crops.f32",
                          batch_size, backend)
    assert_parity(poses, crops, f"TensorFlow.js ({backend}), batch {batch_size}")
