"""Runs mtcnn 0.0.9, the detector of the authors' BIWI scripts, on frames; for comparisons only.

    .venv/bin/python -m pip download mtcnn==0.0.9 --no-deps -d /tmp/m
    tar xzf /tmp/m/mtcnn-0.0.9.tar.gz -C /tmp/m
    PYTHONPATH=/tmp/m/mtcnn-0.0.9 .venv/bin/python benchmarks/mtcnn_009.py frames.npz faces.json

0.0.9 is TensorFlow 1 code: it runs here on ``tf.compat.v1`` in graph mode, in its own process (it
shares the ``mtcnn`` package name with 1.0.0, so PYTHONPATH puts it first). ``frames.npz`` holds ``frames`` (N, H, W, 3) uint8,
passed as they are; the JSON holds per frame the list of [x, y, w, h, confidence].
"""

import json
import os
import sys

import numpy as np


def main(frames_path, output_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    v1 = tf.compat.v1
    v1.disable_v2_behavior()
    v1.__version__ = tf.__version__
    sys.modules["tensorflow"] = v1
    import mtcnn
    from mtcnn.mtcnn import MTCNN
    if not mtcnn.__file__.startswith(os.environ.get("PYTHONPATH", "\0")):
        raise SystemExit(f"PYTHONPATH must name the unpacked mtcnn 0.0.9 source; found {mtcnn.__file__}")
    detector = MTCNN()  # the authors' call: 0.0.9's defaults
    faces = [[[*d["box"], float(d["confidence"])] for d in detector.detect_faces(frame)]
             for frame in np.load(frames_path)["frames"]]
    with open(output_path, "w") as f:
        json.dump(faces, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
