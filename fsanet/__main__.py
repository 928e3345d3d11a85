"""Head pose of every face in images: ``python -m fsanet [IMAGE ...]``.

Detects faces (MTCNN), crops them the authors' way (margin 0.6, min-max normalised), predicts yaw,
pitch and roll with a released model (the FSA-Caps-Fusion by default), prints the angles and writes
each image annotated with head axes. Without arguments it runs on scikit-image's public-domain
``astronaut`` photo, so it works with no files of your own.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np


def _default_image():
    from skimage.data import astronaut
    return "skimage.data.astronaut", cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


def _read_image(path):
    if not os.path.isfile(path):
        raise ValueError(f"{path}: file not found")
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    return image


def write_image(path: Path, image):
    """Encode first, then write atomically: a crash never leaves a half-written file."""
    from fsanet.io import atomic_write
    ok, data = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise ValueError(f"{path}: cannot encode an image with this extension")
    with atomic_write(path) as f:
        f.write(data.tobytes())


def annotate(image, detector, predictor):
    """[(face, angles)] for every detected face; draws axes and angles onto ``image``."""
    from fsanet.crop import crop_and_resize, detection_box
    from fsanet.pose import draw_axes
    height, width = image.shape[:2]
    faces = detector(image)
    if not faces:
        return []
    crops = [crop_and_resize(image, detection_box(f.box, width, height)) for f in faces]
    angles = predictor(crops)
    for face, (yaw, pitch, roll) in zip(faces, angles):
        x, y, w, h = face.box
        draw_axes(image, yaw, pitch, roll, (x + w / 2, y + h / 2), size=w / 2,
                  thickness=max(1, int(round(w / 60))))
        cv2.rectangle(image, (x, y), (x + w, y + h), (255, 255, 255), 1)
        cv2.putText(image, f"y{yaw:.0f} p{pitch:.0f} r{roll:.0f}", (x, max(y - 6, 12)),
                    cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 250), (255, 255, 255), 1, cv2.LINE_AA)
    return list(zip(faces, angles))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fsanet", description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="image files (default: a built-in photo)")
    parser.add_argument("--model", default="fusion", help="variant or fusion name (default: fusion)")
    parser.add_argument("--protocol", default="300W_LP", help="300W_LP (default) or BIWI weights")
    parser.add_argument("--output-dir", type=Path, default=Path("out"),
                        help="where annotated images go (default: ./out)")
    args = parser.parse_args(argv)

    from fsanet.inference import PosePredictor, configure_cpu_threads
    try:
        configure_cpu_threads()
    except RuntimeError:
        pass  # TensorFlow already runs in this process (called from Python): keep its thread pools
    from fsanet.detectors import MTCNNDetector
    from fsanet.pretrained import load_pretrained

    try:
        predictor = PosePredictor(load_pretrained(args.model, args.protocol), normalize=True)
    except (KeyError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    detector = MTCNNDetector()
    status = 0
    for source in args.images or [None]:
        try:
            name, image = _default_image() if source is None else (source, _read_image(source))
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
            continue
        results = annotate(image, detector, predictor)
        if not results:
            print(f"{name}: no face found")
            status = max(status, 1)
            continue
        for i, (face, (yaw, pitch, roll)) in enumerate(results):
            print(f"{name}: face {i} box {face.box}: yaw {yaw:+.1f}, pitch {pitch:+.1f}, "
                  f"roll {roll:+.1f} degrees")
        out = args.output_dir / f"{Path(name).stem if source else 'astronaut'}_pose.jpg"
        write_image(out, image)
        print(f"{name}: annotated image written to {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
