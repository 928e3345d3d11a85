"""The README's export parity table: max |exported file - Keras model| in degrees, each file run by its
own runtime (``fsanet.deploy.backends.ExportedModel``), at batch 1 and 7, on the 16 AFLW2000 sample crops and
on 7 random inputs (tests/test_export.py asserts the same figures stay <= 1e-3).

    FSANET_WEIGHTS_MIRROR=../shared/official .venv/bin/python benchmarks/export_parity.py \\
        --aflw ../shared/data/aflw2000_samples
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from fsanet.data.type1 import pair_type1_files, prepare_type1_sample
from fsanet.deploy.export import FORMAT_SUFFIXES, export
from fsanet.deploy.runners import ExportedModel
from fsanet.hub.pretrained import load_pretrained

MODELS = ("capsule", "var_capsule", "noS_capsule", "metric", "netvlad", "ssrnet_md", "fusion")
FORMATS = {"onnx": "ONNX (`onnxruntime.InferenceSession`)", "litert": "LiteRT (`Interpreter`)",
           "savedmodel": "SavedModel (`tf.saved_model.load`)"}


def max_difference(exported, model, images) -> float:
    expected = np.asarray(model(images))
    return max(float(np.abs(np.concatenate([exported(images[i:i + n]) for i in range(0, len(images), n)])
                            - expected).max()) for n in (1, 7))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aflw", type=Path, required=True, help="a folder of AFLW2000 .jpg + .mat pairs")
    args = parser.parse_args()
    crops = np.stack([prepare_type1_sample(jpg, mat)[0] for _, jpg, mat in pair_type1_files(args.aflw)[0]])
    crops = crops.astype(np.float32)
    random = np.random.default_rng(11).uniform(0, 255, (7, 64, 64, 3)).astype(np.float32)
    print("| model | " + " | ".join(FORMATS.values()) + " |")
    print("|---|" + "---:|" * len(FORMATS))
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            model = load_pretrained(name)
            cells = []
            for format in FORMATS:
                exported = ExportedModel(export(model, Path(folder) / f"{name}{FORMAT_SUFFIXES[format]}", format))
                cells.append(f"{max_difference(exported, model, crops):.1e} / "
                             f"{max_difference(exported, model, random):.1e}")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
