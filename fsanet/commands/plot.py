"""Plot yaw, pitch and roll over time per face track from a demo data file (.csv or .jsonl) as a PNG.

    fsanet demo clip.mp4 --data out/clip.csv --smooth
    fsanet plot out/clip.csv                      # writes out/clip.png
    fsanet plot out/clip.csv.partial              # a run cut short: also out/clip.png
    fsanet plot out/clip.jsonl --output pose.png

One panel per angle, one colour per track; the band around a line is the fusion members' spread
(their standard deviation), and with smoothed values in the file the raw angles are drawn thin and
the smoothed ones bold. Time is the video's (seconds), or the frame index where the data has none.
"""

from __future__ import annotations

from pathlib import Path

USES_TENSORFLOW = False


def add_arguments(parser):
    parser.add_argument("data", type=Path, help="a data file written by the demo's --data")
    parser.add_argument("--output", type=Path,
                        help="the PNG to write (default: the data file's name with .png, .partial dropped)")
    parser.add_argument("--title", help="the figure's title (default: the data file's name)")


def run(args) -> int:
    from fsanet.core.outputs import PARTIAL_SUFFIX, check_output
    from fsanet.core.progress import plural
    from fsanet.errors import NothingFoundError
    from fsanet.video.records import read_records
    from fsanet.video.track_plots import plot_tracks
    data = args.data.with_name(args.data.name.removesuffix(PARTIAL_SUFFIX))  # a cut run's: clip.csv.partial
    output = check_output(args.output or data.with_suffix(".png"), "--output", suffixes={".png"})
    rows = read_records(args.data)
    if not rows:
        raise NothingFoundError(f"{args.data}: no face in this data file, nothing to plot")
    plot_tracks(rows, output, args.title or args.data.name)
    print(f"{plural(len(rows), 'record')} of {plural(len({r['track'] for r in rows}), 'track')} plotted to {output}")
    return 0
