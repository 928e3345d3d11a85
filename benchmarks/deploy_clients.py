"""Parity of the exported ONNX file in other clients: OpenCV DNN, and OpenVINO where it is installed
(`pip install openvino`; not a dependency), against the Keras model, in degrees (max |difference|), on
the 16 AFLW2000 sample crops at batch 1 and 16.

    FSANET_SHARED=../shared FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/deploy_clients.py

OpenVINO's CPU plugin runs in bfloat16 by default on CPUs that support it (its ``INFERENCE_PRECISION_HINT``
default); the file is only at parity with the hint set to f32.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

import fsanet
from fsanet.data.type1 import pair_type1_files, prepare_type1_sample

SHARED = Path(os.environ.get("FSANET_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))


def opencv_dnn(path):
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(x):
        net.setInput(x, "image")
        return net.forward("pose")
    return run


def openvino(path, hint):
    import openvino as ov
    compiled = ov.Core().compile_model(str(path), "CPU", {} if hint is None else {"INFERENCE_PRECISION_HINT": hint})
    return lambda x: compiled({"image": x})["pose"]


def main():
    pairs, _ = pair_type1_files(SHARED / "data" / "aflw2000_samples")
    crops = np.stack([prepare_type1_sample(jpg, mat)[0] for _, jpg, mat in pairs]).astype(np.float32)
    clients = {"OpenCV DNN": lambda path: opencv_dnn(path)}
    try:
        import openvino as ov
        cpu = ov.Core()
        print(f"OpenVINO {ov.__version__} on {cpu.get_property('CPU', 'FULL_DEVICE_NAME')}, default precision "
              f"{cpu.get_property('CPU', 'INFERENCE_PRECISION_HINT')}")
        clients["OpenVINO (default)"] = lambda path: openvino(path, None)
        clients["OpenVINO (f32 hint)"] = lambda path: openvino(path, "f32")
    except ImportError:
        print("OpenVINO not installed: left out")
    print(f"{'model':<10} {'client':<22} {'batch 1':>9} {'batch 16':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for name in ("capsule", "fusion"):
            model = fsanet.load_pretrained(name)
            expected = np.asarray(model(crops))
            path = fsanet.export(model, Path(folder) / f"{name}.onnx", "onnx")
            for client, make in clients.items():
                run = make(path)
                one = np.concatenate([run(crops[i:i + 1]) for i in range(len(crops))])
                print(f"{name:<10} {client:<22} {np.abs(one - expected).max():>9.2g} "
                      f"{np.abs(run(crops) - expected).max():>9.2g}")


if __name__ == "__main__":
    main()
