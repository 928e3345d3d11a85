"""Training and evaluation when things go wrong: divergence never saves a non-finite model, a
non-finite model is refused, damaged run files are named (a damaged last.keras falls back to
previous.keras), every config value is checked, and Ctrl-C leaves a resumable run."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import ROOT

import fsanet
from fsanet.cli import run_command
from fsanet.data.npz import write_pose_npz
from fsanet.data.synthetic import synthetic_dataset
from fsanet.errors import ConfigError, NonFiniteModelError
from fsanet.experiments.config import load_config
from fsanet.experiments.evaluation import evaluate
from fsanet.hub.model_spec import load_keras_model

CONFIG = ROOT / "configs" / "synthetic" / "capsule.toml"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    images, poses = synthetic_dataset(40, seed=3)
    write_pose_npz(folder / "train.npz", images[:32], poses[:32])
    write_pose_npz(folder / "val.npz", images[32:], poses[32:])
    return folder


def _train(data_dir, output, *extra):
    return run_command("train", [str(CONFIG), "--data-dir", str(data_dir), "--train", "train.npz", "--validation",
                                 "val.npz", "--batch-size", "8", "--output-dir", str(output), "--quiet", *extra])


def _error(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _finite(path):
    return all(np.isfinite(w).all() for w in load_keras_model(path).get_weights())


@pytest.mark.large
def test_divergence_stops_training_and_saves_no_non_finite_model(data_dir, tmp_path, capsys):
    """Finding 4: `--learning-rate nan` trained to exit 0 with all-NaN best.keras / final.keras. NaN
    is now refused as a flag; a finite but absurd rate diverges and is stopped."""
    assert _train(data_dir, tmp_path / "runs", "--learning-rate", "nan", "--epochs", "1") == 2
    assert "argument --learning-rate: invalid positive number value: 'nan'" in _error(capsys)
    assert _train(data_dir, tmp_path / "runs", "--learning-rate", "1e30", "--epochs", "2") == 2
    assert "learning_rate must be in (0, 10.0], got 1e+30" in _error(capsys)  # absurd: refused before training
    assert _train(data_dir, tmp_path / "runs", "--learning-rate", "10", "--epochs", "2") == 2
    line = _error(capsys)
    assert "capsule: training diverged in epoch 1: the loss became nan" in line and "no checkpoint yet" in line
    run = tmp_path / "runs" / "capsule"
    assert not list(run.glob("*.keras")) and not (run / "state.json").exists()


def test_a_non_finite_model_is_refused_for_training_and_evaluation(data_dir, tmp_path, capsys):
    """Finding 4: test.py scored an all-NaN model as a row of nan and exited 0."""
    model = fsanet.build_variant("capsule")
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(tmp_path / "nan.keras")
    assert _train(data_dir, tmp_path / "runs", "--init", str(tmp_path / "nan.keras"), "--epochs", "1") == 2
    assert "nan.keras: the initial model holds NaN or infinity" in _error(capsys)
    assert not (tmp_path / "runs" / "capsule").exists()
    images, poses = synthetic_dataset(4, seed=1)
    with pytest.raises(NonFiniteModelError, match=r"nan_model: \d+ weight tensors hold NaN or infinity"):
        evaluate({"nan_model": model}, {"heads": (images, poses)})
    write_pose_npz(tmp_path / "heads.npz", images, poses)
    assert run_command("test", ["--models", str(tmp_path / "nan.keras"), "--test", str(tmp_path / "heads.npz"),
                                "--json", str(tmp_path / "scores.json")]) == 2
    assert re.search(r"nan.keras: \d+ weight tensors hold NaN or infinity", _error(capsys))
    assert not (tmp_path / "scores.json").exists()


def test_evaluation_refuses_non_finite_angles(monkeypatch):
    """A model whose weights are finite but whose angles are not (an exported file, an overflow)."""
    from fsanet.deploy.predictor import PosePredictor
    monkeypatch.setattr(PosePredictor, "predict_prepared", lambda self, batch: np.full((len(batch), 3), np.inf))
    images, poses = synthetic_dataset(4, seed=1)
    with pytest.raises(NonFiniteModelError, match="overflow: gives NaN or infinite angles on heads; its weights"):
        evaluate({"overflow": fsanet.build_variant("capsule")}, {"heads": (images, poses)}, backend="keras")


@pytest.fixture(scope="module")
def two_epoch_run(data_dir, tmp_path_factory):
    """A finished 2-epoch run: config.json, state.json, last.keras (epoch 2), previous.keras (epoch 1)."""
    output = tmp_path_factory.mktemp("runs")
    assert _train(data_dir, output, "--epochs", "2") == 0
    return output / "capsule"


def _copy(run, tmp_path):
    copy = tmp_path / "runs" / "capsule"
    shutil.copytree(run, copy)
    return copy


def _snapshot(run):
    return {p.name: p.read_bytes() for p in run.iterdir()}


@pytest.mark.parametrize("damage,message", [
    (lambda run: (run / "state.json").write_text((run / "state.json").read_text()[:40]),
     re.escape("state.json: damaged, not valid JSON")),
    (lambda run: (run / "state.json").write_text('{"epochs_done": "two"}'),
     re.escape("state.json: damaged (missing or wrong ['epochs_done', 'history', 'train_samples'])")),
    (lambda run: (run / "config.json").unlink(), re.escape("config.json: missing (the run's config")),
    (lambda run: (run / "config.json").write_text("[1, 2]"), re.escape("config.json: damaged (not a config written")),
    (lambda run: [(run / name).write_bytes((run / name).read_bytes()[:500]) for name in ("last.keras", "previous.keras")],
     "no usable checkpoint to resume from: .*last.keras: not a readable .keras model.*previous.keras: not a readable"),
], ids=["cut state.json", "wrong state.json", "no config.json", "wrong config.json", "both checkpoints cut"])
@pytest.mark.large
def test_damaged_run_files_are_named_and_left_alone(two_epoch_run, tmp_path, capsys, damage, message, data_dir):
    """Finding 5: a cut state.json or a missing config.json gave a raw traceback, a truncated
    last.keras said "File not found"."""
    run = _copy(two_epoch_run, tmp_path)
    damage(run)
    before = _snapshot(run)
    assert _train(data_dir, tmp_path / "runs", "--epochs", "3", "--resume") == 2
    assert re.search(message, _error(capsys))
    assert _snapshot(run) == before


@pytest.mark.large
def test_truncated_last_checkpoint_falls_back_to_the_previous_epoch(two_epoch_run, tmp_path, capsys, data_dir):
    run = _copy(two_epoch_run, tmp_path)
    (run / "last.keras").write_bytes((run / "last.keras").read_bytes()[:1000])
    assert _train(data_dir, tmp_path / "runs", "--epochs", "3", "--resume") == 0
    err = capsys.readouterr().err
    assert "last.keras: not a readable .keras model" in err
    assert "resuming from" in err and "previous.keras (epoch 1) instead, epochs 2-2 will be trained again" in err
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["epochs_done"] == 3 and [h["epoch"] for h in state["history"]] == [1, 2, 3]
    assert all(_finite(run / name) for name in ("last.keras", "previous.keras", "best.keras", "final.keras"))


def test_checkpoint_epochs_are_read_from_the_optimizer(two_epoch_run):
    """The fallback knows which epoch a file holds: last.keras is 2 epochs of 4 steps, previous.keras 1."""
    steps = [int(keras.ops.convert_to_numpy(load_keras_model(two_epoch_run / name).optimizer.iterations))
             for name in ("last.keras", "previous.keras")]
    assert steps == [8, 4]


BAD_VALUES = [
    ("[training]\nbatch_size = 2.5", "[training] batch_size must be an integer, got 2.5"),
    ('[training]\nepochs = "one"', "[training] epochs must be an integer, got 'one'"),
    ("[training]\nepochs = 0", "[training] epochs must be in [1, 100000], got 0"),
    ("[training]\nepochs = 1000000000000000000", "[training] epochs must be in [1, 100000], got 1000000000000000000"),
    ("[training]\nbatch_size = 100000000", "[training] batch_size must be in [1, 65536], got 100000000"),
    ("[training]\nlr_decay_epochs = [30, 1000000000]", "[training] lr_decay_epochs must be epochs in [0, 100000], got [30, 1000000000]"),
    ("[training]\nlr_decay_factor = 1e30", "[training] lr_decay_factor must be in (0, 10.0], got 1e+30"),
    ("[training]\nlr_decay_epochs = 1", "[training] lr_decay_epochs must be a list of integers, got 1"),
    ('[training]\naugmentation = "no"', "[training] augmentation must be true or false, got 'no'"),
    ("[training]\nlearning_rate = nan", "[training] learning_rate must be a finite number, got nan"),
    ("[training]\nlearning_rate = -1e-3", "[training] learning_rate must be in (0, 10.0], got -0.001"),
    ("[training]\nseed = -1", "[training] seed must be in [0, 2^32), got -1"),
    ("[training]\nlr_decay_factor = true", "[training] lr_decay_factor must be a finite number, got True"),
    ('[data]\ntrain = "x.npz"', "[data] train must be a list of file names, got 'x.npz'"),
    ("[data]\nvalidation_split = 1.5", "[data] validation_split must be in [0, 1), got 1.5"),
    ('[data]\nangle_filter = 1', "[data] angle_filter must be true or false, got 1"),
    ('protocol = "AFLW"', "protocol must be a protocol: 300W_LP or 1, BIWI or 2, got 'AFLW'"),
    ("init = 5", "init must be a non-empty string, got 5"),
    ("data = 5", "[data] must be a table of keys, got 5"),
]


@pytest.mark.parametrize("text,message", BAD_VALUES)
def test_every_config_value_is_checked_with_key_and_file_named(tmp_path, text, message):
    """Finding 6: `batch_size = 2.5` gave a 112-line TensorFlow traceback after the data had loaded;
    `augmentation = "no"` silently meant on; `train = "x.npz"` was read letter by letter."""
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "{CONFIG}"\n{text}\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: {message}"


@pytest.mark.parametrize("text,message", [
    ('protocol = "x"\nmodels = ["capsule"]\ntest = ["a.npz"]', "protocol must be a protocol: 300W_LP or 1, BIWI or 2, got 'x'"),
    ('protocol = "BIWI"\nmodels = "capsule"\ntest = ["a.npz"]', "models must be a list of names, got 'capsule'"),
    ('protocol = "BIWI"\nmodels = ["capsule"]\ntest = ["a.npz"]\n[published.BIWI]\ncapsule = ["x"]',
     "published.BIWI.capsule must be [MAE] or [yaw, pitch, roll, MAE] (finite numbers), got ['x']"),
    ('protocol = "BIWI"\nmodels = ["capsule"]\ntest = ["a.npz"]\n[raw_test]\nBIWI = 5', "raw_test must be a table of folder names"),
])
def test_evaluation_preset_values_are_checked(tmp_path, text, message):
    from fsanet.experiments.config import load_preset
    (tmp_path / "preset.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=re.escape(f"preset.toml: {message}")):
        load_preset(tmp_path / "preset.toml")


def test_config_errors_through_the_command(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(f'base = "{CONFIG}"\n[training]\nbatch_size = 2.5\n')
    assert run_command("train", [str(tmp_path / "bad.toml"), "--output-dir", str(tmp_path / "runs")]) == 2
    assert "bad.toml: [training] batch_size must be an integer, got 2.5" in _error(capsys)
    (tmp_path / "nomodel.toml").write_text("[training]\nepochs = 3\n")
    assert run_command("train", [str(tmp_path / "nomodel.toml")]) == 2
    assert "nomodel.toml: missing key(s) ['model'] in [top level]" in _error(capsys)
    assert not (tmp_path / "runs").exists()


@pytest.mark.large
def test_ctrl_c_in_training_is_one_line_and_the_run_resumes(data_dir, tmp_path):
    """Finding 10: Ctrl-C printed a long traceback. The run's files stay whole and --resume finishes it.
    Issue 21: the process ended 18-75 s after its `interrupted` line; now within seconds of the signal."""
    args = [sys.executable, "-m", "fsanet", "train", str(CONFIG), "--data-dir", str(data_dir), "--train", "train.npz",
            "--validation", "val.npz", "--batch-size", "8", "--output-dir", str(tmp_path), "--quiet"]
    process = subprocess.Popen(args + ["--epochs", "40"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    state = tmp_path / "capsule" / "state.json"
    deadline = time.time() + 300
    while not state.exists():
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.strip() == "interrupted", err
    assert time.monotonic() - signalled < 15  # the prompt returns with the line, not 18-75 s after it
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 40 and _finite(tmp_path / "capsule" / "last.keras")
    assert not [p.name for p in (tmp_path / "capsule").iterdir() if "partial" in p.name or p.suffix == ".part"]
    resumed = subprocess.run(args + ["--epochs", str(done + 1), "--resume"], cwd=ROOT, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(state.read_text())["epochs_done"] == done + 1
