"""Paper Figure 5: heatmaps of the rows of the fine-grained structure maps S_k = C M_k over a face.

The face is found with MTCNN and cropped the demo's way (margin 0.6), unless --crop says the image
already is a face crop. One block per model (1x1-conv and variance scoring models have the maps):
a row per stage k, the face then one cell per row of S_k.
"""

from __future__ import annotations

from pathlib import Path

from fsanet.commands import add_protocol_argument


def add_arguments(parser):
    parser.add_argument("--image", help="a face image (default: the built-in astronaut photo)")
    parser.add_argument("--crop", action="store_true", help="the image is already a face crop")
    parser.add_argument("--output", type=Path, default=Path("out/figure5.png"),
                        help="the image to write (default out/figure5.png)")
    parser.add_argument("--models", nargs="+", default=["capsule", "var_capsule"],
                        help="model specs with a scoring function (default: capsule var_capsule)")
    add_protocol_argument(parser)


def _face_crop(image, is_crop, name):
    import cv2

    from fsanet.errors import NothingFoundError
    from fsanet.faces.crop import crop_and_resize, detection_box
    from fsanet.faces.detectors import MTCNNDetector
    from fsanet.model.variants import IMAGE_SIZE
    if is_crop:
        return cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE))
    faces = MTCNNDetector()(image)
    if not faces:
        raise NothingFoundError(f"{name}: no face found (pass --crop if the image is already a face crop)")
    height, width = image.shape[:2]
    best = max(faces, key=lambda f: f.box[2] * f.box[3])
    if len(faces) > 1:
        print(f"{name}: {len(faces)} faces found; showing the largest, box {best.box} (pass a crop with --crop "
              "for another)")
    return crop_and_resize(image, detection_box(best.box, width, height))


def run(args) -> int:
    import numpy as np

    from fsanet.core.images import IMAGE_SUFFIXES, read_image
    from fsanet.core.outputs import check_output
    from fsanet.hub.specs import check_spec
    from fsanet.video.media import default_image, write_image
    check_output(args.output, "--output", suffixes=IMAGE_SUFFIXES)
    image = read_image(args.image) if args.image else default_image()
    for spec in args.models:
        check_spec(spec)
    from fsanet.experiments.structure_maps import fine_grained_structure_maps, heatmap_panel
    from fsanet.hub.model_spec import resolve_model  # TensorFlow loads here, after the checks
    models = [resolve_model(m, args.protocol) for m in args.models]  # a bad spec is named before detection
    crop = _face_crop(image, args.crop, args.image or "the built-in photo")
    panels = [heatmap_panel(crop, fine_grained_structure_maps(model, crop), title=spec)
              for spec, model in zip(args.models, models)]
    gap = np.full((8, panels[0].shape[1], 3), 255, np.uint8)
    write_image(args.output, np.vstack([p for panel in panels for p in (panel, gap)][:-1]))
    print(f"wrote {args.output}: models {', '.join(args.models)}, each a labelled block: rows = stages 1-3, "
          "columns = the face, then the rows of its fine-grained structure map")
    return 0
