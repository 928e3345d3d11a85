"""Plot yaw, pitch and roll over time per face track from a demo data file (.csv or .jsonl) as a PNG.

    fsanet demo clip.mp4 --data out/clip.csv --smooth
    fsanet plot out/clip.csv                      # writes out/clip.png
    fsanet plot out/clip.jsonl --output pose.png

One panel per angle, one colour per track; the band around a line is the fusion members' spread
(their standard deviation), and with smoothed values in the file the raw angles are drawn thin and
the smoothed ones bold. Time is the video's (seconds), or the frame index where the data has none.
"""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser):
    parser.add_argument("data", type=Path, help="a data file written by the demo's --data")
    parser.add_argument("--output", type=Path,
                        help="the PNG to write (default: the data file's name with .png)")
    parser.add_argument("--title", help="the figure's title (default: the data file's name)")


def run(args) -> int:
    from fsanet.errors import NothingFoundError
    from fsanet.core.outputs import check_output
    from fsanet.video.records import read_records
    output = check_output(args.output or args.data.with_suffix(".png"), "--output", suffixes={".png"})
    rows = read_records(args.data)
    if not rows:
        raise NothingFoundError(f"{args.data}: no face in this data file, nothing to plot")
    plot_tracks(rows, output, args.title or args.data.name)
    print(f"{len(rows)} records of {len({r['track'] for r in rows})} track(s) plotted to {output}")
    return 0


def plot_tracks(rows, output, title):
    """Draw ``rows`` (records as ``fsanet.video.records.read_records`` gives them) into a PNG, atomically."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fsanet.core.outputs import atomic_write
    from fsanet.core.pose import ANGLES

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
