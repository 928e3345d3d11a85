"""Prepare a 300W-LP split or AFLW2000 folder (``<name>.jpg`` + ``<name>.mat``) into the authors' npz.

    python data_prep/prepare_type1.py --input 300W_LP/AFW --output data/AFW.npz
    python data_prep/prepare_type1.py --input AFLW2000 --output data/AFLW2000.npz
    python data_prep/prepare_type1.py --300w-lp 300W_LP --output-dir data   # the 8 splits at once

Whole-dataset runs skip splits whose npz already exists, so an interrupted run resumes.

Crops follow SPEC §5 exactly; all samples are kept (the ±99° filter is applied when loading).
Bad samples are skipped and reported by name (``--strict``: stop at the first one).
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsanet.crop import IMAGE_SIZE  # noqa: E402
from fsanet.data import (SPLITS_300W_LP, DatasetError, SampleError,  # noqa: E402
                         pair_type1_files, prepare_type1_sample, within_range, write_pose_npz)


def _prepare(task):
    stem, jpg, mat, image_size = task
    try:
        crop, pose = prepare_type1_sample(jpg, mat, image_size)
        return stem, crop, pose, None
    except SampleError as e:
        return stem, None, None, str(e)


def prepare(input_dir, output, workers=None, strict=False, image_size=IMAGE_SIZE, progress=True):
    """Run the preparation; returns a summary dict. Raises DatasetError on fatal problems."""
    pairs, unpaired = pair_type1_files(input_dir)
    failures = [(p.name, why) for p, why in unpaired]
    if strict and failures:
        raise DatasetError(f"{input_dir}: {failures[0][0]}: {failures[0][1]}")
    tasks = [(stem, jpg, mat, image_size) for stem, jpg, mat in pairs]
    crops, poses = [], []
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(_prepare, tasks, chunksize=64)
        for stem, crop, pose, error in tqdm(results, total=len(tasks), disable=not progress,
                                            desc=Path(input_dir).name, unit="img"):
            if error:
                if strict:
                    raise DatasetError(f"{input_dir}: {stem}: {error}")
                failures.append((stem, error))
                continue
            crops.append(crop)
            poses.append(pose)
    if not crops:
        raise DatasetError(f"{input_dir}: no usable sample ({len(failures)} failed)")
    write_pose_npz(output, crops, poses, image_size)
    outside = int((~within_range(poses)).sum())
    return {"kept": len(crops), "outside_range": outside, "failed": failures, "output": str(output)}


def prepare_300w_lp(root, output_dir, workers=None, strict=False, image_size=IMAGE_SIZE,
                    progress=True):
    """Prepare the 8 splits of 300W-LP into ``<output_dir>/<split>.npz``; existing files are kept."""
    root, output_dir = Path(root), Path(output_dir)
    missing = [s for s in SPLITS_300W_LP if not (root / s).is_dir()]
    if missing:
        raise DatasetError(f"{root}: not a 300W-LP folder, missing {missing}")
    summaries = {}
    for split in SPLITS_300W_LP:
        output = output_dir / f"{split}.npz"
        if output.exists():
            summaries[split] = {"kept": None, "failed": [], "output": str(output), "existing": True}
            continue
        summaries[split] = prepare(root / split, output, workers, strict, image_size, progress)
    return summaries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="folder of .jpg + .mat samples")
    source.add_argument("--300w-lp", dest="root_300w_lp", type=Path,
                        help="300W-LP root holding the 8 split folders")
    parser.add_argument("--output", type=Path, help="npz file to write (with --input)")
    parser.add_argument("--output-dir", type=Path, help="folder for <split>.npz (with --300w-lp)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad sample")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE)
    args = parser.parse_args(argv)
    if args.input and not args.output:
        parser.error("--input needs --output")
    if args.root_300w_lp and not args.output_dir:
        parser.error("--300w-lp needs --output-dir")
    try:
        if args.input:
            summaries = {args.input.name: prepare(args.input, args.output, args.workers, args.strict,
                                                  args.image_size)}
        else:
            summaries = prepare_300w_lp(args.root_300w_lp, args.output_dir, args.workers,
                                        args.strict, args.image_size)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for summary in summaries.values():
        if summary.get("existing"):
            print(f"{summary['output']}: already there, kept as is")
            continue
        print(f"{summary['output']}: kept {summary['kept']}, failed {len(summary['failed'])}; "
              f"{summary['outside_range']} kept samples lie outside ±99° (filtered when loading)")
        for name, why in summary["failed"]:
            print(f"  skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
