"""Prepare a 300W-LP split or an AFLW2000 folder (jpg + mat) into the authors' npz, or all 8 splits.

    fsanet prepare-type1 --input 300W_LP/AFW --output data/AFW.npz
    fsanet prepare-type1 --input AFLW2000 --output data/AFLW2000.npz
    fsanet prepare-type1 --300w-lp 300W_LP --output-dir data   # the 8 splits at once

Crops follow SPEC §5 exactly; all samples are kept (the ±99° filter is applied when loading). Bad
samples (a cut image, a malformed .mat, ...) are skipped and reported by name (--strict: stop at the
first one). Whole-dataset runs skip splits whose npz already exists and reads back, so an
interrupted run resumes.
"""

from __future__ import annotations

from pathlib import Path

from fsanet.commands import positive_int
from fsanet.model.variants import IMAGE_SIZE

USES_TENSORFLOW = False


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="folder of .jpg + .mat samples")
    source.add_argument("--300w-lp", dest="root_300w_lp", type=Path,
                        help="300W-LP root holding the 8 split folders")
    parser.add_argument("--output", type=Path, help="npz file to write (with --input)")
    parser.add_argument("--output-dir", type=Path, help="folder for <split>.npz (with --300w-lp)")
    parser.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad sample")
    parser.add_argument("--image-size", type=positive_int, default=IMAGE_SIZE,
                        help=f"crop size in pixels (default {IMAGE_SIZE}, what the networks take)")


def run(args) -> int:
    from fsanet.data.type1 import prepare, prepare_300w_lp
    from fsanet.errors import UsageError
    if args.input and (not args.output or args.output_dir):
        raise UsageError("--input goes with --output (a file), not --output-dir")
    if args.root_300w_lp and (not args.output_dir or args.output):
        raise UsageError("--300w-lp goes with --output-dir (a folder), not --output")
    if args.input:
        summaries = {args.input.name: prepare(args.input, args.output, args.workers, args.strict,
                                              args.image_size)}
    else:
        summaries = prepare_300w_lp(args.root_300w_lp, args.output_dir, args.workers,
                                    args.strict, args.image_size)
    for summary in summaries.values():
        if summary.get("existing"):
            print(f"{summary['output']}: already there, kept as is")
            continue
        if summary.get("replaced"):
            print(f"{summary['output']}: was unreadable, prepared again ({summary['replaced']})")
        print(f"{summary['output']}: kept {summary['kept']}, failed {len(summary['failed'])}; "
              f"{summary['outside_range']} kept samples lie outside ±99° (filtered when loading)")
        for name, why in summary["failed"]:
            print(f"  skipped {name}: {why}")
    return 0
