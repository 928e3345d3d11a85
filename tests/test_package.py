"""The package as a user meets it: a wheel installed into a fresh venv, one `fsanet` command whose
`--help` imports nothing heavy, a quiet start, and `import fsanet` without side effects."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import NOISE, assert_quiet, clean_env

from fsanet.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def run(args, cwd, env, timeout=600):
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}  # the checkout must not be seen through it
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_import_has_no_side_effects():
    code = ("import os, sys; before = dict(os.environ); import fsanet; "
            "assert dict(os.environ) == before, 'environment changed'; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
            "assert callable(fsanet.PosePredictor) and 'tensorflow' not in sys.modules; "  # TF-free for exported files
            "assert callable(fsanet.build_model) and 'tensorflow' in sys.modules")
    result = run([sys.executable, "-c", code], ROOT, clean_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_nothing_heavy(command):
    """What makes `--help` instant: no TensorFlow, Keras, mtcnn or dlib is imported to answer it."""
    args = ["--help"] if command is None else [command, "--help"]
    code = ("import sys; from fsanet.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'mtcnn', 'dlib') if m in sys.modules]\n"
            "assert not heavy, heavy")
    result = run([sys.executable, "-c", code], ROOT, clean_env())
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.large
def test_every_command_runs_quietly(shared, tmp_path):
    """A default run of each command, with no TF_* variable set, prints nothing from TensorFlow,
    absl, CUDA or OpenCV's native logging; `--verbose` lets it through."""
    env = clean_env(FSANET_WEIGHTS_MIRROR=str(shared / "official"))
    fsanet = [sys.executable, "-m", "fsanet"]
    runs = {
        "demo": fsanet + ["--output", str(tmp_path / "demo"), "--no-display"],
        "heatmaps": fsanet + ["heatmaps", "--output", str(tmp_path / "fig5.png")],
        "make-synthetic": fsanet + ["make-synthetic", "--output", str(tmp_path / "s.npz"), "--count", "40"],
        "prepare-type1": fsanet + ["prepare-type1", "--input", str(shared / "data" / "aflw2000_samples"),
                                   "--output", str(tmp_path / "aflw.npz"), "--workers", "1"],
        "test": fsanet + ["test", "--models", "capsule", "dlib68", "--test", str(tmp_path / "aflw.npz"),
                          "--raw-test", str(shared / "data" / "aflw2000_samples")],
        "video": fsanet + [str(shared / "data" / "video" / "obama.mp4"), "--output",
                           str(tmp_path / "obama.mp4"), "--no-display"],
    }
    for name, args in runs.items():
        result = run(args, tmp_path, env)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert_quiet(result.stderr)
    train = fsanet + ["train", str(ROOT / "configs" / "synthetic" / "capsule.toml"), "--data-dir", str(tmp_path),
                      "--train", "s.npz", "--validation", "s.npz", "--epochs", "1", "--output-dir", str(tmp_path / "runs")]
    result = run(train, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert_quiet(result.stderr)
    assert "\x1b[" not in result.stdout and "\b" not in result.stdout  # no progress-bar escapes in a pipe
    loud = run(fsanet + ["--output", str(tmp_path / "demo"), "--no-display", "--verbose"], tmp_path, env)
    assert loud.returncode == 0 and any(word in loud.stderr for word in NOISE)


@pytest.mark.large
def test_wheel_installs_into_a_fresh_venv_and_runs(shared, tmp_path):
    """`pip wheel .`, a new venv outside the checkout, `fsanet --help` and the default demo run from
    another folder. The venv borrows the already-installed dependencies (a .pth line) so the test
    needs no network; the wheel itself is installed with --no-deps."""
    source = tmp_path / "source"  # a copy, so that building leaves the checkout untouched
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", "out", "node_modules"))
    wheels = tmp_path / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                 str(source)], tmp_path, clean_env())
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("fsanet-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                     "--no-deps", "--no-index", str(wheel)], tmp_path, clean_env())
    assert installed.returncode == 0, installed.stderr
    # Only now (pip must not see the project's own installation through it) borrow the dependencies.
    site = Path(run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path, clean_env()).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(FSANET_WEIGHTS_MIRROR=str(shared / "official"), FSANET_CACHE_DIR=str(tmp_path / "cache"))
    command = str(venv / "bin" / "fsanet")
    where = run([str(venv / "bin" / "python"), "-c", "import fsanet; print(fsanet.__file__)"], elsewhere, env)
    assert str(venv) in where.stdout, where.stdout + where.stderr  # the wheel's copy, not the checkout
    helped = run([command, "--help"], elsewhere, env)
    assert helped.returncode == 0 and "commands:" in helped.stdout
    demo = run([command, "--no-display"], elsewhere, env)
    assert demo.returncode == 0, demo.stderr
    assert "yaw" in demo.stdout and (elsewhere / "out" / "astronaut_pose.jpg").is_file()
    assert_quiet(demo.stderr)


def test_a_mistyped_command_is_named(capsys):
    from fsanet.cli import main
    assert main(["tarin", "configs/protocol1/capsule.toml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'tarin'" in err and "train" in err


def test_every_flag_of_every_command_has_help():
    import argparse
    import importlib

    from fsanet.cli import COMMANDS
    for name, module in COMMANDS.items():
        parser = argparse.ArgumentParser()
        importlib.import_module(module).add_arguments(parser)
        assert not [a.option_strings or a.dest for a in parser._actions if a.help is None], name
