"""The contract under faults and foreign files (issue 20): the Python API raises our errors; the data
file is never replaced by a partial one; files that are not ours, malformed data files, configs at
the edges and full disks each get one line naming the file and exit 2."""

import json
import os

import numpy as np
import pytest
from conftest import OFFICIAL, ROOT, SHARED

import fsanet
from fsanet.cli import run_command
from fsanet.errors import FSANetError
from fsanet.video.records import FaceRecord, RecordWriter, read_records

PORTRAIT = SHARED / "data" / "images" / "portrait_750x375.jpg"
H5 = OFFICIAL / "300W_LP_models" / "fsanet_capsule_3_16_2_21_5" / "fsanet_capsule_3_16_2_21_5.h5"


# ---------------------------------------------------------------- the Python API

def _api_cases(tmp_path):
    """Public callable -> calls with a wrong type or an unknown name, each (args, kwargs)."""
    return {
        "get_variant": [(("capsul",), {}), ((123,), {}), ((["capsule"],), {})],
        "build_model": [(("capsul",), {}), ((123,), {}), ((["capsule"],), {})],
        "build_variant": [(("capsul",), {}), ((123,), {})],
        "build_fusion": [(("fusion",), {}), (([],), {}), ((["capsule", "var_capsule"],), {})],
        "FSANet": [((), {"scoring": "learned"}), ((), {"num_capsule": "3"}), ((), {"stage_num": 3})],
        "SSRNetMD": [((), {"stage_num": "333"}), ((), {"image_size": -64})],
        "Variant": [(("x", "x", "resnet"), {}), (("x", "x", "fsanet"), {"scoring": "learned"})],
        "load_authors_weights": [(("capsule", H5), {}), ((None, 123), {})],
        "fetch": [(("capsul",), {}), ((123,), {}), (("capsule",), {"protocol": "AFLW"}),
                  (("capsule",), {"mirror": "http://[not-a-host/weights"})],
        "load_pretrained": [(("capsul",), {}), ((123,), {}), ((["fusion"],), {})],
        "PosePredictor": [(("capsule",), {}), ((None,), {})],
        "rotate_in_plane": [(("not an image", (0, 0, 0), 10), {}), ((np.zeros((8, 8, 3)), (0, 0), 10), {}),
                            ((np.zeros((8, 8, 3)), (0, 0, 0), "ten"), {})],
        "occlude": [(("not an image", np.zeros((2, 68))), {}), ((np.zeros((8, 8, 3)), np.zeros((2, 5))), {}),
                    ((np.zeros((8, 8, 3)), np.zeros((2, 68))), {"kind": "scarf"})],
        "quiet": [(("yes",), {}), ((1,), {})],
        "configure_cpu_threads": [(("2",), {}), ((-1,), {})],
        "resolve_model": [(("capsul",), {}), ((123,), {}), (("fusoin:a.h5,b.h5",), {}),
                          ((str(tmp_path / "missing.keras"),), {})],
        "export": [(("capsul", tmp_path / "x.onnx", "onnx"), {}), ((123, tmp_path / "x.onnx", "onnx"), {})],
        "HeadPoseEstimator": [(("capsul",), {}), ((123,), {})],
        "estimate": [((123,), {"model": "capsule"}), ((str(tmp_path / "missing.jpg"),), {"model": "capsule"}),
                     ((PORTRAIT,), {"model": "capsul"})],
        "analyze": [((str(tmp_path / "missing.mp4"),), {"model": "capsule"}), ((PORTRAIT,), {"model": "capsul"}),
                    ((PORTRAIT,), {"model": "capsule", "every": "10"})],
        "draw": [((PORTRAIT, [123]), {}), ((123, []), {}), ((PORTRAIT, []), {"style": "arrows"})],
        "to_dataframe": [(([123],), {}), ((123,), {})],
        "FaceRecord": [((0, None, "x", 0, (1, 2, 3, 4), True, 0.9, (1.0, 2.0)), {}),
                       ((0, None, "x", 0, 5, True, 0.9, (1.0, 2.0, 3.0)), {})],
    }


def test_every_public_function_raises_our_errors(tmp_path):
    """Issue 20: PosePredictor("capsule") raised AttributeError, load_pretrained("capsul") KeyError,
    export("capsul", ...) FileNotFoundError; a library user catches fsanet.FSANetError."""
    cases = _api_cases(tmp_path)
    callables = {name for name in fsanet.__all__ if callable(getattr(fsanet, name))
                 and not (isinstance(getattr(fsanet, name), type) and issubclass(getattr(fsanet, name), BaseException))}
    assert callables == set(cases)  # a new public function is not done until it is listed here
    for name, calls in cases.items():
        for args, kwargs in calls:
            with pytest.raises(FSANetError) as caught:
                getattr(fsanet, name)(*args, **kwargs)
            assert "\n" not in str(caught.value), (name, args, kwargs)
    assert list(tmp_path.iterdir()) == []


def test_api_errors_are_also_the_builtin_kinds_callers_catch():
    """Code written against 1.2 catches KeyError for an unknown variant, ValueError for a bad
    hyperparameter, TypeError for a wrong type: it keeps working."""
    with pytest.raises(KeyError, match="unknown FSA-Net variant 'capsul'"):
        fsanet.get_variant("capsul")
    with pytest.raises(ValueError, match="scoring must be one of"):
        fsanet.FSANet(scoring="learned")
    with pytest.raises(TypeError, match="PosePredictor takes a model"):
        fsanet.PosePredictor("capsule")
    with pytest.raises(TypeError, match="build_fusion takes a list of Keras models"):
        fsanet.build_fusion(["capsule", "var_capsule"])
    try:
        fsanet.get_variant("capsul")
    except KeyError as e:
        assert str(e).startswith("unknown FSA-Net variant")  # not quoted like a key


def test_mistyped_model_kind_is_named_with_a_suggestion():
    with pytest.raises(fsanet.errors.ModelSpecError, match="fusoin is not a model kind; did you mean fusion:"):
        fsanet.resolve_model("fusoin:a.h5,b.h5")
    with pytest.raises(fsanet.errors.ModelSpecError, match="onnx is not a model kind; the only kind is fusion:"):
        fsanet.resolve_model("onnx:model.onnx")


def test_one_variants_weights_into_a_fusion_says_how_to_load_one():
    """It said "but the model is None"."""
    fusion = fsanet.build_model("fusion")
    with pytest.raises(fsanet.WeightFileError, match=r"'fusion' is a fusion of several: load each member's file "
                       r"\(fsanet.resolve_model\('fusion:a.h5,b.h5,c.h5'\)\)"):
        fsanet.load_authors_weights(fusion, H5)


def test_malformed_mirror_url_is_one_line(capsys, monkeypatch, tmp_path):
    """A malformed FSANET_WEIGHTS_MIRROR URL was an internal error (exit 3)."""
    monkeypatch.setenv("FSANET_WEIGHTS_MIRROR", "http://[not-a-host/weights")
    monkeypatch.setenv("FSANET_CACHE_DIR", str(tmp_path / "cache"))
    assert run_command("export", ["capsule", "--format", "onnx", "--output", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a usable URL" in err and "FSANET_WEIGHTS_MIRROR" in err, err
    assert not (tmp_path / "x.onnx").exists()


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------- the --data file

DEMO = ["--no-video", "--model", "capsule", "--backend", "keras", "--no-display", "--detector", "mtcnn_cascade"]


def test_interrupted_data_file_keeps_its_frames_beside_an_earlier_complete_one(tmp_path, monkeypatch, capsys):
    """Issue 20: a Ctrl-C over an earlier complete data file replaced it with the partial rows."""
    data = tmp_path / "run.csv"
    data.write_text("an earlier complete file\n")

    def three_frames_then_ctrl_c(source, annotator, output, show=False, data=None, **options):
        for frame in range(3):
            data.write_frame([FaceRecord(frame, frame / 25, "clip", 0, (1, 2, 3, 4), True, 0.9, (1.0, 2.0, 3.0))])
        raise KeyboardInterrupt
    monkeypatch.setattr("fsanet.video.pipeline.run_source", three_frames_then_ctrl_c)
    assert run_command("demo", [str(PORTRAIT), "--data", str(data), *DEMO]) == 130
    partial = tmp_path / "run.csv.partial"
    assert _one_line(capsys.readouterr().err) == f"interrupted (3 face records of 3 finished frames kept in {partial})"
    assert data.read_text() == "an earlier complete file\n"
    assert [r["frame"] for r in read_records(partial)] == [0, 1, 2]


def test_failed_run_names_the_partial_file_in_its_one_line(tmp_path, monkeypatch, capsys):
    """A run that fails (not interrupted: the output video's disk is full) after some frames says
    where those frames are kept."""
    data = tmp_path / "run.csv"

    def two_frames_then_fail(source, annotator, output, show=False, data=None, **options):
        for frame in range(2):
            data.write_frame([FaceRecord(frame, frame / 25, "clip", 0, (1, 2, 3, 4), True, 0.9, (1.0, 2.0, 3.0))])
        raise OSError(28, "No space left on device", "out/clip.mp4")
    monkeypatch.setattr("fsanet.video.pipeline.run_source", two_frames_then_fail)
    assert run_command("demo", [str(PORTRAIT), "--data", str(data), *DEMO]) == 2
    partial = tmp_path / "run.csv.partial"
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: out/clip.mp4: ") and line.endswith(f"; 2 face records of 2 finished frames kept in {partial}")
    assert not data.exists() and [r["frame"] for r in read_records(partial)] == [0, 1]


@pytest.mark.large
def test_killed_run_leaves_its_finished_frames_in_the_partial_file(tmp_path):
    """Issue 20: the rule keeps every finished frame on disk after a kill, beside an earlier complete file."""
    import signal
    import subprocess
    import sys
    import time
    data = tmp_path / "obama.csv"
    data.write_text("an earlier complete file\n")
    partial = tmp_path / "obama.csv.partial"
    process = subprocess.Popen([sys.executable, "-m", "fsanet", str(SHARED / "data" / "video" / "obama.mp4"),
                                "--data", str(data), "--every", "1", *DEMO], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (partial.exists() and partial.read_text().count("\n") >= 4):  # the header and 3 frames
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert data.read_text() == "an earlier complete file\n"
    frames = [r["frame"] for r in read_records(partial)]
    assert len(frames) >= 3 and frames == sorted(frames)


def test_data_file_through_a_link_replaces_the_link_not_the_users_file(tmp_path, capsys):
    """Issue 20: a --data path that is a symlink overwrote the file behind it; every other output
    replaces the link itself."""
    users = tmp_path / "notes.csv"
    users.write_text("the user's own file\n")
    link = tmp_path / "run.csv"
    link.symlink_to(users)
    assert run_command("demo", [str(PORTRAIT), "--data", str(link), *DEMO]) == 0
    assert users.read_text() == "the user's own file\n"
    assert not link.is_symlink() and len(read_records(link)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.csv", "run.csv"]


def test_a_failed_data_write_is_never_named_complete(tmp_path, monkeypatch):
    writer = RecordWriter(tmp_path / "run.jsonl")
    writer.write_frame([])
    monkeypatch.setattr(writer._output, "_file", open(os.devnull, "rb", buffering=0))  # every write fails
    with pytest.raises(fsanet.errors.OutputError, match=r"run.jsonl.partial: cannot be written"):
        writer.write_frame([FaceRecord(0, 0.0, "clip", 0, (1, 2, 3, 4), True, 0.9, (1.0, 2.0, 3.0))])
    with pytest.raises(fsanet.errors.OutputError, match="a write failed, so the file is incomplete"):
        writer.close()
    assert not (tmp_path / "run.jsonl").exists()


# ---------------------------------------------------------------- malformed data files

_GOOD_ROW = {"frame": 0, "time": 0.0, "source": "clip", "track": 0, "box": [1, 2, 3, 4], "detected": True,
             "confidence": 0.9, "yaw": 1.0, "pitch": 2.0, "roll": 3.0, "rotation": np.eye(3).tolist()}
MALFORMED = {
    "no_columns.csv": b"a,b,c\n1,2,3\n",
    "text_in_numbers.csv": b"frame,time,track,yaw,pitch,roll\n0,0.0,0,left,2.0,3.0\n",
    "short_rows.csv": b"frame,time,track,yaw,pitch,roll\n0,0.0\n",
    "latin1.csv": "frame,time,source,track,yaw,pitch,roll\n0,0.0,caf\u00e9,0,1.0,2.0,3.0\n".encode("latin-1"),
    "random.csv": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    "random.jsonl": bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
    "mixed_tracks.jsonl": (json.dumps(_GOOD_ROW) + "\n" + json.dumps(dict(_GOOD_ROW, track="1")) + "\n").encode(),
    "text_angle.jsonl": (json.dumps(dict(_GOOD_ROW, yaw="12")) + "\n").encode(),
    "no_angles.jsonl": (json.dumps({k: v for k, v in _GOOD_ROW.items() if k != "roll"}) + "\n").encode(),
    "not_records.jsonl": b"[1, 2, 3]\n7\n",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_plot_on_a_malformed_data_file_is_one_line_and_status_2(name, tmp_path, capsys):
    """Issue 20: missing columns, text in numbers, mixed track types, Latin-1 or random bytes were
    internal errors."""
    data = tmp_path / name
    data.write_bytes(MALFORMED[name])
    assert run_command("plot", [str(data)]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"error: {data}: not a head-pose data file (")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_npz_whose_header_claims_an_impossible_shape_is_named(tmp_path, capsys):
    """Issue 20: reported as "not enough memory" without the file's name."""
    import io
    import zipfile

    from fsanet.data.npz import write_pose_npz
    path = tmp_path / "forged.npz"
    write_pose_npz(path, np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (10 ** 12, 64, 64, 3)})
    members["image.npy"] = header.getvalue() + members["image.npy"][header.tell():]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert run_command("test", ["--models", "capsule", "--test", str(path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {path}: 'image' claims shape (1000000000000, 64, 64, 3)") and "damaged" in line


# ---------------------------------------------------------------- files that are not ours, used as models

def _foreign_models(folder):
    """{name: path} of model files of other networks, one per kind the model specs accept."""
    import shutil
    import zipfile

    import keras
    import onnx
    import tensorflow as tf
    from onnx import TensorProto, helper
    paths = {}
    other = keras.Sequential([keras.Input((32, 32, 1), name="pixels"), keras.layers.Flatten(), keras.layers.Dense(10)],
                             name="digits")
    paths["keras_other"] = folder / "digits.keras"
    other.save(paths["keras_other"])
    with zipfile.ZipFile(paths["keras_other"]) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["class_name"] = "NotALayer"  # an unregistered class
    members["config.json"] = json.dumps(config).encode()
    paths["keras_unregistered"] = folder / "unregistered.keras"
    with zipfile.ZipFile(paths["keras_unregistered"], "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    graph = helper.make_graph([helper.make_node("Identity", ["pixels"], ["logits"])], "other",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 224, 224, 3])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 224, 224, 3])])
    paths["onnx"] = folder / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), paths["onnx"])
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.serve = tf.function(lambda x: {"logits": x * module.scale},
                               input_signature=[tf.TensorSpec((None, 10), tf.float32, name="x")])
    paths["savedmodel"] = folder / "classifier_savedmodel"
    tf.saved_model.save(module, str(paths["savedmodel"]), signatures={"serving_default": module.serve})
    paths["savedmodel_no_variables"] = folder / "no_variables_savedmodel"
    shutil.copytree(paths["savedmodel"], paths["savedmodel_no_variables"])
    shutil.rmtree(paths["savedmodel_no_variables"] / "variables")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    paths["litert"] = folder / "classifier.tflite"
    paths["litert"].write_bytes(converter.convert())
    return paths


FOREIGN_MESSAGES = {
    "keras_other": "holds a Keras model that is not an FSA-Net, SSR-Net-MD or a fusion of them (Sequential 'digits')",
    "keras_unregistered": "not a readable .keras model (",
    "onnx": "not an FSA-Net ONNX file: it computes 'pixels' float32 (N, 224, 224, 3) -> 'logits' float32 "
            "(N, 224, 224, 3); expected 'image' float32 (N, 64, 64, 3) -> 'pose' float32 (N, 3)",
    "savedmodel": "not an FSA-Net SavedModel file: it computes 'x' float32 (N, 10) -> 'logits' float32 (N, 10)",
    "savedmodel_no_variables": "not a readable SavedModel (",
    "litert": "not an FSA-Net LiteRT file: it computes 'x' float32 (N, 10) -> 'pose' float32 (N, 10)",
}


def test_foreign_model_files_are_refused_in_one_line_by_demo_test_and_export(tmp_path, capsys):
    """Issue 20: an ONNX file whose input is not `image` (N, 64, 64, 3), a .tflite of another
    network, a SavedModel with another signature or without its variables, a .keras holding another
    model or naming an unregistered class: internal errors (exit 3) or many lines of library text."""
    from fsanet.data.npz import write_pose_npz
    models = tmp_path / "models"
    models.mkdir()
    foreign = _foreign_models(models)
    assert set(foreign) == set(FOREIGN_MESSAGES)
    test_set = write_pose_npz(tmp_path / "test.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    exported_only = {"onnx", "savedmodel", "savedmodel_no_variables", "litert"}
    for name, path in foreign.items():
        runs = {"demo": [str(PORTRAIT), "--model", str(path), "--no-video", "--no-display"],
                "test": ["--models", str(path), "--test", str(test_set), "--json", str(tmp_path / "out.json")],
                "export": [str(path), "--format", "onnx", "--output", str(tmp_path / "out.onnx")]}
        for command, args in runs.items():
            assert run_command(command, args) == 2, (name, command)
            line = _one_line(capsys.readouterr().err)
            expected = ("an exported model runs inference only" if command == "export" and name in exported_only
                        else FOREIGN_MESSAGES[name])
            assert line.startswith(f"error: {path}: ") and expected in line, (name, command, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "test.npz"]
    # the library's whole message only with --verbose, before the one line
    path = foreign["savedmodel_no_variables"]
    assert run_command("demo", [str(PORTRAIT), "--model", str(path), "--no-video", "--no-display", "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "Unsuccessful TensorSliceReader constructor" in err and len(err.splitlines()) > 1
    assert err.splitlines()[-1].startswith(f"error: {path}: not a readable SavedModel (")


# ---------------------------------------------------------------- configs at the edges

def test_a_base_chain_too_deep_is_one_line(tmp_path, capsys):
    """Issue 20: a `base` chain hundreds deep recursed until Python's limit."""
    (tmp_path / "c0.toml").write_text('model = "capsule"\n')
    for i in range(1, 300):
        (tmp_path / f"c{i}.toml").write_text(f'base = "c{i - 1}.toml"\n')
    top = tmp_path / "c299.toml"
    assert run_command("train", [str(top), "--output-dir", str(tmp_path / "run")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {top}: base: a chain of more than 32 base files"), line
    assert not (tmp_path / "run").exists()


def test_a_huge_epoch_count_is_named_before_training(tmp_path, capsys):
    """Issue 20: an epoch count of 10^30 passed the check and failed inside tf.data."""
    config = tmp_path / "huge.toml"
    config.write_text('model = "capsule"\n[training]\nepochs = 1_000_000_000_000_000_000\n')
    assert run_command("train", [str(config), "--output-dir", str(tmp_path / "run")]) == 2
    assert _one_line(capsys.readouterr().err) == (f"error: {config}: [training] epochs must be in [1, 100000], "
                                                  "got 1000000000000000000")


# ---------------------------------------------------------------- full disks and a full stdout

@pytest.fixture
def full_disk(tmp_path):
    """A folder on a small tmpfs that is full (its free space taken by a filler file), holding an
    earlier complete file of each name the test writes; needs root to mount (as here and in CI)."""
    import subprocess
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here (a container without CAP_SYS_ADMIN)")
    try:
        earlier = {name: f"earlier {name}\n".encode() for name in
                   ("p.jpg", "p.csv", "v.mp4", "h.png", "s.npz", "t.npz", "c.onnx", "r.json", "d.png")}
        for name, data in earlier.items():
            (mount / name).write_bytes(data)
        with open(mount / "filler", "wb", buffering=0) as filler, pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
        yield mount, earlier
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_every_writing_command_names_its_file_on_a_full_disk(full_disk, tmp_path, capsys):
    """Issue 20: `error: No space left on device` without the file; a video writer that could not open
    crashed while stopping its encoder thread; a SavedModel export ended in TensorFlow's error naming
    a temporary folder."""
    from fsanet.data.npz import write_pose_npz
    mount, earlier = full_disk
    for name in ("synthetic_train.npz", "synthetic_validation.npz"):
        write_pose_npz(tmp_path / name, np.zeros((4, 64, 64, 3), np.uint8), np.zeros((4, 3)))
    test_set = write_pose_npz(tmp_path / "test.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    data = tmp_path / "d.csv"
    with RecordWriter(data) as writer:
        writer.write_frame([FaceRecord(0, 0.0, "clip", 0, (1, 2, 3, 4), True, 0.9, (1.0, 2.0, 3.0))])
    from test_biwi import pasted_face_frames, write_frame
    write_frame(tmp_path / "hpdb" / "01", 0, pasted_face_frames(SHARED, [150])[0], (10.0, -5.0, 3.0))
    model = ["--model", "capsule", "--backend", "keras", "--no-display"]
    runs = [
        ("demo", [str(PORTRAIT), "--output", str(mount / "p.jpg"), *model], "p.jpg"),
        ("demo", [str(PORTRAIT), "--no-video", "--data", str(mount / "p.csv"), *model], "p.csv.partial"),
        ("demo", [str(SHARED / "data" / "video" / "obama.mp4"), "--output", str(mount / "v.mp4"), *model], "v.mp4"),
        ("heatmaps", ["--image", str(PORTRAIT), "--output", str(mount / "h.png")], "h.png"),
        ("make-synthetic", ["--output", str(mount / "s.npz"), "--count", "2"], "s.npz"),
        ("prepare-type1", ["--input", str(SHARED / "data" / "aflw2000_samples"), "--output", str(mount / "t.npz")],
         "t.npz"),
        ("prepare-biwi", ["--input", str(tmp_path / "hpdb"), "--output-dir", str(mount / "b"), "--protocol", "1",
                          "--workers", "1"], "b/BIWI_noTrack.npz"),
        ("export", ["capsule", "--format", "onnx", "--output", str(mount / "c.onnx")], "c.onnx"),
        ("export", ["capsule", "--format", "savedmodel", "--output", str(mount / "c_savedmodel")], "c_savedmodel"),
        ("test", ["--models", "capsule", "--test", str(test_set), "--json", str(mount / "r.json")], "r.json"),
        ("plot", [str(data), "--output", str(mount / "d.png")], "d.png"),
        ("train", [str(ROOT / "configs" / "synthetic" / "capsule.toml"), "--data-dir", str(tmp_path),
                   "--output-dir", str(mount / "run"), "--epochs", "1"], "run/capsule/config.json"),
    ]
    for command, args, named in runs:
        assert run_command(command, args) == 2, (command, args)
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error", "internal"))]
        assert lines == [f"error: {mount / named}: cannot be written (No space left on device)"], (command, lines)
        left = sorted(p.relative_to(mount).as_posix() for p in mount.rglob("*") if not p.is_dir())
        assert left == sorted([*earlier, "filler"]), command  # (train's run folders stay, empty)
        assert all((mount / name).read_bytes() == content for name, content in earlier.items()), command
    # a disk that fills while a video is written: OpenCV's writer leaves a cut file and says nothing
    (mount / "filler").unlink()
    assert run_command("demo", [str(SHARED / "data" / "video" / "obama.mp4"), "--output", str(mount / "v.mp4"),
                                *model]) == 2
    assert _one_line(capsys.readouterr().err) == f"error: {mount / 'v.mp4'}: cannot be written (No space left on device)"
    assert (mount / "v.mp4").read_bytes() == earlier["v.mp4"]


def test_a_full_stdout_is_named_as_stdout_not_as_the_output(full_disk, tmp_path):
    """Issue 20: a full stdout was reported as if the output file had failed."""
    import subprocess
    import sys
    mount, _ = full_disk
    with open(mount / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-m", "fsanet", "make-synthetic", "--output", str(tmp_path / "s.npz"),
                               "--count", "2"], cwd=ROOT, stdout=log, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: stdout: cannot be written (No space left on device)"
    from fsanet.data.npz import load_pose_npz
    assert load_pose_npz(tmp_path / "s.npz")[0].shape == (2, 64, 64, 3)  # the output is whole


def test_export_onto_a_link_to_a_folder_is_refused_before_converting(tmp_path, capsys, monkeypatch):
    """Issue 20: converted first, then failed naming a path the user never gave."""
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted before the output was checked")
    monkeypatch.setattr("fsanet.hub.model_spec.resolve_model", no_conversion)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("the user's")
    for name, format in (("link", "savedmodel"), ("link.onnx", "onnx")):
        (tmp_path / name).symlink_to("folder")
        assert run_command("export", ["capsule", "--format", format, "--output", str(tmp_path / name)]) == 2
        assert _one_line(capsys.readouterr().err).startswith(f"error: --output {tmp_path / name}: is ")
    assert (tmp_path / "folder" / "keep.txt").read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "link", "link.onnx"]


# ---------------------------------------------------------------- inputs read subtly wrong

def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an EXIF APP1 segment holding only the orientation tag, as a phone writes it."""
    tiff = (b"MM\0*" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big")
            + (0x0112).to_bytes(2, "big") + (3).to_bytes(2, "big") + (1).to_bytes(4, "big")
            + orientation.to_bytes(2, "big") + b"\0\0" + (0).to_bytes(4, "big"))
    app1 = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + jpeg[2:]


@pytest.mark.parametrize("orientation,stored", [(6, "ROTATE_90_COUNTERCLOCKWISE"), (8, "ROTATE_90_CLOCKWISE"),
                                                (3, "ROTATE_180")])
def test_a_photo_stored_sideways_is_read_upright(orientation, stored, tmp_path):
    import cv2

    from fsanet.core.images import read_image
    upright = read_image(PORTRAIT)
    sideways = tmp_path / "phone.jpg"
    sideways.write_bytes(_with_orientation(cv2.imencode(".jpg", cv2.rotate(upright, getattr(cv2, stored)),
                                                        [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes(), orientation))
    read = read_image(sideways)
    assert read.shape == upright.shape and np.abs(read.astype(int) - upright).mean() < 1.5


def test_a_sideways_phone_photo_gives_the_upright_ones_angles(tmp_path, capsys):
    """Issue 20: a phone photo stored sideways with an EXIF orientation tag was read sideways (no face)."""
    import cv2
    upright = cv2.imread(str(PORTRAIT))
    (tmp_path / "upright.jpg").write_bytes(cv2.imencode(".jpg", upright, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes())
    (tmp_path / "phone.jpg").write_bytes(_with_orientation(cv2.imencode(
        ".jpg", cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE), [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes(), 6))
    angles = {}
    for name in ("upright", "phone"):
        assert run_command("demo", [str(tmp_path / f"{name}.jpg"), "--data", str(tmp_path / f"{name}.csv"), *DEMO]) == 0
        (row,) = read_records(tmp_path / f"{name}.csv")
        angles[name] = np.array([row["yaw"], row["pitch"], row["roll"]])
    np.testing.assert_allclose(angles["phone"], angles["upright"], atol=1.0)


def test_a_variable_frame_rate_videos_time_is_each_frames_presentation_time(tmp_path, capsys):
    """Issue 20: a variable-frame-rate video got time = frame / fps (0.75 s off in a probe)."""
    from fractions import Fraction

    import av  # PyAV, of the test extras: OpenCV writes constant frame rates only
    import cv2
    times = [0.0, 0.04, 0.08, 0.9, 0.94, 2.0, 2.04, 2.5]  # the camera paused twice
    face = cv2.resize(cv2.imread(str(PORTRAIT)), (750, 376))
    video = tmp_path / "vfr.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 750, 376, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for t in times:
            frame = av.VideoFrame.from_ndarray(face, format="bgr24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = tmp_path / "vfr.csv"
    assert run_command("demo", [str(video), "--data", str(data), "--every", "1", *DEMO]) == 0
    rows = read_records(data)
    assert [r["frame"] for r in rows] == list(range(len(times)))
    np.testing.assert_allclose([r["time"] for r in rows], times, atol=1e-3)
