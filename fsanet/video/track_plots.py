"""Yaw, pitch and roll over time per face track, from the records of a demo data file, as a PNG
(matplotlib's Agg renderer, imported when a plot is drawn)."""

from __future__ import annotations

import io

import numpy as np

from fsanet.core.outputs import atomic_write
from fsanet.core.pose import ANGLES


def plot_tracks(rows, output, title):
    """Draw ``rows`` (records as ``fsanet.video.records.read_records`` gives them) into a PNG, atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = all(r["time"] is not None for r in rows)
    tracks = sorted({r["track"] for r in rows})
    figure, axes = plt.subplots(len(ANGLES), 1, sharex=True, figsize=(9, 6.5), dpi=100)
    for index, track in enumerate(tracks):
        own = sorted((r for r in rows if r["track"] == track), key=lambda r: r["frame"])
        x = np.array([r["time"] if timed else r["frame"] for r in own], np.float64)
        colour = f"C{index % 10}"
        for axis, angle in zip(axes, ANGLES):
            raw = np.array([r[angle] for r in own], np.float64)
            smoothed = [r.get(f"{angle}_smoothed") for r in own]
            spread = [r.get(f"{angle}_spread") for r in own]
            if None not in spread:
                spread = np.array(spread, np.float64)
                axis.fill_between(x, raw - spread, raw + spread, color=colour, alpha=0.2, linewidth=0)
            if None not in smoothed:
                axis.plot(x, raw, color=colour, linewidth=0.7, alpha=0.6)
                axis.plot(x, smoothed, color=colour, linewidth=1.8, label=f"track {track}")
            else:
                axis.plot(x, raw, color=colour, linewidth=1.2, label=f"track {track}")
    for axis, angle in zip(axes, ANGLES):
        axis.set_ylabel(f"{angle} (degrees)")
        axis.grid(True, alpha=0.3)
    axes[0].legend(loc="upper right", fontsize="small", ncol=min(len(tracks), 6))
    axes[-1].set_xlabel("time (s)" if timed else "frame")
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    with atomic_write(output) as f:
        f.write(buffer.getvalue())
