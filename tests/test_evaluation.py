"""Evaluation: the error measures against hand-computed cases, `fsanet test` / test.py end to end
(faithful to the authors' frozen graphs, labels stored as float64 change no score, plots, JSON),
the table presets, and named errors."""

import json

import numpy as np
import pytest
from conftest import ROOT, frozen_graph_path

import fsanet
from fsanet.cli import run_command
from fsanet.core.pose import pose_from_pose_para, pose_from_rotation, rotation_from_pose
from fsanet.data.npz import load_pose_npz, write_pose_npz
from fsanet.deploy.predictor import PosePredictor
from fsanet.experiments.config import load_preset
from fsanet.experiments.metrics import axis_errors, geodesic_errors, mean_absolute_error, pose_errors
from fsanet.hub.frozen_graph import FrozenGraph
from fsanet.model.variants import ALIASES, FUSIONS

# ---------------------------------------------------------------- the measures, by hand

def test_identical_rotations_give_zero():
    poses = np.array([[0.0, 0.0, 0.0], [35.0, -20.0, 10.0], [-80.0, 45.0, -60.0]])
    np.testing.assert_allclose(geodesic_errors(poses, poses), 0, atol=1e-6)
    np.testing.assert_allclose(axis_errors(poses, poses), 0, atol=1e-6)


@pytest.mark.parametrize("pitch,roll", [(0.0, 0.0), (20.0, -30.0), (-50.0, 70.0)])
def test_a_pure_10_degree_yaw_error_is_10_degrees_geodesic(pitch, roll):
    # R = Rx(p) Ry(-y) Rz(r): R_1^T R_2 = Rz(-r) Ry(-10°) Rz(r), a rotation by 10° whatever p and r.
    errors = geodesic_errors([[25.0, pitch, roll]], [[15.0, pitch, roll]])
    np.testing.assert_allclose(errors, [10.0], atol=1e-9)


def test_vector_errors_by_hand():
    # A yaw turn about the head's y axis moves its x and z axes by 10° and leaves y: MAEV 20/3.
    np.testing.assert_allclose(axis_errors([[10.0, 0, 0]], [[0.0, 0, 0]]), [[10, 0, 10]], atol=1e-9)
    # A roll turn (about z) moves x and y; a pitch turn (about x) moves y and z.
    np.testing.assert_allclose(axis_errors([[0, 0, 10.0]], [[0, 0, 0.0]]), [[10, 10, 0]], atol=1e-9)
    np.testing.assert_allclose(axis_errors([[0, 10.0, 0]], [[0, 0.0, 0]]), [[0, 10, 10]], atol=1e-9)
    summary = pose_errors([[10.0, 0, 0]], [[0.0, 0, 0]])
    assert summary["maev"] == pytest.approx(20 / 3) and summary["geodesic"] == pytest.approx(10)
    assert summary["mae"] == pytest.approx(10 / 3) and summary["maev_axes"]["y"] == pytest.approx(0)


def test_rotation_errors_see_through_gimbal_lock():
    # At yaw 90° pitch and roll turn about the same axis: Rx(p) Ry(-90°) Rz(r) = Rx(p - r) Ry(-90°).
    # (90, 10, 10) is the rotation (90, 0, 0): Euler MAE 6.67°, geodesic 0°.
    assert mean_absolute_error([[90, 10, 10]], [[90, 0, 0]])[3] == pytest.approx(20 / 3)
    np.testing.assert_allclose(geodesic_errors([[90, 10, 10]], [[90, 0, 0]]), [0], atol=1e-6)
    # (90, 0, 10) vs (90, 10, 0): Rx(-10°) vs Rx(10°): 20° apart, where the Euler MAE says 6.67°.
    np.testing.assert_allclose(geodesic_errors([[90, 0, 10]], [[90, 10, 0]]), [20], atol=1e-6)


def test_no_wrap_leniency():
    # 179° against -179°: the angles differ by 358°, and MAE says so (no 360° wrap).
    assert mean_absolute_error([[179.0, 0, 0]], [[-179.0, 0, 0]])[0] == pytest.approx(358)
    # A sign flip of a 90° pitch is a 180° rotation, not 0.
    np.testing.assert_allclose(geodesic_errors([[0, 90.0, 0]], [[0, -90.0, 0]]), [180], atol=1e-6)


def test_pose_from_rotation_inverts_rotation_from_pose():
    poses = np.random.default_rng(0).uniform(-89, 89, (200, 3))
    rotations = rotation_from_pose(poses[:, 0], poses[:, 1], poses[:, 2])
    assert rotations.shape == (200, 3, 3)
    np.testing.assert_allclose(pose_from_rotation(rotations), poses, atol=1e-9)
    np.testing.assert_allclose(rotations[7], rotation_from_pose(*poses[7]), atol=0)


# ---------------------------------------------------------------- the command

def test_fusion_matches_the_frozen_graphs(shared, tmp_path, aflw_samples, capsys):
    crops, poses = aflw_samples
    write_pose_npz(tmp_path / "aflw16.npz", crops, poses)
    assert run_command("test", ["--models", "capsule", "fusion", "--test", str(tmp_path / "aflw16.npz"),
                                "--metrics", "geodesic,maev", "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "size (MB)" in out and "geodesic" in out and "MAEV" in out
    report = json.loads((tmp_path / "out.json").read_text())
    frozen = np.mean([FrozenGraph(frozen_graph_path(shared, fsanet.get_variant(a).name))(crops.astype("float32"))
                      for a in ("capsule", "var_capsule", "noS_capsule")], axis=0)
    fusion = report["models"]["fusion"]["aflw16"]
    np.testing.assert_allclose(fusion["predictions"], frozen, atol=1e-3)
    # the paper's per-angle MAE is unchanged: the plain mean of |prediction - label| per angle
    per_angle = np.abs(frozen - poses).mean(axis=0)
    np.testing.assert_allclose([fusion["yaw"], fusion["pitch"], fusion["roll"]], per_angle, atol=1e-3)
    assert fusion["mae"] == pytest.approx(per_angle.mean(), abs=1e-3)
    assert fusion["geodesic"] == pytest.approx(geodesic_errors(frozen, poses).mean(), abs=1e-2)
    assert fusion["maev"] == pytest.approx(axis_errors(frozen, poses).mean(), abs=1e-2)
    assert f"{fusion['geodesic']:.2f}" in out
    assert report["test_sets"]["aflw16"]["samples"] == 16
    assert sum(b["count"] for b in fusion["yaw_bins"].values()) == 16


def test_float64_labels_round_trip(shared, tmp_path, capsys):
    """prepare-type1 stores the labels as float64 (as the authors did), loading gives float32, and
    test scores them as before (float32 labels) to 1e-4."""
    source = shared / "data" / "aflw2000_samples"
    assert run_command("prepare-type1", ["--input", str(source), "--output", str(tmp_path / "AFLW2000.npz"),
                                         "--workers", "1"]) == 0
    with np.load(tmp_path / "AFLW2000.npz") as npz:
        stored, names = npz["pose"], npz["name"]
    assert stored.dtype == np.float64
    import scipy.io
    for pose, name in zip(stored, names):
        np.testing.assert_array_equal(pose, pose_from_pose_para(scipy.io.loadmat(source / f"{name}.mat")["Pose_Para"]))
    assert names.tolist() == sorted(p.stem for p in source.glob("*.jpg"))
    images, loaded = load_pose_npz(tmp_path / "AFLW2000.npz")
    assert loaded.dtype == np.float32 and images.dtype == np.uint8
    np.savez(tmp_path / "before.npz", image=images, pose=stored.astype(np.float32), img_size=np.int64(64))
    for name in ("AFLW2000", "before"):
        assert run_command("test", ["--models", "fusion", "--test", str(tmp_path / f"{name}.npz"),
                                    "--json", str(tmp_path / f"{name}.json")]) == 0
    after, before = (json.loads((tmp_path / f"{n}.json").read_text())["models"]["fusion"]
                     for n in ("AFLW2000", "before"))
    for key in ("yaw", "pitch", "roll", "mae", "geodesic", "maev"):
        assert after["AFLW2000"][key] == pytest.approx(before["before"][key], abs=1e-4)


def test_flip_average_scores_each_image_with_its_mirror_and_says_so(tmp_path, aflw_samples, pretrained, capsys):
    crops, poses = aflw_samples
    write_pose_npz(tmp_path / "aflw16.npz", crops, poses)
    args = ["--models", "capsule", "--test", str(tmp_path / "aflw16.npz"), "--json", str(tmp_path / "r.json")]
    assert run_command("test", args + ["--flip-average"]) == 0
    assert "scored with --flip-average" in capsys.readouterr().out
    written = json.loads((tmp_path / "r.json").read_text())
    predictions = written["models"]["capsule"]["aflw16"]["predictions"]
    assert written["flip_average"] is True
    want = PosePredictor(pretrained("capsule"), flip_average=True)(crops)
    np.testing.assert_allclose(predictions, want, atol=1e-3)
    assert run_command("test", args) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert "--flip-average" not in heading
    # a test set given by hand follows no protocol: the line says whose checkpoints, and the runtime
    assert heading.startswith("released models: protocol 1's checkpoints (trained on 300W_LP); run on ")
    assert written["models"]["capsule"]["backend"] in heading


def test_plots_are_written(tmp_path, aflw_samples, capsys):
    crops, poses = aflw_samples
    write_pose_npz(tmp_path / "aflw16.npz", crops, poses)
    spec = f"fusion:{ROOT / 'x.h5'}"  # a label that is not a file name
    from fsanet.experiments.plots import file_stem, write_plots
    assert "/" not in file_stem(spec) and file_stem("capsule") == "capsule"
    assert run_command("test", ["--models", "capsule", "var_capsule", "--test", str(tmp_path / "aflw16.npz"),
                                "--plot", str(tmp_path / "plots")]) == 0
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert written == ["aflw16_capsule_scatter.png", "aflw16_mae_by_yaw.png", "aflw16_var_capsule_scatter.png"]
    for name in written:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a missing prediction (a face a baseline did not find) is left out of the scatter
    results = {"dlib68": {"size_mb": 1.0, "s": {"yaw_bins": {b: {"count": 1, "mae": None if b == "60-99" else 2.0}
                                                           for b in ("0-30", "30-60", "60-99")},
                                                "predictions": [[1, 2, 3], None], "missed": ["b"]}}}
    paths = write_plots(results, {}, {"s": np.zeros((2, 3))}, tmp_path / "more")
    assert [p.name for p in paths] == ["s_mae_by_yaw.png", "s_dlib68_scatter.png"]


@pytest.mark.large
def test_test_py_is_the_command(tmp_path, aflw_samples):
    import subprocess
    import sys
    crops, poses = aflw_samples
    write_pose_npz(tmp_path / "aflw16.npz", crops, poses)
    result = subprocess.run([sys.executable, str(ROOT / "test.py"), "--models", "capsule", "--test",
                             str(tmp_path / "aflw16.npz"), "--no-angle-filter"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "aflw16" in result.stdout and "capsule" in result.stdout


def test_errors_are_named(tmp_path, capsys):
    np.savez(tmp_path / "nokey.npz", image=np.zeros((1, 64, 64, 3), np.uint8))
    write_pose_npz(tmp_path / "wild.npz", np.zeros((2, 64, 64, 3), np.uint8), np.full((2, 3), 150.0))
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    write_pose_npz(tmp_path / "ok.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "typo.toml").write_text('protocol = "BIWI"\nmodels = ["fusion"]\ntest = ["a.npz"]\nmodel = 1\n')
    ok = str(tmp_path / "ok.npz")
    cases = [
        (["--models", "capsule", "--test", str(tmp_path / "nokey.npz")], "missing key(s) ['pose']"),
        (["--models", "capsule", "--test", str(tmp_path / "wild.npz")], "no test sample left after the ±99° filter"),
        (["--models", "capsul", "--test", ok], "capsul: not a model: give a released name"),
        (["--models", str(tmp_path / "broken.keras"), "--test", ok], "broken.keras: not a readable .keras model"),
        (["--preset", str(tmp_path / "none.toml")], "none.toml: preset file not found"),
        (["--preset", str(tmp_path / "typo.toml")], "typo.toml: unknown key(s) ['model']"),
        (["--models", "dlib68"], "dlib68 needs whole images: give --raw-test"),
        (["--models", "dlib68", "--test", ok, "--raw-test", str(tmp_path)], "--test npz files are read by models only"),
        (["--models", "capsule", "--test", str(tmp_path / "empty")],
         "--test " + str(tmp_path / "empty") + ": a folder, not an npz file; give raw AFLW2000-style"),
        (["--models", "capsule", "--preset", str(PRESETS[1]), "--raw-dir", str(tmp_path)], "read by baselines only"),
        (["--models", "capsule"], "give --test npz files or --raw-test folders (or --preset) for capsule"),
        (["--models", "dlib68", "--raw-test", str(tmp_path / "nowhere")], "nowhere: not a directory"),
        (["--models", "dlib68", "--raw-test", str(tmp_path / "empty")],
         "empty: neither an AFLW2000-style folder (.jpg + .mat) nor a BIWI hpdb root"),
    ]
    for args, message in cases:
        assert run_command("test", args) == 2, args
        assert message in capsys.readouterr().err
    assert run_command("test", ["--models", "capsule", "--test", ok, "--metrics", "geodesic,angles"]) == 2
    assert "--metrics: invalid comma-separated list of geodesic, maev value" in capsys.readouterr().err


# ---------------------------------------------------------------- the presets

PRESETS = sorted(p for p in (ROOT / "configs").rglob("*.toml") if p.name in ("evaluate.toml", "ablation.toml"))


def test_presets_name_runnable_rows_and_published_figures():
    assert [p.relative_to(ROOT / "configs").as_posix() for p in PRESETS] == [
        "protocol1/ablation.toml", "protocol1/evaluate.toml", "protocol2/ablation.toml", "protocol2/evaluate.toml"]
    for path in PRESETS:
        preset = load_preset(path)
        rows = preset.models + preset.baselines
        assert all(m in ALIASES or m in FUSIONS for m in preset.models), path
        tests = {t.removesuffix(".npz") for t in preset.test}
        assert set(preset.published) <= tests | set(preset.raw_test), path
        for figures in preset.published.values():
            assert set(figures) <= set(rows), path
            assert all(len(f) in (1, 4) for f in figures.values()), path
        if "fusion" in rows:  # the paper's headline row, with its per-angle figures
            assert all(len(figures["fusion"]) == 4 for figures in preset.published.values()), path


def test_ablation_presets_cover_every_released_scoring_and_aggregation():
    one = load_preset(ROOT / "configs" / "protocol1" / "ablation.toml").models
    two = load_preset(ROOT / "configs" / "protocol2" / "ablation.toml").models
    grid = [prefix + aggregation for aggregation in ("capsule", "netvlad", "metric") for prefix in ("noS_", "", "var_")]
    assert set(grid) <= set(two) and {"fusion", "netvlad_fusion", "metric_fusion"} <= set(two)
    # 300W-LP: no noS_netvlad checkpoint was released and var_netvlad's holds only NaN (SPEC §4)
    assert set(grid) - set(one) == {"noS_netvlad", "var_netvlad"} and {"fusion", "metric_fusion"} <= set(one)
    published = load_preset(ROOT / "configs" / "protocol1" / "evaluate.toml").published
    assert published["AFLW2000"]["dlib68"] == [23.1, 13.6, 10.5, 15.8]
    assert published["BIWI_noTrack"]["dlib68"] == [16.8, 13.8, 6.19, 12.2]


# ---------------------------------------------------------------- raw folders for every model

@pytest.mark.large
def test_models_score_a_raw_aflw2000_folder_as_its_prepared_npz(shared, tmp_path, capsys):
    """Hopenet's habit: score a model on the raw AFLW2000 folder. The type1 crops are made in memory:
    the same predictions as on the npz prepare-type1 writes."""
    folder = shared / "data" / "aflw2000_samples"
    assert run_command("prepare-type1", ["--input", str(folder), "--output", str(tmp_path / "a.npz")]) == 0
    assert run_command("test", ["--models", "capsule", "dlib68", "--raw-test", f"AFLW2000={folder}",
                                "--json", str(tmp_path / "raw.json")]) == 0
    assert "16 crops scored by the models" in capsys.readouterr().out
    assert run_command("test", ["--models", "capsule", "--test", str(tmp_path / "a.npz"),
                                "--json", str(tmp_path / "npz.json")]) == 0
    raw, npz = (json.loads((tmp_path / f"{n}.json").read_text())["models"] for n in ("raw", "npz"))
    assert raw["capsule"]["AFLW2000"]["predictions"] == npz["capsule"]["a"]["predictions"]
    assert "AFLW2000" in raw["dlib68"]  # the baseline on the same folder, its whole images


@pytest.mark.large
def test_models_score_a_raw_biwi_hpdb_folder(shared, tmp_path, capsys):
    import cv2
    from test_biwi import write_frame

    from fsanet.experiments.baselines import load_raw_test_set
    aflw = load_raw_test_set(shared / "data" / "aflw2000_samples")
    for i, sample in enumerate(aflw.samples):
        write_frame(tmp_path / "hpdb" / f"{1 + i // 8:02d}", i, cv2.imread(str(sample.image)), sample.pose)
    assert run_command("test", ["--models", "capsule", "--raw-test", f"BIWI={tmp_path / 'hpdb'}",
                                "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "r.json").read_text())["models"]["capsule"]["BIWI"]
    scored = len(result["predictions"])
    assert f"16 images, 0 outside ±99° dropped, 0 unusable; {scored} crops scored by the models" in out
    assert 10 <= scored <= 16 and result["mae"] < 10  # measured: 13 faces found by MTCNN, MAE 3.60


@pytest.mark.large
def test_a_test_set_not_asked_for_is_never_read(tmp_path, capsys):
    """--raw-dir R failed on R/hpdb when BIWI was not being tested; --test replaces the preset's sets."""
    write_pose_npz(tmp_path / "ok.npz", np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 3)))
    preset = ROOT / "configs" / "protocol1" / "evaluate.toml"
    assert run_command("test", ["--preset", str(preset), "--models", "capsule", "--test", str(tmp_path / "ok.npz"),
                                "--raw-dir", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "nowhere")]) == 0
    out = capsys.readouterr().out
    assert "\nok\n" in out and "\nAFLW2000\n" not in out and "\nBIWI_noTrack\n" not in out


def test_the_table_keeps_its_columns_for_a_long_method_name():
    from fsanet.experiments.evaluation import format_table
    score = {"yaw": 1.0, "pitch": 2.0, "roll": 3.0, "mae": 2.0}
    long = "/tmp/some/long/folder/runs/protocol1/capsule/final.keras"
    table = format_table({long: {"size_mb": 0.95, "a": score}, "capsule": {"size_mb": 0.95, "a": score}}, ["a"])
    header, rule, *rows = table.strip().splitlines()[1:]
    assert len({len(header), len(rule), *map(len, rows)}) == 1  # every row as wide as the header
    assert all(row.endswith("    1.00    2.00    3.00    2.00") for row in rows)
