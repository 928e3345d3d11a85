"""Prepare BIWI (raw ``hpdb`` layout) into the authors' npz files, protocol 1 or 2.

    python data_prep/prepare_biwi.py --input hpdb --protocol 1 --output-dir data
        -> data/BIWI_noTrack.npz                              (test set of protocol 1)
    python data_prep/prepare_biwi.py --input hpdb --protocol 2 --seed 0 --output-dir data
        -> data/BIWI_train.npz, data/BIWI_test.npz, data/BIWI_split.json (the 70/30 split by video)

Faces come from MTCNN fed RGB, widened by 0.4; the box rules of each protocol are in ``fsanet.biwi``.
Videos run in parallel (one MTCNN per worker). Bad frames are skipped and named (``--strict``: stop).
``--split FILE`` reuses a recorded split instead of drawing one from ``--seed``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsanet.biwi import (PROTOCOLS, TRAIN_VIDEOS, list_videos, prepare_video,  # noqa: E402
                         read_split, split_videos)
from fsanet.crop import IMAGE_SIZE  # noqa: E402
from fsanet.data import DatasetError, within_range, write_pose_npz  # noqa: E402
from fsanet.io import write_json  # noqa: E402


def mtcnn_all_faces():
    """MTCNN reporting every face with its confidence; the protocol applies the threshold."""
    from fsanet.detectors import MTCNNDetector
    return MTCNNDetector(min_confidence=0.0)


_worker_detector = None


def _init_worker(detector_factory):
    global _worker_detector
    _worker_detector = detector_factory()


def _run_video(task):
    video, protocol, image_size = task
    return prepare_video(video, _worker_detector, PROTOCOLS[protocol], image_size)


def _outputs(output_dir, protocol):
    output_dir = Path(output_dir)
    if protocol == 1:
        return {"all": output_dir / "BIWI_noTrack.npz"}
    return {"train": output_dir / "BIWI_train.npz", "test": output_dir / "BIWI_test.npz"}


def prepare(input_dir, output_dir, protocol, seed=0, train_videos=TRAIN_VIDEOS, split_file=None,
            workers=None, strict=False, image_size=IMAGE_SIZE, detector_factory=mtcnn_all_faces,
            progress=True):
    """Run the preparation; returns a summary dict. Raises DatasetError on fatal problems."""
    if protocol not in PROTOCOLS:
        raise DatasetError(f"protocol must be 1 or 2, got {protocol}")
    videos = list_videos(input_dir)
    split = None
    if protocol == 2:
        if split_file:
            split = read_split(split_file)
            unknown = set(split["train"] + split["test"]) - {v.name for v in videos}
            if unknown:
                raise DatasetError(f"{split_file}: videos {sorted(unknown)} are not in {input_dir}")
        else:
            train, test = split_videos(videos, seed, train_videos)
            split = {"seed": seed, "train": train, "test": test}
    tasks = [(video, protocol, image_size) for video in videos]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    if workers == 1:
        _init_worker(detector_factory)
        results = map(_run_video, tasks)
    else:  # spawn: TensorFlow does not survive a fork
        pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(detector_factory,))
        results = pool.map(_run_video, tasks)
    sets = {name: ([], []) for name in _outputs(output_dir, protocol)}
    reports = []
    try:
        for crops, poses, report in tqdm(results, total=len(tasks), disable=not progress,
                                         desc=f"BIWI protocol {protocol}", unit="video"):
            if strict and report["failed"]:
                name, why = report["failed"][0]
                raise DatasetError(f"{input_dir}/{report['video']}/{name}: {why}")
            target = "all" if split is None else ("train" if report["video"] in split["train"] else
                                                  "test" if report["video"] in split["test"] else None)
            if target:
                sets[target][0].extend(crops)
                sets[target][1].extend(poses)
            reports.append(report)
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)
    written = {}
    for name, path in _outputs(output_dir, protocol).items():
        crops, poses = sets[name]
        if not crops:
            raise DatasetError(f"{input_dir}: no frame kept for {path.name}")
        write_pose_npz(path, crops, poses, image_size)
        written[name] = {"path": str(path), "frames": len(poses),
                         "outside_range": int((~within_range(poses)).sum())}
    if split is not None:
        split["frames"] = {r["video"]: r["kept"] for r in reports}
        split_path = Path(output_dir) / "BIWI_split.json"
        write_json(split_path, split)
        written["split"] = {"path": str(split_path)}
    return {"outputs": written, "videos": reports, "split": split}


def _reason(why):
    return "box jumped" if why.startswith("box jumped") else why


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path, help="BIWI hpdb folder (01, 02, ... inside)")
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--protocol", required=True, type=int, choices=sorted(PROTOCOLS))
    parser.add_argument("--seed", type=int, default=0, help="protocol 2: seed of the video split")
    parser.add_argument("--train-videos", type=int, default=TRAIN_VIDEOS,
                        help="protocol 2: videos in the training set (16 of 24: 70/30)")
    parser.add_argument("--split", type=Path, help="protocol 2: reuse this recorded BIWI_split.json")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad frame")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE)
    args = parser.parse_args(argv)
    try:
        summary = prepare(args.input, args.output_dir, args.protocol, args.seed, args.train_videos,
                          args.split, args.workers, args.strict, args.image_size)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    videos = summary["videos"]
    dropped = Counter(_reason(why) for v in videos for _, why in v["dropped"])
    print(f"kept {sum(v['kept'] for v in videos)} frames of {len(videos)} videos, "
          f"reused the previous box {sum(v['reused_box'] for v in videos)} times")
    for why, count in sorted(dropped.items()):
        print(f"  dropped {count}: {why}")
    for v in videos:
        for name, why in v["failed"]:
            print(f"  skipped {v['video']}/{name}: {why}")
    for output in summary["outputs"].values():
        if "frames" in output:
            print(f"wrote {output['path']}: {output['frames']} frames, {output['outside_range']} "
                  "outside ±99° (filtered when loading)")
        else:
            print(f"wrote {output['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
