"""Draws docs/angles.png, the README's picture of the angle convention: a synthetic head (rendered in
the project's convention, ``fsanet.data.synthetic``) at rest and turned by +30 degrees of yaw, pitch and
roll in turn, with the head's axes and cube as the demo draws them (``fsanet.core.pose``).

    .venv/bin/python docs/angles.py
"""

from pathlib import Path

import cv2
import numpy as np

from fsanet.core.outputs import atomic_write
from fsanet.data.synthetic import render_head
from fsanet.video.drawing import draw_axes, draw_cube

SIZE = 200
POSES = [((0, 0, 0), "all zero"), ((30, 0, 0), "yaw +30"), ((0, 30, 0), "pitch +30"), ((0, 0, 30), "roll +30")]
NOTES = ["facing the camera", "turns to the image left", "looks up", "tilts clockwise"]


def panel(pose, title, note):
    head = render_head(*pose, size=SIZE, scale=1.3, background=np.full((SIZE, SIZE, 3), 235, np.uint8))
    centre = (SIZE / 2, SIZE / 2)
    draw_cube(head, *pose, centre, SIZE / 4, thickness=1)
    draw_axes(head, *pose, centre, SIZE / 2.6, thickness=3)
    caption = np.full((52, SIZE, 3), 255, np.uint8)
    cv2.putText(caption, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(caption, note, (8, 43), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
    return np.vstack([head, caption])


def main():
    image = np.hstack([np.pad(panel(p, t, n), ((0, 0), (4, 4), (0, 0)), constant_values=255)
                       for (p, t), n in zip(POSES, NOTES)])
    ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    with atomic_write(Path(__file__).with_name("angles.png")) as f:
        f.write(png.tobytes())


if __name__ == "__main__":
    main()
