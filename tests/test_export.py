"""Exports (fsanet.deploy.export) at parity, each run by its own runtime, and the PosePredictor backends
(fsanet.deploy.backends): conversion cache, check against Keras, default choice, exported files as models."""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from conftest import clean_env
from tensorflow.lite.tools import flatbuffer_utils

import fsanet
from fsanet import export  # the public export: a model or a model spec
from fsanet.cli import run_command
from fsanet.deploy import backends
from fsanet.deploy.backends import converted_runner, select_runner
from fsanet.deploy.export import FORMAT_SUFFIXES, read_metadata
from fsanet.deploy.predictor import PosePredictor
from fsanet.deploy.runners import ExportedModel, TFJSGraphRunner
from fsanet.errors import DatasetError, ExportError, ModelSpecError, OutputError
from fsanet.hub.model_spec import resolve_model, source_metadata
from fsanet.hub.pretrained import find_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE_DEGREES = 1e-3
MODELS = ["capsule", "var_capsule", "noS_capsule", "metric", "netvlad", "ssrnet_md", "fusion"]
FORMATS = ["onnx", "litert", "savedmodel", "tfjs"]


@pytest.fixture(scope="session")
def exported(pretrained, tmp_path_factory):
    """exported(name, format) -> the path of the released model's export, written once per session."""
    folder, files = tmp_path_factory.mktemp("exports"), {}

    def get(name, format):
        if (name, format) not in files:
            path = folder / f"{name}_{format}{FORMAT_SUFFIXES[format]}"
            files[(name, format)] = export(pretrained(name), path, format, source_metadata(name))
        return files[(name, format)]
    return get


def onnx_runtime(path):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(["pose"], {"image": x})[0]


def litert_runtime(path):
    interpreter = Interpreter(model_path=str(path))
    (image,), (pose,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(x):
        interpreter.resize_tensor_input(image["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(image["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(pose["index"])
    return run


def savedmodel_runtime(path):
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda x: serve(image=tf.constant(x))["pose"].numpy()


def tfjs_graph_runtime(path):
    """The tfjs folder's graph and weights run by TensorFlow (TF.js itself: tests/test_web_runtimes.py)."""
    return TFJSGraphRunner(path)


RUNTIMES = {"onnx": onnx_runtime, "litert": litert_runtime, "savedmodel": savedmodel_runtime,
            "tfjs": tfjs_graph_runtime}


def max_difference_by_batch(run, model, images, batch_size):
    expected = np.asarray(model(images))
    got = np.concatenate([run(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(expected).max() > 1.0  # not a comparison of two near-zero vectors
    return np.abs(got - expected).max()


@pytest.mark.large
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("format", FORMATS)
def test_export_matches_keras(format, name, exported, pretrained, aflw_samples):
    run = RUNTIMES[format](exported(name, format))
    random = np.random.default_rng(11).uniform(0, 255, (7, 64, 64, 3)).astype(np.float32)
    for images in (aflw_samples[0].astype(np.float32), random):
        for batch_size in (1, 7):
            difference = max_difference_by_batch(run, pretrained(name), images, batch_size)
            assert difference <= TOLERANCE_DEGREES, (images.shape, batch_size, difference)


def opencv_dnn_runtime(path):
    """The exported ONNX under OpenCV's DNN module (README, Deploying): cv2 is a dependency already."""
    import cv2
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(x):
        net.setInput(x, "image")
        return net.forward("pose")
    return run


@pytest.mark.large
@pytest.mark.parametrize("name", ["capsule", "fusion"])
def test_the_onnx_file_runs_at_parity_under_opencv_dnn(name, exported, pretrained, aflw_samples):
    run = opencv_dnn_runtime(exported(name, "onnx"))
    random = np.random.default_rng(11).uniform(0, 255, (7, 64, 64, 3)).astype(np.float32)
    for images in (aflw_samples[0].astype(np.float32), random):
        for batch_size in (1, 7):
            difference = max_difference_by_batch(run, pretrained(name), images, batch_size)
            assert difference <= TOLERANCE_DEGREES, (images.shape, batch_size, difference)


@pytest.mark.parametrize("format", FORMATS)
def test_export_carries_contract_and_metadata(format, exported):
    path = exported("fusion", format)
    metadata = read_metadata(path)
    assert metadata["variant"] == "fusion" and metadata["protocol"] == "300W_LP"
    assert metadata["weights_sha256"].split(",") == [find_checkpoint(m).sha256
                                                     for m in ("capsule", "var_capsule", "noS_capsule")]
    assert metadata["fsanet_version"] == fsanet.__version__
    assert "yaw, pitch, roll" in metadata["angle_convention"]
    if format == "onnx":
        graph = onnx.load(str(path)).graph
        assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["pose"]
        dims = graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == ["N", 64, 64, 3]
    elif format == "litert":
        interpreter = Interpreter(model_path=str(path))
        signatures = interpreter.get_signature_list()
        assert signatures == {"serving_default": {"inputs": ["image"], "outputs": ["pose"]}}
        assert list(interpreter.get_input_details()[0]["shape_signature"]) == [-1, 64, 64, 3]
    elif format == "tfjs":
        model = json.loads((path / "model.json").read_text())
        assert model["format"] == "graph-model"
        assert sorted(p.name for p in path.iterdir()) == ["model.json", "weights.bin"]
        shape = model["signature"]["inputs"]["image"]["tensorShape"]["dim"]
        assert [int(d["size"]) for d in shape] == [-1, 64, 64, 3]
        assert model["signature"]["outputs"]["pose"]["name"] == "pose:0"
        nodes = model["modelTopology"]["node"]
        assert not [n["op"] for n in nodes if n["op"].startswith("_Fused")]  # TF.js's cpu and wasm lack fused tanh
        constants = [n for n in nodes if n["op"] == "Const"]
        assert [n["name"] for n in constants] == [w["name"] for w in model["weightsManifest"][0]["weights"]]
        assert not [n for n in constants if {"tensorContent", "floatVal", "intVal"} & set(n["attr"]["value"]["tensor"])]
    else:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        assert list(signature.structured_input_signature[1]) == ["image"]
        assert signature.structured_input_signature[1]["image"].shape.as_list() == [None, 64, 64, 3]
        assert list(signature.structured_outputs) == ["pose"]


def test_litert_file_holds_its_weights(exported, pretrained):
    """The cause of the NaN of a plain conversion: weights left as never-written variables."""
    path = exported("fusion", "litert")
    assert flatbuffer_utils.count_resource_variables(flatbuffer_utils.read_model(str(path))) == 0
    assert path.stat().st_size > 4 * pretrained("fusion").count_params()


@pytest.mark.parametrize("format,first_line", [("onnx", "import numpy as np, onnxruntime as ort"),
                                               ("litert", "from ai_edge_litert.interpreter import Interpreter")])
def test_readme_snippets_need_only_their_runtime_and_numpy(format, first_line, exported, aflw_samples, pretrained,
                                                           tmp_path):
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n((?:import numpy as np\n)?" + re.escape(first_line) + r"\n.*?)```",
                        readme, re.S).group(1)
    assert "poses = " in snippet and len(snippet.strip().splitlines()) <= 10
    path = exported("fusion", format)
    (tmp_path / f"fusion{path.suffix}").write_bytes(path.read_bytes())
    np.save(tmp_path / "crops.npy", aflw_samples[0])
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "fsanet", "tf2onnx"):
                    raise ImportError(f"{name} is not installed here")
        sys.meta_path.insert(0, Blocker())
        """))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(blocker)}
    blocked = subprocess.run([sys.executable, "-c", "import tensorflow"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert blocked.returncode != 0 and "not installed here" in blocked.stderr
    result = subprocess.run([sys.executable, "-c", snippet + "np.save('poses.npy', poses)\n"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = np.asarray(pretrained("fusion")(aflw_samples[0].astype(np.float32)))
    assert np.abs(np.load(tmp_path / "poses.npy") - expected).max() <= TOLERANCE_DEGREES


@pytest.mark.large
def test_int8_litert_stays_close_on_real_faces(pretrained, aflw_samples, tmp_path):
    """Not parity: int8 (calibrated on synthetic heads) changes angles. Measured on the 16 AFLW2000
    crops: mean |change| 0.55 degrees, max 2.72, MAE 3.93 against the float fusion's 3.98 (9.6 mean
    change before ADD and MUL were kept in float)."""
    crops, poses = aflw_samples[0].astype(np.float32), aflw_samples[1]
    model = pretrained("fusion")
    path = export(model, tmp_path / "fusion_int8.tflite", "litert", int8="synthetic")
    assert path.stat().st_size < 0.5 * 4 * model.count_params()
    float_angles, int8_angles = np.asarray(model(crops)), litert_runtime(path)(crops)
    change = np.abs(int8_angles - float_angles)
    assert 0 < change.mean() < 2.0 and change.max() < 10.0
    assert np.abs(int8_angles - poses).mean() < np.abs(float_angles - poses).mean() + 1.0
    assert read_metadata(path)["quantization"].startswith("int8")


@pytest.mark.large
def test_export_from_python_is_quiet(tmp_path):
    """The converters' own chatter (TensorFlow's "Starting new session" INFO lines, tf2onnx's
    FutureWarning) stays off stderr; TensorFlow's own start-up lines come before and are not ours."""
    code = ("import sys, tensorflow, fsanet; model = fsanet.load_pretrained('capsule'); "
            "print('MARK', file=sys.stderr, flush=True); "
            "[fsanet.export(model, f'c{s}', f) for f, s in (('onnx', '.onnx'), ('litert', '.tflite'), "
            "('savedmodel', ''), ('tfjs', '_tfjs'))]")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env=clean_env(), timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr.split("MARK", 1)[1].strip() == ""


def test_export_is_the_package_function():
    assert fsanet.export is export


def test_export_of_a_spec_names_its_source(tmp_path):
    """From Python, a model spec exports like the command: the metadata names the released weights."""
    metadata = read_metadata(export("capsule", tmp_path / "c.onnx", "onnx", protocol="BIWI"))
    assert {k: metadata[k] for k in ("variant", "protocol", "weights_sha256")} == \
        {k: source_metadata("capsule", "BIWI")[k] for k in ("variant", "protocol", "weights_sha256")}


def test_failed_export_leaves_nothing(pretrained, tmp_path, monkeypatch):
    def fail(network, path, metadata):
        path.write_bytes(b"half a file")
        raise RuntimeError("converter crashed")
    monkeypatch.setattr("fsanet.deploy.export._write_onnx", fail)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export(pretrained("capsule"), tmp_path / "capsule.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_bad_requests(pretrained, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export(pretrained("capsule"), tmp_path / "c.tflite", "tflite")
    with pytest.raises(ExportError, match="litert format only"):
        export(pretrained("capsule"), tmp_path / "c.onnx", "onnx", int8="synthetic")
    with pytest.raises(DatasetError, match="found no .jpg"):
        export(pretrained("capsule"), tmp_path / "c.tflite", "litert", int8=tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="file/c.onnx: cannot be written"):
        export(pretrained("capsule"), tmp_path / "file" / "c.onnx", "onnx")


def test_export_never_replaces_a_folder_of_other_files(pretrained, tmp_path, capsys):
    """A SavedModel or TF.js export replaces its whole folder: one holding anything else is refused before
    any work, from Python and from the command; a SavedModel / TF.js folder is replaced."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "important.txt").write_text("keep me")
    with pytest.raises(ExportError, match="holds other files"):
        export(pretrained("capsule"), folder, "savedmodel")
    with pytest.raises(ExportError, match="is a folder"):
        export(pretrained("capsule"), folder, "onnx")
    assert run_command("export", ["capsule", "--format", "savedmodel", "--output", str(folder)]) == 2
    assert "--output" in capsys.readouterr().err
    assert (folder / "important.txt").read_text() == "keep me"
    saved = export(pretrained("capsule"), tmp_path / "saved", "savedmodel")
    assert export(pretrained("var_capsule"), saved, "savedmodel") == saved  # a SavedModel: replaced
    with pytest.raises(ExportError, match="holds other files, not a TF.js model"):
        export(pretrained("capsule"), folder, "tfjs")
    tfjs = export(pretrained("capsule"), tmp_path / "tfjs", "tfjs")
    assert export(pretrained("var_capsule"), tfjs, "tfjs") == tfjs and read_metadata(tfjs)["variant"] == "var_capsule"


@pytest.mark.large
def test_export_command(tmp_path, capsys):
    output = tmp_path / "capsule_biwi.onnx"
    assert run_command("export", ["capsule", "--protocol", "BIWI", "--format", "onnx",
                                  "--output", str(output)]) == 0
    assert re.search(r"max \|difference\| to the Keras model \S+ degrees", capsys.readouterr().out)
    metadata = read_metadata(output)
    assert metadata["protocol"] == "BIWI"
    assert metadata["weights_sha256"] == find_checkpoint("capsule", "BIWI").sha256
    assert run_command("export", ["capsule", "--format", "onnx", "--output", str(tmp_path / "x.tflite")]) == 2
    assert run_command("export", ["capsule", "--format", "onnx", "--int8", "--output",
                                  str(tmp_path / "x.onnx")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == ["error: --output " + str(tmp_path / "x.tflite") + ": onnx files end in .onnx",
                      "error: int8 quantisation is available for the litert format only"]
    assert not (tmp_path / "x.onnx").exists()
    assert run_command("export", ["capsule", "--format", "tfjs", "--output", str(tmp_path / "capsule_tfjs")]) == 0
    assert re.search(r"\(tfjs\); max \|difference\| to the Keras model \S+ degrees", capsys.readouterr().out)
    assert run_command("export", ["capsule", "--format", "tfjs", "--output", str(tmp_path / "x.onnx")]) == 2
    assert capsys.readouterr().err.strip().endswith("x.onnx: a tfjs export is a folder; drop the suffix")


@pytest.mark.parametrize("backend", ["keras", "onnxruntime", "litert"])
def test_predictor_backends_agree(backend, pretrained, aflw_samples, cache_dir, capsys):
    crops = aflw_samples[0]
    predictor = PosePredictor(pretrained("capsule"), backend=backend)
    assert predictor.backend == backend
    if backend != "keras":  # converted once into the cache, keyed by the model's digest
        cached = backends.export_cache_path(pretrained("capsule"), backend)
        assert cached.is_file() and cached.is_relative_to(cache_dir)
        capsys.readouterr()
        PosePredictor(pretrained("capsule"), backend=backend)
        assert "converting" not in capsys.readouterr().err  # the second one reads the cache
    expected = np.asarray(pretrained("capsule")(crops.astype(np.float32)))
    assert np.abs(predictor(crops) - expected).max() <= TOLERANCE_DEGREES
    assert np.abs(np.stack([predictor(c) for c in crops]) - expected).max() <= TOLERANCE_DEGREES
    large = np.concatenate([crops] * 2)  # past SMALL_BATCH: the multi-threaded instance
    assert np.abs(predictor(large) - np.concatenate([expected] * 2)).max() <= TOLERANCE_DEGREES
    assert predictor.predict_prepared(np.empty((0, 64, 64, 3), np.float32)).shape == (0, 3)


@pytest.mark.large
def test_default_backend_is_the_first_that_matches(pretrained, exported, tmp_path, capsys, monkeypatch):
    model = pretrained("capsule")
    folder = backends.export_cache_path(model, "litert", tmp_path).parent
    folder.mkdir(parents=True)
    for format in ("litert", "onnx"):
        (folder / f"capsule{FORMAT_SUFFIXES[format]}").write_bytes(exported("capsule", format).read_bytes())
    assert select_runner(model, cache_dir=tmp_path)[0] == backends.FASTEST_FIRST[0] == "litert"
    assert "converting" not in capsys.readouterr().err  # cached files are used, after the check
    # a cached file that no longer computes the model, or cannot be read, is converted again
    cached = folder / "capsule.tflite"
    for damage in (exported("var_capsule", "litert").read_bytes(), b"not a flatbuffer"):
        cached.write_bytes(damage)
        assert select_runner(model, cache_dir=tmp_path)[0] == "litert"
        err = capsys.readouterr().err
        assert "converting again" in err and "converting capsule for litert" in err
        assert cached.read_bytes() != damage
    # a conversion that does not compute the model is removed, and the next backend is taken
    wrong = exported("var_capsule", "litert")
    monkeypatch.setattr(backends, "export", lambda model, path, format: shutil.copy(wrong, path))
    cached.unlink()
    with pytest.warns(UserWarning, match="litert backend unavailable.*differs from the Keras model"):
        assert select_runner(model, cache_dir=tmp_path)[0] == "onnxruntime"
    assert not cached.exists()


@pytest.mark.large
def test_unwritable_cache_converts_for_the_run(pretrained, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    runner = converted_runner(pretrained("capsule"), "litert", cache_dir=tmp_path / "a_file" / "cache")
    assert "the cache cannot be written" in capsys.readouterr().err
    crops = backends.check_inputs()
    assert np.abs(runner(crops) - np.asarray(pretrained("capsule")(crops))).max() <= TOLERANCE_DEGREES


def test_explicit_backend_failure_is_an_error(pretrained, tmp_path):
    with pytest.raises(ExportError, match="unknown backend 'tensorrt'"):
        converted_runner(pretrained("capsule"), "tensorrt", tmp_path)


def test_exported_files_as_models(exported, pretrained, aflw_samples):
    crops = aflw_samples[0]
    expected = np.asarray(pretrained("fusion")(crops.astype(np.float32)))
    for format, backend in (("onnx", "onnxruntime"), ("litert", "litert"), ("savedmodel", "tensorflow")):
        path = str(exported("fusion", format))
        model = resolve_model(path, exported=True)
        assert isinstance(model, ExportedModel) and model.name == "fusion"
        predictor = PosePredictor(model)
        assert predictor.backend == backend and not predictor.has_members  # one network: no spread
        assert np.abs(predictor(crops) - expected).max() <= TOLERANCE_DEGREES
        with pytest.raises(ModelSpecError, match="runs inference only"):
            resolve_model(path)
    with pytest.raises(ExportError, match="runs under onnxruntime, not litert"):
        PosePredictor(resolve_model(str(exported("fusion", "onnx")), exported=True), backend="litert")
    with pytest.raises(ModelSpecError, match="a TF.js model, which runs under TensorFlow.js"):
        resolve_model(str(exported("fusion", "tfjs")), exported=True)
    with pytest.raises(ExportError, match="exported model not found"):
        resolve_model("missing.onnx", exported=True)


def test_test_command_scores_an_exported_file_like_its_model(exported, aflw_samples, tmp_path):
    from fsanet.data.npz import write_pose_npz
    crops, poses = aflw_samples
    write_pose_npz(tmp_path / "aflw16.npz", crops, poses)
    onnx_file = str(exported("fusion", "onnx"))
    assert run_command("test", ["--models", "fusion", onnx_file, "--backend", "keras", "--test",
                                str(tmp_path / "aflw16.npz"), "--json", str(tmp_path / "out.json")]) == 0
    models = json.loads((tmp_path / "out.json").read_text())["models"]
    keras_run, onnx_run = models["fusion"]["aflw16"], models[onnx_file]["aflw16"]
    assert np.abs(np.subtract(keras_run["predictions"], onnx_run["predictions"])).max() <= TOLERANCE_DEGREES
    assert models[onnx_file]["size_mb"] == exported("fusion", "onnx").stat().st_size / 1e6
    assert (models["fusion"]["backend"], models[onnx_file]["backend"]) == ("keras", "onnxruntime")
