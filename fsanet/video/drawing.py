"""Drawing on frames, apart from the pose maths (``fsanet.core.pose``): head axes (SPEC §8) or a cube,
and each face's box, track ID and angles."""

from __future__ import annotations

import cv2

from fsanet.core.pose import axis_endpoints, cube_corners


def draw_axes(image, yaw, pitch, roll, center, size, thickness=3):
    """Draw the head axes onto a BGR image in place (red x, green y, blue z)."""
    origin = tuple(int(round(c)) for c in center)
    for end, colour in zip(axis_endpoints(yaw, pitch, roll, center, size),
                           ((0, 0, 255), (0, 255, 0), (255, 0, 0))):
        cv2.line(image, origin, tuple(int(round(c)) for c in end), colour, thickness)
    return image


def draw_cube(image, yaw, pitch, roll, center, size, thickness=2):
    """Draw the head's cube onto a BGR image in place: the face side red, the back blue, the
    edges joining them green."""
    corners = [tuple(int(round(c)) for c in p) for p in cube_corners(yaw, pitch, roll, center, size)]
    for start, colour in ((4, (255, 0, 0)), (0, (0, 0, 255))):  # back first, face side on top
        for i in range(4):
            cv2.line(image, corners[start + i], corners[start + (i + 1) % 4], colour, thickness)
    for i in range(4):
        cv2.line(image, corners[i], corners[i + 4], (0, 255, 0), thickness)
    return image


DRAWINGS = {"axes": draw_axes, "cube": draw_cube}
"""How a pose can be drawn (the demo's ``--style``): name -> f(image, yaw, pitch, roll, center, size,
thickness), drawing in place."""


def draw_face(frame, record, draw_pose):
    """Pose (smoothed when there is), box, track ID and angles of one face."""
    x, y, w, h = record.box
    yaw, pitch, roll = record.smoothed or record.pose
    draw_pose(frame, yaw, pitch, roll, (x + w / 2, y + h / 2), size=w / 2,
                   thickness=max(1, round(w / 60)))
    cv2.rectangle(frame, (x, y), (x + w, y + h), (255, 255, 255), 1)
    track = "" if record.track is None else f"#{record.track} "
    cv2.putText(frame, f"{track}yaw {yaw:.0f} pitch {pitch:.0f} roll {roll:.0f}",
                (x, max(y - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 300), (255, 255, 255), 1,
                cv2.LINE_AA)


def draw_fps(frame, fps):
    cv2.putText(frame, f"{fps:.1f} FPS", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 255), 2,
                cv2.LINE_AA)
