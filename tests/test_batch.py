"""``fsanet batch`` on a local Ray with 2 CPUs (started and stopped here): its rows equal the
single-process command's, track IDs survive segment cuts, a damaged file lands in errors.parquet,
a worker killed mid-job leaves every row exactly once, and a job interrupted and restarted gives the
same tables; inputs and output on an S3 server (moto, on loopback) give the local run's rows; a GPU
asked of a machine without one is refused in one line. Also the README's Ray example (the picklable
predictor and ``analyze`` per worker)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.fs
import pytest
from conftest import ROOT, SHARED

from fsanet.api.estimator import to_dataframe
from fsanet.batch.job import model_file, run_batch, stage_resources
from fsanet.batch import storage
from fsanet.batch.plan import Unit, expand, per_stage, video_length
from fsanet.batch.stages import DetectStage, PoseStage, unit_rows, write_units
from fsanet.batch.tables import segment_path
from fsanet.errors import ExportError, InputError, UsageError
from fsanet.video.media import Source
from fsanet.video.records import read_records

pytestmark = pytest.mark.large

VIDEO = SHARED / "data" / "video" / "obama.mp4"
IMAGES = SHARED / "data" / "images"
SEGMENT = 40  # obama.mp4's 158 frames in 4 segments, each starting with a detection
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
"""What the test S3 server takes (any): the driver and the workers read them from their
environment, as on a cluster."""


def test_stage_flags_and_resources():
    assert per_stage("2", "--num-cpus") == {"detect": 2.0, "pose": 2.0}
    assert per_stage("detect=1,pose=0.5", "--num-cpus") == {"detect": 1.0, "pose": 0.5}
    assert per_stage("1", "--num-gpus", ("pose",)) == {"pose": 1.0}
    for text, stages in (("detect=1", ("pose",)), ("pose=-1", ("pose",)), ("write=1", ("detect", "pose")),
                         ("pose=x", ("pose",))):
        with pytest.raises(UsageError, match="STAGE=N"):
            per_stage(text, "--num-gpus", stages)
    stages = stage_resources({"CPU": 8.0})
    assert stages["pose"] == {"workers": 1, "cpus": 1.0, "gpus": 0.0}
    assert stages["detect"] == {"workers": 7, "cpus": 1.0, "gpus": 0.0}
    stages = stage_resources({"CPU": 8.0, "GPU": 1.0}, {"pose": 2}, {"detect": 2.0}, {"pose": 0.5})
    assert stages["pose"]["workers"] == 2 and stages["pose"]["gpus"] == 0.5 and stages["detect"]["workers"] == 3
    with pytest.raises(UsageError, match="--num-gpus pose=1: 1 pose worker.* the Ray cluster has 0"):
        stage_resources({"CPU": 2.0}, num_gpus={"pose": 1.0})
    with pytest.raises(UsageError, match="the Ray cluster has 2"):
        stage_resources({"CPU": 2.0}, {"detect": 2, "pose": 1})
    with pytest.raises(UsageError, match="--workers: each stage needs a whole number"):
        stage_resources({"CPU": 2.0}, {"detect": 0.0})


def test_stages_give_the_records_of_analyze_smoothing_included(tmp_path):
    """The three stages run in this process on one segment: its rows are ``analyze``'s records for
    the same frames (the smoothing, moved after the pose stage, included)."""
    from fsanet.api.estimator import HeadPoseEstimator
    model = model_file("fusion", "300W_LP")
    unit = Unit(str(VIDEO), "video", 40, 100)
    batch = {name: np.array([value]) for name, value in unit_rows([unit])[0].items()}
    statuses = write_units(PoseStage(model.read_bytes(), model.name)(DetectStage({}, every=5)(batch)),
                           str(tmp_path), smooth=True)
    assert statuses["error"] == [""] and statuses["frames"] == [60]
    ours = pd.read_parquet(segment_path(tmp_path, unit))
    theirs = to_dataframe(HeadPoseEstimator(model).analyze(VIDEO, every=5, smooth=True, start=40, stop=100))
    assert len(ours) == len(theirs) == 60
    for column in theirs:
        if column in ("source", "track", "detected", "frame", "x", "y", "w", "h"):
            assert (ours[column] == theirs[column]).all(), column
        else:
            np.testing.assert_allclose(ours[column], theirs[column], atol=1e-4, err_msg=column)
    assert (ours["path"] == str(VIDEO)).all() and ours["yaw_smoothed"].notna().all()


def test_a_pose_failure_marks_its_own_unit_alone(tmp_path):
    """Two photos in one batch of the pose stage, the runtime failing on the first one's crops: that
    unit is recorded as failed in the pose stage, the other one gets its angles and its file."""
    model = model_file("fusion", "300W_LP")
    units = [Unit(str(IMAGES / "group_1920x1080.jpg"), "image"), Unit(str(IMAGES / "portrait_750x375.jpg"), "image")]
    batch = {name: np.array([row[name] for row in unit_rows(units)]) for name in unit_rows(units)[0]}
    stage = PoseStage(model.read_bytes(), model.name)
    predictor, calls = stage.predictor, []

    def failing_first(crops):
        calls.append(len(crops))
        if len(calls) == 1:
            raise RuntimeError("the runtime failed")
        return predictor(crops)
    stage.predictor = failing_first
    statuses = write_units(stage(DetectStage({}, every=1)(batch)), str(tmp_path), smooth=False)
    assert calls == [7, 1]
    assert statuses["stage"] == ["pose", ""] and statuses["error"][0] == "RuntimeError: the runtime failed"
    assert statuses["faces"] == [0, 1] and not os.path.exists(segment_path(tmp_path, units[0]))
    assert pd.read_parquet(segment_path(tmp_path, units[1]))["yaw"].notna().all()


def test_flip_average_reaches_the_pose_stage():
    """``--flip-average``: the pose stage's angles are the mirror-averaged predictor's on the same crops."""
    from fsanet.deploy.predictor import PosePredictor
    model = model_file("fusion", "300W_LP")
    units = [Unit(str(IMAGES / "group_1920x1080.jpg"), "image")]
    batch = {name: np.array([value]) for name, value in unit_rows(units)[0].items()}
    located = DetectStage({}, every=1)(batch)
    crops = located["crops"][0].reshape(-1, 64, 64, 3).copy()
    posed = PoseStage(model.read_bytes(), model.name, flip_average=True)(located)
    want = PosePredictor.from_file(model, normalize=True, flip_average=True)(crops)
    plain = PosePredictor.from_file(model, normalize=True)(crops)
    np.testing.assert_allclose(posed["angles"][0].reshape(-1, 3), want, atol=1e-4)
    assert np.abs(want - plain).max() > 0.1


def test_uris_name_files_folders_globs_and_manifests(tmp_path):
    """The URI paths of ``expand`` on pyarrow's local filesystem (file://), as on any other."""
    (tmp_path / "talks" / "more").mkdir(parents=True)
    for name in ("talks/a.mp4", "talks/b.jpg", "talks/notes.txt", "talks/more/c.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "list.csv").write_text("path\ntalks/b.jpg\ns3://elsewhere/d.mp4\n")
    root = f"file://{tmp_path}"
    paths, problems = expand([f"{root}/talks", f"{root}/talks/**/*.mp4", f"{root}/list.csv", f"{root}/none",
                              "nope://x"])
    assert paths == [f"{root}/talks/a.mp4", f"{root}/talks/b.jpg", f"{root}/talks/more/c.mp4", "s3://elsewhere/d.mp4"]
    assert [p[0] for p in problems] == [f"{root}/none", "nope://x"] and "Unrecognized filesystem" in problems[1][1]


def test_a_remote_video_length_is_read_from_its_header_not_a_copy(tmp_path, monkeypatch):
    """A URI's video is cut into units from its stated length, read through its stream: the same
    count as a local file's, from a fraction of its bytes; a file that is no video is named."""
    read = []
    readinto = storage._RandomAccess.readinto
    monkeypatch.setattr(storage._RandomAccess, "readinto", lambda self, b: read.append(readinto(self, b)) or read[-1])
    assert video_length(f"file://{VIDEO}") == Source(str(VIDEO)).length == 158
    assert 0 < sum(read) < VIDEO.stat().st_size / 2
    (tmp_path / "cut.mp4").write_bytes(VIDEO.read_bytes()[:50_000])
    with pytest.raises(InputError, match=f"file://{tmp_path}/cut.mp4: not a readable video"):
        video_length(f"file://{tmp_path}/cut.mp4")


def test_gpus_asked_without_a_cuda_runtime_fail_before_ray_starts(tmp_path):
    import onnxruntime
    assert "CUDAExecutionProvider" not in onnxruntime.get_available_providers()  # this machine: CPU only
    with pytest.raises(UsageError, match="--num-gpus: ONNX Runtime here has no CUDAExecutionProvider"):
        run_batch([IMAGES], tmp_path / "out", num_gpus={"pose": 1.0})
    assert not (tmp_path / "out").exists()
    # what a pose actor given a GPU on such a machine does (a cluster's driver cannot check its nodes)
    model = model_file("fusion", "300W_LP")
    with pytest.raises(ExportError, match="has no CUDAExecutionProvider .*onnxruntime-gpu"):
        PoseStage(model.read_bytes(), model.name, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


@pytest.fixture(scope="module")
def ray_address(shared):
    """A local Ray for this module's tests, stopped after them; its workers run this checkout's fsanet
    (PYTHONPATH is set for ray.init alone, so that it does not leak into the later tests)."""
    import ray
    settings = dict(S3_CREDENTIALS, PYTHONPATH=str(ROOT))
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        ray.init(num_cpus=2, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
                 log_to_driver=False)
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def batch(address, output, *inputs, wait=True, flags=()):
    argv = [sys.executable, "-m", "fsanet", "batch", *map(str, inputs), "--output", str(output),
            "--every", "1", "--segment-frames", str(SEGMENT), "--address", address, *flags]
    # os.environ now: ray.init set RAY_AUTH_MODE=token, which a client of this cluster needs too
    process = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **S3_CREDENTIALS),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def tables(output):
    rows = pd.read_parquet(output / "rows").drop(columns="source_id")
    rows = rows.sort_values(["path", "frame", "x", "y"]).reset_index(drop=True)
    summary = pd.read_parquet(output / "summary.parquet").sort_values("path").reset_index(drop=True)
    return rows, summary


@pytest.fixture(scope="module")
def uninterrupted(ray_address, tmp_path_factory):
    output = tmp_path_factory.mktemp("batch") / "out"
    code, out, err = batch(ray_address, output, IMAGES, VIDEO)
    assert code == 0, err[-2000:]
    return output, out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The single-process command's --data rows for the same inputs."""
    folder = tmp_path_factory.mktemp("reference")
    rows = []
    for name, source in (("images.csv", IMAGES), ("video.csv", VIDEO)):
        subprocess.run([sys.executable, "-m", "fsanet", str(source), "--data", str(folder / name),
                        "--every", "1"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True, capture_output=True)
        rows.append(pd.DataFrame(read_records(folder / name)))
    return rows


def test_rows_equal_the_single_process_command(uninterrupted, reference):
    output, out = uninterrupted
    rows, summary = tables(output)
    images, video = reference
    assert "3 of 3 sources done: 160 frames" in out and "0 errors" in out
    ours = rows[rows["path"].str.endswith(".jpg")].sort_values(["source", "x", "y"]).reset_index(drop=True)
    theirs = images.sort_values(["source", "x", "y"]).reset_index(drop=True)
    assert list(ours["source"]) == list(theirs["source"]) and len(ours) == 8
    assert (ours[list("xywh")].to_numpy() == theirs[list("xywh")].to_numpy()).all()
    np.testing.assert_allclose(ours[["yaw", "pitch", "roll"]], theirs[["yaw", "pitch", "roll"]], atol=1e-3)

    ours = rows[rows["path"] == str(VIDEO)].sort_values(["frame", "x"]).reset_index(drop=True)
    theirs = video.sort_values(["frame", "x"]).reset_index(drop=True)
    assert list(ours["frame"]) == list(theirs["frame"])
    assert (ours[list("xywh")].to_numpy() == theirs[list("xywh")].to_numpy()).all()
    np.testing.assert_allclose(ours[["yaw", "pitch", "roll"]], theirs[["yaw", "pitch", "roll"]], atol=1e-3)
    np.testing.assert_allclose(ours["time"], theirs["time"], atol=1e-4)
    # the same faces keep the same IDs across the cuts at frames 40, 80, 120
    pairs = set(zip(ours["track"], theirs["track"]))
    assert len(pairs) == len(set(theirs["track"])) == len(set(ours["track"]))
    assert summary["frames"].tolist() == [1, 1, 158] and summary["errors"].tolist() == [0, 0, 0]


def test_damaged_file_lands_in_errors_and_the_rest_completes(ray_address, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(IMAGES / "portrait_750x375.jpg", folder / "good.jpg")
    (folder / "damaged.jpg").write_bytes((IMAGES / "portrait_750x375.jpg").read_bytes()[:300])
    code, out, err = batch(ray_address, tmp_path / "out", folder, tmp_path / "missing.mp4")
    assert code == 1, err[-2000:]
    errors = pd.read_parquet(tmp_path / "out" / "errors.parquet").sort_values("path")
    assert errors["stage"].tolist() == ["open", "input"]
    assert errors["path"].iloc[0].endswith("damaged.jpg") and "\n" not in errors["reason"].iloc[0]
    rows, summary = tables(tmp_path / "out")
    assert set(rows["source"]) == {"good"} and len(rows) == 1
    assert summary["path"].str.endswith("damaged.jpg").tolist() == [True, False]  # its row says it failed
    assert summary["frames"].tolist() == [0, 1] and summary["errors"].tolist() == [1, 0]
    assert "1 of 3 sources done: 1 frame, 1 face, 2 errors" in out
    named = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(named) == 2 and "damaged.jpg: " in named[0] + named[1] and "missing.mp4: " in named[0] + named[1]


def _wait_for_segments(output, count, process, timeout=300):
    deadline = time.time() + timeout
    while len(list((output / "segments").rglob("*.parquet"))) < count:
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.time() < deadline
        time.sleep(0.2)


def _stage_workers(stage):
    """PIDs of this session's Ray actors of a stage (their process title names its class)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if stage.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def test_worker_killed_mid_job_leaves_every_row_once(ray_address, uninterrupted, tmp_path):
    output = tmp_path / "out"
    process = batch(ray_address, output, IMAGES, VIDEO, wait=False)
    _wait_for_segments(output, 1, process)
    victims = [_stage_workers(stage) for stage in ("DetectStage", "PoseStage")]
    assert all(victims)  # one actor of each stage, killed while the job is under way
    for pids in victims:
        os.kill(pids[0], signal.SIGKILL)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    for ours, expected in zip(tables(output), tables(uninterrupted[0])):
        pd.testing.assert_frame_equal(ours, expected)


def test_interrupted_job_restarted_gives_the_same_tables(ray_address, uninterrupted, tmp_path):
    output = tmp_path / "out"
    process = batch(ray_address, output, IMAGES, VIDEO, wait=False)
    _wait_for_segments(output, 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    done = len(list((output / "segments").rglob("*.parquet")))
    assert 2 <= done < 6 and not (output / "summary.parquet").exists()
    code, out, err = batch(ray_address, output, IMAGES, VIDEO)
    assert code == 0, err[-2000:]
    assert f"{done} units done before" in out
    for ours, expected in zip(tables(output), tables(uninterrupted[0])):
        pd.testing.assert_frame_equal(ours, expected)


def test_readme_ray_example_runs_without_tensorflow_in_workers(ray_address, tmp_path):
    import ray

    readme = (ROOT / "README.md").read_text()
    code = readme.split("Ray (this block runs in", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "talks").mkdir()
    (tmp_path / "talks" / "a.mp4").symlink_to(VIDEO)
    code = code.replace("fusion.onnx", str(model_file("fusion", "300W_LP"))).replace(
        "talks/*.mp4", str(tmp_path / "talks" / "*.mp4"))
    namespace = {}
    exec(code, namespace)
    (table,) = namespace["tables"]
    assert len(table) > 0 and set(table["source"]) == {"a"} and table["frame"].max() == 157

    @ray.remote(num_cpus=1)
    def tensorflow_loaded(predictor):
        import sys
        predictor(np.zeros((64, 64, 3), np.uint8))
        return "tensorflow" in sys.modules
    assert ray.get(tensorflow_loaded.remote(namespace["predictor"])) is False


@pytest.fixture
def s3_server():
    """An S3 server (moto) on loopback for one test, stopped after it: the URI options that reach it."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    server.stop()


def test_object_store_inputs_and_output_give_the_local_rows(ray_address, uninterrupted, s3_server, tmp_path,
                                                             monkeypatch):
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    store, _ = pyarrow.fs.FileSystem.from_uri(f"s3://fsanet?{s3_server}&allow_bucket_creation=true")
    store.create_dir("fsanet")
    for path in (*IMAGES.glob("*.jpg"), VIDEO):
        pyarrow.fs.copy_files(str(path), f"fsanet/in/{'photos/' * (path.suffix == '.jpg')}{path.name}",
                              destination_filesystem=store)
    with store.open_output_stream("fsanet/in/videos.txt") as f:
        f.write(b"obama.mp4\n")  # a manifest: relative to its own folder
    code, out, err = batch(ray_address, f"s3://fsanet/out?{s3_server}", f"s3://fsanet/in/photos?{s3_server}",
                           f"s3://fsanet/in/videos.txt?{s3_server}")
    assert code == 0, err[-2000:]
    assert "3 of 3 sources done: 160 frames" in out and "0 errors" in out
    pyarrow.fs.copy_files("fsanet/out", str(tmp_path / "out"), source_filesystem=store)
    ours, expected = tables(tmp_path / "out"), tables(uninterrupted[0])
    assert ours[0]["path"].str.startswith("s3://fsanet/in/").all()
    for ours_table, expected_table in zip(ours, expected):
        key = ["source", "frame", "x", "y"] if "frame" in ours_table else ["frames", "faces"]
        ours_table, expected_table = (t.drop(columns=[c for c in ("path", "source_id") if c in t])
                                      .sort_values(key).reset_index(drop=True) for t in (ours_table, expected_table))
        pd.testing.assert_frame_equal(ours_table, expected_table)


def test_gpus_asked_of_a_cluster_without_any_fail_in_one_line(ray_address, tmp_path):
    code, out, err = batch(ray_address, tmp_path / "out", IMAGES, flags=["--num-gpus", "pose=1"])
    assert code == 2
    assert err.strip().splitlines()[-1] == "error: --num-gpus pose=1: 1 pose worker(s) need 1 GPUs, the Ray cluster has 0"
    assert not (tmp_path / "out").exists()
