"""Paper Figure 5: heatmaps of the rows of the fine-grained structure maps S_k = C M_k over a face,
for the 1x1-conv and the variance scoring models.

    python demo/structure_heatmaps.py --image face.jpg --output out/figure5.png
    python demo/structure_heatmaps.py                        # the built-in astronaut photo

The face is found with MTCNN and cropped the demo's way (margin 0.6), unless --crop says the image
already is a face crop. One block per model: a row per stage k, the face then one cell per row of S_k.
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsanet.crop import crop_and_resize, detection_box  # noqa: E402
from fsanet.demo import (InputError, default_image, fine_grained_structure_maps,  # noqa: E402
                         heatmap_panel, read_image, write_image)
from fsanet.pretrained import load_pretrained  # noqa: E402


def face_crop(image, is_crop):
    if is_crop:
        return cv2.resize(image, (64, 64))
    from fsanet.detectors import MTCNNDetector
    faces = MTCNNDetector()(image)
    if not faces:
        raise InputError("no face found (pass --crop if the image is already a face crop)")
    height, width = image.shape[:2]
    best = max(faces, key=lambda f: f.box[2] * f.box[3])
    return crop_and_resize(image, detection_box(best.box, width, height))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="a face image (default: the built-in astronaut photo)")
    parser.add_argument("--crop", action="store_true", help="the image is already a face crop")
    parser.add_argument("--output", type=Path, default=Path("out/figure5.png"))
    parser.add_argument("--models", nargs="+", default=["capsule", "var_capsule"])
    parser.add_argument("--protocol", default="300W_LP")
    args = parser.parse_args(argv)
    try:
        image = read_image(args.image) if args.image else default_image()
        crop = face_crop(image, args.crop)
        panels = [heatmap_panel(crop, fine_grained_structure_maps(load_pretrained(m, args.protocol), crop))
                  for m in args.models]
    except (InputError, KeyError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    gap = np.full((8, panels[0].shape[1], 3), 255, np.uint8)
    write_image(args.output, np.vstack([p for panel in panels for p in (panel, gap)][:-1]))
    print(f"wrote {args.output}: models {', '.join(args.models)}, rows = stages 1-3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
