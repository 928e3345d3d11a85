"""What loads when: a command's contract errors come before TensorFlow (each in well under a second:
benchmarks/startup.py measures them), commands marked [no TensorFlow] never import it, and ``import
fsanet`` registers the Keras classes and keeps TensorFlow's start-up lines off stderr, lazily."""

import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, SHARED, clean_env

from fsanet.cli import COMMANDS, _overview

PORTRAIT = SHARED / "data" / "images" / "portrait_750x375.jpg"
VIDEO = SHARED / "data" / "video" / "obama.mp4"


def run_fsanet(*argv, cwd=ROOT):
    """(status, stderr lines without the import-time report, imported module names, seconds)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fsanet", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, env=clean_env())
    seconds = time.perf_counter() - start
    lines = done.stderr.splitlines()
    imported = {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}
    return done.returncode, [line for line in lines if not line.startswith("import time:")], imported, seconds


CONTRACT_ERRORS = [  # (arguments, the start of the one line)
    (["nosuch.jpg"], "error: nosuch.jpg: file not found"),
    ([VIDEO, "--output", "OUT/x.gif"], "error: --output OUT/x.gif: unknown extension '.gif'"),
    ([PORTRAIT, "--data", "OUT/x.txt"], "error: argument --data: invalid data file name"),
    ([PORTRAIT, "--data", "OUT"], "error: argument --data: invalid data file name"),
    (["test"], "error: give --preset, or --models with --test"),
    (["test", "--models", "fusion", "--test", "nosuch.npz"], "error: nosuch.npz: dataset file not found"),
    (["plot", "nosuch.csv"], "error: nosuch.csv: cannot read the data file"),
    (["train", "nosuch.toml"], "error: "),
    (["train", ROOT / "configs" / "protocol1" / "capsule.toml", "--data-dir", "OUT", "--output-dir", "OUT/runs"],
     "error: OUT/AFW.npz: dataset file not found"),
    (["export", "fusion", "--format", "onnx", "--output", "OUT/x.tflite"], "error: --output OUT/x.tflite: onnx files"),
    (["heatmaps", "--image", "nosuch.jpg", "--output", "OUT/x.png"], "error: nosuch.jpg: file not found"),
    ([PORTRAIT, "--model", "OUT/nosuch.keras", "--no-video"], "error: OUT/nosuch.keras: model file not found"),
    ([PORTRAIT, "--model", "fusion:capsule,capsul", "--no-video"], "error: capsul: not a model"),
    (["test", "--models", "OUT/nosuch.onnx", "--test", "nosuch.npz"], "error: OUT/nosuch.onnx: exported model not found"),
    (["export", "OUT/a.tflite", "--format", "onnx", "--output", "OUT/x.onnx"], "error: OUT/a.tflite: exported model not"),
    (["heatmaps", "--models", "capsule", "nosuch.h5", "--output", "OUT/x.png"], "error: nosuch.h5: weight file not found"),
]


@pytest.mark.large
@pytest.mark.parametrize("argv,line", CONTRACT_ERRORS, ids=[" ".join(map(str, a[0]))[-40:] for a in CONTRACT_ERRORS])
def test_contract_errors_come_before_tensorflow(tmp_path, argv, line):
    argv = [str(a).replace("OUT", str(tmp_path)) for a in argv]
    status, stderr, imported, seconds = run_fsanet(*argv)
    assert status == 2
    assert len(stderr) == 1 and stderr[0].startswith(line.replace("OUT", str(tmp_path))), stderr
    assert "tensorflow" not in imported and "keras" not in imported
    assert seconds < 3  # generous: each answers in well under a second (benchmarks/startup.py)


@pytest.mark.large
def test_an_unreadable_photo_is_named_before_tensorflow(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    status, stderr, imported, _ = run_fsanet(tmp_path / "broken.jpg", "--output", tmp_path)
    assert status == 2 and len(stderr) == 1
    assert stderr[0].startswith(f"error: {tmp_path / 'broken.jpg'}: not a readable image"), stderr
    assert "tensorflow" not in imported and not list(tmp_path.glob("*_pose*"))


@pytest.mark.large
def test_plot_never_imports_tensorflow(tmp_path):
    data = tmp_path / "clip.csv"
    data.write_text("frame,time,source,track,x,y,w,h,detected,confidence,yaw,pitch,roll\n"
                    "0,0.0,clip,0,1,2,30,30,1,0.9,10,-5,2\n1,0.04,clip,0,1,2,30,30,0,,11,-4,2\n")
    status, stderr, imported, _ = run_fsanet("plot", data)
    assert (status, stderr) == (0, []) and (tmp_path / "clip.png").is_file()
    assert "tensorflow" not in imported and "matplotlib" in imported
    data.rename(tmp_path / "cut.csv.partial")  # what a run cut short leaves: plotted to cut.png
    assert run_fsanet("plot", tmp_path / "cut.csv.partial")[:2] == (0, []) and (tmp_path / "cut.png").is_file()


@pytest.mark.large
def test_make_synthetic_never_imports_tensorflow(tmp_path):
    status, stderr, imported, _ = run_fsanet("make-synthetic", "--output", tmp_path / "s.npz", "--count", "2")
    assert (status, stderr) == (0, []) and "tensorflow" not in imported


def test_the_overview_names_the_commands_without_tensorflow():
    marked = {line.split()[0] for line in _overview("fsanet").splitlines()
              if line.startswith("  ") and line.endswith("[no TensorFlow]")}
    assert marked == {"plot", "make-synthetic", "prepare-type1"} and marked <= set(COMMANDS)


def fresh(code, **kwargs):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=clean_env(), **kwargs)


@pytest.mark.large
def test_load_model_with_safe_mode_right_after_import_fsanet(tmp_path):
    from fsanet.model.models import build_model
    path = tmp_path / "capsule.keras"
    build_model("var_capsule").save(path)
    done = fresh(f"import sys, fsanet; assert 'keras' not in sys.modules\n"
                 f"import keras\nm = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
                 f"print(type(m).__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FSANet"
    done = fresh(f"import keras, fsanet\nprint(type(keras.saving.load_model({str(path)!r})).__name__)")
    assert done.stdout.strip() == "FSANet", done.stderr  # Keras imported first: registered on import fsanet


@pytest.mark.large
def test_estimate_in_a_fresh_interpreter_prints_nothing_on_stderr():
    import fsanet
    fsanet.estimate(PORTRAIT)  # the session's cache gets the backend's conversion (announced once, on stderr)
    done = fresh(f"import fsanet\nprint(len(fsanet.estimate({str(PORTRAIT)!r})))")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "1", "")


@pytest.mark.large
def test_a_resume_that_would_shorten_or_change_a_run_is_refused_and_a_finished_one_said_before_tensorflow(tmp_path):
    import json

    from fsanet.data.npz import write_pose_npz
    from fsanet.experiments.config import load_config
    config_path = ROOT / "configs" / "protocol1" / "capsule.toml"
    write_pose_npz(tmp_path / "a.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    data = ["--data-dir", tmp_path, "--train", "a.npz", "--validation", "a.npz", "--output-dir", tmp_path / "runs"]
    run = tmp_path / "runs" / "capsule"
    run.mkdir(parents=True)
    config = load_config(config_path, {"data.train": ["a.npz"], "data.validation": ["a.npz"]})
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    (run / "state.json").write_text(json.dumps({"epochs_done": 2, "history": [{}, {}], "train_samples": 2}))
    for extra, line in [(["--epochs", "1"], f"error: --epochs 1: {run} has trained 2 epochs already"),
                        (["--seed", "7"], f"error: {run}: the config differs from the interrupted run's")]:
        status, stderr, imported, _ = run_fsanet("train", config_path, *data, "--resume", *extra)
        assert status == 2 and len(stderr) == 1 and stderr[0].startswith(line), stderr
        assert "tensorflow" not in imported
    state = {"epochs_done": 2, "history": [{}, {}], "train_samples": 2, "finished": True, "best_val_mae": 4.5,
             "best_epoch": 1}
    (run / "state.json").write_text(json.dumps(state))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fsanet", "train", str(config_path),
                           *map(str, data), "--resume", "--epochs", "2"], cwd=ROOT, capture_output=True, text=True,
                          env=clean_env())
    assert (done.returncode, done.stdout) == (0, f"capsule: 2 epochs, best validation MAE 4.500 at epoch 1; "
                                                 f"final model {run / 'final.keras'} (finished before)\n")
    assert "tensorflow" not in done.stderr  # nothing to train: said without loading it


@pytest.mark.large
def test_the_api_names_a_cut_video_without_ffmpegs_own_lines(tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(VIDEO.read_bytes()[:100_000])  # no moov atom: FFmpeg logs "moov atom not found"
    import fsanet
    fsanet.estimate(PORTRAIT)  # the backend's conversion, announced once on stderr, done beforehand
    done = fresh(f"import fsanet\ntry:\n    fsanet.analyze({str(cut)!r})\n"
                 f"except fsanet.FSANetError as e:\n    print(e)")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, f"{cut}: not a readable video or image", "")


@pytest.mark.large
def test_import_fsanet_keeps_tensorflows_start_up_lines_off_stderr():
    loud = fresh("import tensorflow as tf\ntf.config.list_physical_devices()")
    assert loud.returncode == 0 and loud.stderr  # what TensorFlow alone prints here (oneDNN, CUDA)
    done = fresh("import fsanet\nimport tensorflow as tf\ntf.config.list_physical_devices()")
    assert (done.returncode, done.stderr) == (0, "")
    done = fresh("import fsanet\nfsanet.quiet()\nimport tensorflow as tf\nprint(tf.get_logger().level)")
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "40", "")  # logging.ERROR


@pytest.mark.large
def test_train_names_a_missing_init_model_before_tensorflow(tmp_path):
    from fsanet.data.npz import write_pose_npz
    write_pose_npz(tmp_path / "a.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    status, stderr, imported, _ = run_fsanet("train", ROOT / "configs" / "protocol1" / "capsule.toml", "--init",
                                             tmp_path / "nosuch.keras", "--data-dir", tmp_path, "--train", "a.npz",
                                             "--validation", "a.npz", "--output-dir", tmp_path / "runs")
    assert (status, stderr) == (2, [f"error: {tmp_path / 'nosuch.keras'}: model file not found"])
    assert "tensorflow" not in imported and not (tmp_path / "runs").exists()
