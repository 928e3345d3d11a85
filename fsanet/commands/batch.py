"""Head pose over many photos and videos on Ray Data: Parquet rows, a summary and the errors.

    fsanet batch photos/ lectures/*.mp4 manifest.txt --output results/
    fsanet batch archive.csv --output results/ --address auto          # on a running Ray cluster
    fsanet batch "s3://bucket/talks/*.mp4" --output s3://bucket/results --num-gpus pose=1

INPUT: files, folders, globs, or manifests (.txt: a path a line; .csv: a ``path`` column or the first),
local paths or URIs (s3://, gs://, ...: what pyarrow's filesystems read; options in the URI's query).
Stages: detect (decode, detect, track, crop), pose (the exported model), write; --workers,
--num-cpus and --num-gpus take N (every stage; GPUs: the pose stage) or STAGE=N[,STAGE=N].

Writes under --output: rows/source_id=<source>/rows.parquet (the --data columns and the input's path),
summary.parquet (per source), errors.parquet (inputs that failed: a bad file never stops the job),
and segments/ (each finished unit of work: a job started again with the same --output skips them).
Long videos are cut into --segment-frames segments analysed side by side; track IDs are stitched
across the cuts, smoothing restarts at each. Exit 0: done; 1: some input failed, each named on
stderr (the first ten) and in errors.parquet.
"""

from __future__ import annotations

import sys

from fsanet.batch.plan import per_stage
from fsanet.commands import add_protocol_argument, positive_int
from fsanet.faces.detectors import DETECTORS

SHOWN_ERRORS = 10
"""Failed inputs named on stderr; errors.parquet holds every one."""


def add_arguments(parser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs or manifests")
    parser.add_argument("--output", required=True, help="folder (a path or URI) for the tables")
    parser.add_argument("--model", default="fusion", help="model spec or an exported .onnx (default: fusion)")
    add_protocol_argument(parser)
    parser.add_argument("--detector", choices=list(DETECTORS),
                        help="face detector (default: dlib for videos, mtcnn_cascade for photos)")
    parser.add_argument("--every", type=positive_int, default=10, help="videos: detect every N frames")
    parser.add_argument("--smooth", action="store_true", help="videos: add One-Euro-smoothed angles")
    parser.add_argument("--flip-average", action="store_true",
                        help="average each face with its mirror image, as the demo's --flip-average")
    parser.add_argument("--segment-frames", type=positive_int, default=500,
                        help="frames per video segment, a multiple of --every (default 500)")
    parser.add_argument("--workers", type=lambda text: per_stage(text, "--workers"),
                        help="actors per stage (default: pose=1, detect= the CPUs left)")
    parser.add_argument("--num-cpus", type=lambda text: per_stage(text, "--num-cpus"),
                        help="CPUs per actor of each stage (default 1)")
    parser.add_argument("--num-gpus", type=lambda text: per_stage(text, "--num-gpus", ("pose",)),
                        help="GPUs per pose actor (default 0; ONNX Runtime's CUDA provider: onnxruntime-gpu)")
    parser.add_argument("--address", help="a Ray cluster: auto or ray://HOST:PORT (default: a local Ray)")


def run(args) -> int:
    from fsanet.batch import storage
    from fsanet.batch.job import run_batch
    from fsanet.core.outputs import check_output

    if storage.is_uri(args.output):
        storage.check_folder(args.output, "--output")
    else:
        check_output(args.output, "--output", folder=True)
    result = run_batch(args.inputs, args.output, args.model, args.protocol, args.every, args.smooth,
                       args.segment_frames, args.workers, args.num_cpus, args.num_gpus, args.address,
                       args.detector, flip_average=args.flip_average, verbose=args.verbose)
    for error in result["failed"][:SHOWN_ERRORS]:  # the rest are in errors.parquet, with these
        print(f"error: {error['path']}: {error['reason']} ({error['stage']})", file=sys.stderr)
    if len(result["failed"]) > SHOWN_ERRORS:
        print(f"error: {len(result['failed']) - SHOWN_ERRORS} more in "
              f"{storage.join(args.output, 'errors.parquet')}", file=sys.stderr)
    return 1 if result["errors"] else 0
