"""300W-LP and AFLW2000 preparation: folders of ``<name>.jpg`` + ``<name>.mat`` into the authors' npz.

Crops follow SPEC §5 exactly; all samples are kept (the ±99° filter is applied when loading). A
sample that fails in any way (a cut image, a malformed .mat) is skipped and reported by name
(``strict``: stop at the first one). Whole-dataset runs skip splits whose npz already exists and
reads back, so an interrupted run resumes; an unreadable one is prepared again.
"""

from __future__ import annotations

import os
from pathlib import Path

from tqdm import tqdm

from fsanet.faces.crop import IMAGE_SIZE
from fsanet.data.npz import (SPLITS_300W_LP, DatasetError, SampleError, load_pose_npz, pair_type1_files,
                         prepare_type1_sample, within_range, write_pose_npz)
from fsanet.errors import one_line
from fsanet.core.outputs import check_output
from fsanet.core.workers import worker_pool


def _prepare(task):
    stem, jpg, mat, image_size = task
    try:
        crop, pose = prepare_type1_sample(jpg, mat, image_size)
        return stem, crop, pose, None
    except SampleError as e:
        return stem, None, None, str(e)
    except Exception as e:  # noqa: BLE001  (anything else one sample's files cause is that sample's)
        return stem, None, None, one_line(e)


def prepare(input_dir, output, workers=None, strict=False, image_size=IMAGE_SIZE, progress=True):
    """Run the preparation; returns a summary dict. Raises DatasetError on fatal problems."""
    check_output(output)
    pairs, unpaired = pair_type1_files(input_dir)
    failures = [(p.name, why) for p, why in unpaired]
    if strict and failures:
        raise DatasetError(f"{input_dir}: {failures[0][0]}: {failures[0][1]}")
    tasks = [(stem, jpg, mat, image_size) for stem, jpg, mat in pairs]
    crops, poses, names = [], [], []
    workers = workers or os.cpu_count() or 1
    with worker_pool(workers) as pool:
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
            names.append(stem)
    if not crops:
        raise DatasetError(f"{input_dir}: no usable sample; all {len(failures)} failed "
                           f"(first: {failures[0][0]}: {failures[0][1]})")
    write_pose_npz(output, crops, poses, image_size, names)
    outside = int((~within_range(poses)).sum())
    return {"kept": len(crops), "outside_range": outside, "failed": failures, "output": str(output)}


def prepare_300w_lp(root, output_dir, workers=None, strict=False, image_size=IMAGE_SIZE,
                    progress=True):
    """Prepare the 8 splits of 300W-LP into ``<output_dir>/<split>.npz``; existing files are kept."""
    root, output_dir = Path(root), Path(output_dir)
    check_output(output_dir, folder=True)
    missing = [s for s in SPLITS_300W_LP if not (root / s).is_dir()]
    if missing:
        raise DatasetError(f"{root}: not a 300W-LP folder, missing {missing}")
    summaries = {}
    for split in SPLITS_300W_LP:
        output = output_dir / f"{split}.npz"
        damage = _damage(output)
        if output.exists() and damage is None:
            summaries[split] = {"kept": None, "failed": [], "output": str(output), "existing": True}
            continue
        summaries[split] = prepare(root / split, output, workers, strict, image_size, progress)
        summaries[split]["replaced"] = damage
    return summaries


def _damage(path):
    """Why an existing npz cannot be kept (left by something other than this code, whose writes
    are atomic), or None when it is readable or absent."""
    if not path.exists():
        return None
    try:
        load_pose_npz(path)
    except DatasetError as e:
        return str(e)
    return None
