"""Shared fixtures. The one setting: FSANET_SHARED, the folder of reference material
(default: ``../shared`` beside the project root). Tests fail, never skip, when it is missing."""

import glob
import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FSANET_SHARED", ROOT.parent / "shared")).resolve()
OFFICIAL = SHARED / "official"

os.environ["FSANET_WEIGHTS_MIRROR"] = str(OFFICIAL)

# A suite started in the background by a non-interactive shell (`pytest > log &`) inherits Ctrl-C
# ignored, and so would every command it starts: the tests that send Ctrl-C would see it ignored.
# A handler here is reset to the default by exec, so children and in-process commands get Ctrl-C.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from fsanet.core.pose import pose_from_pose_para  # noqa: E402
from fsanet.faces.crop import landmark_crop  # noqa: E402
from fsanet.hub.pretrained import load_pretrained  # noqa: E402


@pytest.fixture(scope="session")
def shared():
    if not (OFFICIAL / "SHA256SUMS").is_file():
        pytest.fail(f"reference material not found at {SHARED}; set FSANET_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def aflw_samples(shared):
    """The 16 real AFLW2000 samples: authors' 64x64 crops (uint8 BGR) and [yaw, pitch, roll]."""
    crops, poses = [], []
    for image_path in sorted(glob.glob(str(shared / "data" / "aflw2000_samples" / "*.jpg"))):
        mat = scipy.io.loadmat(image_path[:-4] + ".mat")
        crops.append(landmark_crop(cv2.imread(image_path), mat["pt2d"]))
        poses.append(pose_from_pose_para(mat["Pose_Para"]))
    assert len(crops) == 16
    return np.stack(crops), np.stack(poses)


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory):
    """The cache (conversions for PosePredictor's backends) of this session, not the user's;
    subprocesses inherit it."""
    path = tmp_path_factory.mktemp("fsanet-cache")
    os.environ["FSANET_CACHE_DIR"] = str(path)
    return path


_MODELS = {}


@pytest.fixture(scope="session")
def pretrained(shared):
    """pretrained(name, protocol) -> the authors' model, built once per session."""
    def get(name, protocol="300W_LP"):
        if (name, protocol) not in _MODELS:
            _MODELS[(name, protocol)] = load_pretrained(name, protocol)
        return _MODELS[(name, protocol)]
    return get


def frozen_graph_path(shared, variant_name):
    return shared / "official" / "converted-models" / "tf" / f"{variant_name}.pb"


# Quiet runs: what a command must not print on stderr, and the environment to check it in.
NOISE = ("absl", "cudart", "cuInit", "CUDA", "oneDNN", "WARN:0")


def clean_env(**extra):
    """The user's environment without TensorFlow settings, plus the weights mirror."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(extra)
    return env


def assert_quiet(stderr):
    found = [word for word in NOISE if word in stderr]
    assert not found, f"stderr holds {found}:\n{stderr}"
