"""Export a model to a SavedModel, LiteRT (.tflite), ONNX or TF.js model that runs without fsanet.

    fsanet export fusion --format onnx --output fusion.onnx
    fsanet export capsule --protocol BIWI --format litert --output capsule_biwi.tflite
    fsanet export fusion --format litert --int8 --output fusion_int8.tflite
    fsanet export runs/capsule/final.keras --format savedmodel --output capsule_savedmodel
    fsanet export fusion --format tfjs --output fusion_tfjs

Every file takes `image`, float32 (N, 64, 64, 3) BGR 0..255 face crops, and gives `pose`, float32
(N, 3) yaw, pitch, roll in degrees, and carries the model's variant, protocol, source-weight SHA-256,
fsanet version and angle convention as metadata. After writing, the file is run by its own runtime
and compared with the Keras model; the largest difference is printed (a TF.js folder's graph is run
by TensorFlow: TF.js itself runs in browsers and Node).
"""

from __future__ import annotations

from pathlib import Path

from fsanet.commands import add_protocol_argument
from fsanet.deploy.export import FORMAT_SUFFIXES, FORMATS


def add_arguments(parser):
    parser.add_argument("model", help="any model spec: released name or alias, fusion, fusion:a,b,c, "
                                      ".keras or authors' .h5")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="onnx (.onnx), litert (.tflite), savedmodel or tfjs (folders)")
    parser.add_argument("--output", required=True, type=Path,
                        help="the file (.onnx, .tflite) or folder (savedmodel, tfjs) to write")
    add_protocol_argument(parser)
    parser.add_argument("--int8", nargs="?", const="synthetic", metavar="CROPS",
                        help="litert only: quantise to int8, calibrating on 'synthetic' heads "
                             "(the default) or a folder of face-crop images")


def run(args) -> int:
    import numpy as np

    from fsanet.core.outputs import check_output
    from fsanet.data.calibration import representative_crops
    from fsanet.deploy.backends import parity_difference
    from fsanet.deploy.export import check_replaceable, export
    from fsanet.deploy.runners import ExportedModel, TFJSGraphRunner
    from fsanet.errors import ExportError
    from fsanet.hub.specs import check_spec

    suffix = FORMAT_SUFFIXES[args.format]
    if suffix and args.output.suffix != suffix:
        raise ExportError(f"--output {args.output}: {args.format} files end in {suffix}")
    if not suffix and args.output.suffix in (".onnx", ".tflite"):
        raise ExportError(f"--output {args.output}: a {args.format} export is a folder; drop the suffix")
    check_spec(args.model)
    check_output(args.output, "--output", folder=not suffix)
    check_replaceable(args.output, args.format, "--output")
    crops = None if args.int8 is None else representative_crops(args.int8)  # once: calibration and report
    from fsanet.hub.model_spec import resolve_model, source_metadata  # TensorFlow loads here, after the checks
    model = resolve_model(args.model, args.protocol)
    export(model, args.output, args.format, metadata=source_metadata(args.model, args.protocol), int8=crops)
    runner = TFJSGraphRunner(args.output) if args.format == "tfjs" else ExportedModel(args.output).runner
    if args.int8 is None:
        print(f"wrote {args.output} ({args.format}); max |difference| to the Keras model "
              f"{parity_difference(model, runner):.2g} degrees on check inputs")
        return 0
    change = np.abs(runner(crops) - np.asarray(model(crops, training=False)))
    crops_are = ("synthetic heads (drawn, not faces: on real face crops the change is smaller; see the "
                 "README's int8 table)") if args.int8 == "synthetic" else "crops"
    print(f"wrote {args.output} (litert, int8); change to the float model on the {len(crops)} "
          f"calibration {crops_are}: mean {change.mean():.2f}, max {change.max():.2f} degrees")
    return 0
