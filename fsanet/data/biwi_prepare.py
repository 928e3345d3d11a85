"""Running BIWI preparation: detection in worker processes, the box rules in video order, npz files.

Detection is the slow part: one video per worker (spawned processes, one detector each). The box
rules carry state from one video to the next (``fsanet.data.biwi.BoxRules``), so they run here, in video
order, on what the workers report; a frame cropped with another frame's box is read again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
from pathlib import Path

import numpy as np

from fsanet.core import quiet as runtime
from fsanet.core.outputs import check_output, write_json
from fsanet.core.progress import progress_bar
from fsanet.core.workers import worker_pool
from fsanet.data.biwi import (FACE_RULES, MARGIN, TRAIN_VIDEOS, BoxRules, authors_face_box, list_videos,
                              pair_frames, read_frame, read_pose_file, read_split, split_videos)
from fsanet.data.npz import within_range, write_pose_npz
from fsanet.errors import DatasetError, SampleError, one_line
from fsanet.faces.crop import crop_and_resize
from fsanet.faces.detectors import MTCNNCascadeDetector
from fsanet.model.variants import IMAGE_SIZE

BOX_RULES = ("authors", "clean")


@dataclasses.dataclass(frozen=True)
class DetectedFrame:
    path: Path
    pose: np.ndarray
    detected: bool  # the detector reported some face, confident or not
    box: tuple | None  # the chosen confident face's widened box
    crop: np.ndarray | None  # the frame cropped with ``box``


def detect_video(video, detector, protocol, image_size=IMAGE_SIZE, margin=MARGIN):
    """A video's readable frames in order with their detections, and its bad files as (name, why).

    ``detector(bgr) -> [Face]`` must report every face it finds with its confidence; the protocol
    applies the threshold.
    """
    pairs, unpaired = pair_frames(video)
    failed = [(p.name, why) for p, why in unpaired]
    frames = []
    for _, png, txt in pairs:
        try:
            pose = read_pose_file(txt)
            image = read_frame(png)
            height, width = image.shape[:2]
            faces = detector(image)
            box = authors_face_box(faces, protocol, width, height, margin)
            crop = None if box is None else crop_and_resize(image, box, image_size)
        except SampleError as e:
            failed.append((png.name, str(e)))
            continue
        except Exception as e:  # noqa: BLE001  (anything else one frame causes is that frame's)
            failed.append((png.name, one_line(e)))
            continue
        frames.append(DetectedFrame(png, pose, bool(faces), box, crop))
    return frames, failed


_worker_detector = None


def _init_worker(detector_factory):
    global _worker_detector
    _worker_detector = detector_factory()


def _init_spawned_worker(detector_factory):
    runtime.quiet_tensorflow()  # a fresh interpreter, where MTCNN would import TensorFlow loudly
    _init_worker(detector_factory)


def _detect(task):
    video, protocol, image_size = task
    return detect_video(video, _worker_detector, FACE_RULES[protocol], image_size)


def _outputs(output_dir, protocol):
    output_dir = Path(output_dir)
    if protocol == 1:
        return {"all": output_dir / "BIWI_noTrack.npz"}
    return {"train": output_dir / "BIWI_train.npz", "test": output_dir / "BIWI_test.npz"}


def _choose_split(videos, input_dir, seed, train_videos, split_file):
    if split_file:
        split = read_split(split_file)
        unknown = set(split["train"] + split["test"]) - {v.name for v in videos}
        if unknown:
            raise DatasetError(f"{split_file}: videos {sorted(unknown)} are not in {input_dir}")
        return split
    train, test = split_videos(videos, seed, train_videos)
    return {"seed": seed, "train": train, "test": test}


def apply_box_rules(video, frames, rules, image_size=IMAGE_SIZE):
    """Crops, poses and the kept / stale / reused / dropped counts of one video's detected frames."""
    rules.start_video()
    report = {"video": video, "kept": 0, "stale_box": 0, "reused_box": 0, "dropped": []}
    crops, poses = [], []
    for frame in frames:
        box, outcome = rules.decide(frame.detected, frame.box)
        if box is None:
            report["dropped"].append((frame.path.name, outcome))
            continue
        if box == frame.box:
            crop = frame.crop
        else:
            try:
                crop = crop_and_resize(read_frame(frame.path), box, image_size)
            except SampleError as e:
                raise DatasetError(f"{frame.path}: {e} (read again to crop with another frame's box)") from None
        crops.append(crop)
        poses.append(frame.pose)
        report["kept"] += 1
        if outcome in ("stale", "reused"):
            report[f"{outcome}_box"] += 1
    return crops, poses, report


def prepare(input_dir, output_dir, protocol, seed=0, train_videos=TRAIN_VIDEOS, split_file=None,
            workers=None, strict=False, image_size=IMAGE_SIZE, detector_factory=MTCNNCascadeDetector,
            box_rules="authors", progress=None):
    """Write protocol 1's ``BIWI_noTrack.npz`` or protocol 2's train / test npz and split file.

    ``detector_factory()`` builds one detector per worker (it must pickle). Returns a summary:
    ``outputs`` (path, frames, outside_range per file), ``videos`` (one report per video) and
    ``split`` (protocol 2). Raises DatasetError on a problem that stops the run.
    """
    if protocol not in FACE_RULES:
        raise DatasetError(f"protocol must be 1 or 2, got {protocol}")
    if box_rules not in BOX_RULES:
        raise DatasetError(f"box rules must be one of {', '.join(BOX_RULES)}, got {box_rules!r}")
    check_output(output_dir, folder=True)
    videos = list_videos(input_dir)
    split = None if protocol == 1 else _choose_split(videos, input_dir, seed, train_videos, split_file)
    rules = BoxRules(FACE_RULES[protocol], authors=box_rules == "authors")
    tasks = [(video, protocol, image_size) for video in videos]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    sets = {name: ([], []) for name in _outputs(output_dir, protocol)}
    reports = []
    with contextlib.ExitStack() as stack:
        if workers == 1:
            _init_worker(detector_factory)
            results = map(_detect, tasks)
        else:  # spawn: TensorFlow does not survive a fork
            pool = stack.enter_context(worker_pool(workers, _init_spawned_worker, (detector_factory,),
                                                   multiprocessing.get_context("spawn")))
            results = pool.map(_detect, tasks)
        for video, (frames, failed) in progress_bar(zip(videos, results), progress, total=len(tasks),
                                                    desc=f"BIWI protocol {protocol}", unit="video"):
            if strict and failed:
                raise DatasetError(f"{video}/{failed[0][0]}: {failed[0][1]}")
            crops, poses, report = apply_box_rules(video.name, frames, rules, image_size)
            report["failed"] = failed
            target = "all" if split is None else ("train" if video.name in split["train"] else
                                                  "test" if video.name in split["test"] else None)
            if target:
                sets[target][0].extend(crops)
                sets[target][1].extend(poses)
            reports.append(report)
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
