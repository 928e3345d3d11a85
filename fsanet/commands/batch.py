"""Head pose over many photos and videos on Ray Data: Parquet rows, a summary and the errors.

    fsanet batch photos/ lectures/*.mp4 manifest.txt --output results/
    fsanet batch archive.csv --output results/ --address auto          # on a running Ray cluster

INPUT: files, folders, globs, or manifests (.txt: a path a line; .csv: a ``path`` column or the first).
Writes under --output: rows/source_id=<source>/rows.parquet (the --data columns and the input's path),
summary.parquet (per source), errors.parquet (inputs that failed: a bad file never stops the job),
and segments/ (each finished unit of work: a job started again with the same --output skips them).
Long videos are cut into --segment-frames segments analysed side by side; track IDs are stitched
across the cuts, smoothing restarts at each. Exit 0: done; 1: some input failed (see errors.parquet).
"""

from __future__ import annotations

from pathlib import Path

from fsanet.commands import add_protocol_argument, positive_int
from fsanet.faces.detectors import DETECTORS


def add_arguments(parser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs or manifests")
    parser.add_argument("--output", required=True, type=Path, help="folder for the tables")
    parser.add_argument("--model", default="fusion", help="model spec or an exported .onnx (default: fusion)")
    add_protocol_argument(parser)
    parser.add_argument("--detector", choices=list(DETECTORS),
                        help="face detector (default: dlib for videos, mtcnn_cascade for photos)")
    parser.add_argument("--every", type=positive_int, default=10, help="videos: detect every N frames")
    parser.add_argument("--smooth", action="store_true", help="videos: add One-Euro-smoothed angles")
    parser.add_argument("--segment-frames", type=positive_int, default=500,
                        help="frames per video segment, a multiple of --every (default 500)")
    parser.add_argument("--workers", type=positive_int, help="pose actors (default: the CPUs / --num-cpus)")
    parser.add_argument("--num-cpus", type=positive_int, default=1, help="CPUs per actor (default 1)")
    parser.add_argument("--num-gpus", type=float, default=0, help="GPUs per actor (default 0)")
    parser.add_argument("--address", help="a Ray cluster: auto or ray://HOST:PORT (default: a local Ray)")


def run(args) -> int:
    from fsanet.batch.job import run_batch
    from fsanet.core.outputs import check_output

    check_output(args.output, "--output", folder=True)
    result = run_batch(args.inputs, args.output, args.model, args.protocol, args.every, args.smooth,
                       args.segment_frames, args.workers, args.num_cpus, args.num_gpus, args.address,
                       args.detector)
    return 1 if result["errors"] else 0
