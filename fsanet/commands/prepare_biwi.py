"""Prepare BIWI (its raw hpdb video folders) into the authors' npz files, protocol 1 or 2.

    fsanet prepare-biwi --input hpdb --protocol 1 --output-dir data
        -> data/BIWI_noTrack.npz                               (protocol 1's test set)
    fsanet prepare-biwi --input hpdb --protocol 2 --seed 0 --output-dir data
        -> data/BIWI_train.npz, data/BIWI_test.npz, data/BIWI_split.json (70/30 split by video)

By default the sets are made the authors' way (SPEC §5): MTCNN's full cascade fed the BGR frame,
faces widened by 0.4, and their scripts' box rules (``fsanet.data.biwi.BoxRules``). ``--detector-rgb``
and ``--box-rules clean`` undo their quirks. Videos run in parallel (one MTCNN per worker); bad
frames are skipped and named (``--strict``: stop).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fsanet.commands import add_protocol_argument, positive_int, seed


def add_arguments(parser):
    from fsanet.data.biwi import TRAIN_VIDEOS
    from fsanet.data.biwi_prepare import BOX_RULES
    from fsanet.model.variants import IMAGE_SIZE
    parser.add_argument("--input", required=True, type=Path, help="BIWI hpdb folder (01, 02, ... inside)")
    parser.add_argument("--output-dir", required=True, type=Path,
                        help="folder for BIWI_noTrack.npz (protocol 1) or BIWI_train/test.npz and the split (2)")
    add_protocol_argument(parser, help="1 (300W_LP: test set BIWI_noTrack) or 2 (BIWI: 70/30 video split)",
                          required=True)
    parser.add_argument("--seed", type=seed, default=0, help="protocol 2: seed of the video split")
    parser.add_argument("--train-videos", type=positive_int, default=TRAIN_VIDEOS,
                        help="protocol 2: videos in the training set (16 of 24: 70/30)")
    parser.add_argument("--split", type=Path, help="protocol 2: reuse this recorded BIWI_split.json")
    parser.add_argument("--detector-rgb", action="store_true",
                        help="feed MTCNN the frame in RGB, the order it expects (the authors fed BGR)")
    parser.add_argument("--box-rules", choices=BOX_RULES, default="authors",
                        help="authors: their scripts' stale boxes and per-video zero box (default); "
                             "clean: only each frame's own confident face, state reset per video")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="processes (default: all cores)")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad frame")
    parser.add_argument("--image-size", type=positive_int, default=IMAGE_SIZE,
                        help=f"crop size in pixels (default {IMAGE_SIZE}, what the networks take)")


def _reason(why):
    return "box jumped" if why.startswith("box jumped") else why


def summary_lines(summary, protocol):
    """The printed summary: frames kept (and how their box was chosen), dropped, skipped, written."""
    from fsanet.data.biwi import FACE_RULES
    videos = summary["videos"]
    kept, stale, reused = (sum(v[key] for v in videos) for key in ("kept", "stale_box", "reused_box"))
    lines = [f"kept {kept} frames of {len(videos)} videos: {kept - stale - reused} with their own face, "
             f"{stale} with the last confident box (no face > {FACE_RULES[protocol].min_confidence}), "
             f"{reused} with the previous kept box"]
    dropped = Counter(_reason(why) for v in videos for _, why in v["dropped"])
    lines += [f"  dropped {count}: {why}" for why, count in sorted(dropped.items())]
    lines += [f"  skipped {v['video']}/{name}: {why}" for v in videos for name, why in v["failed"]]
    for output in summary["outputs"].values():
        if "frames" in output:
            lines.append(f"wrote {output['path']}: {output['frames']} frames, {output['outside_range']} "
                         "outside ±99° (filtered when loading)")
        else:
            lines.append(f"wrote {output['path']}")
    return lines


def run(args) -> int:
    import functools

    from fsanet.core.protocols import get_protocol
    from fsanet.data.biwi_prepare import prepare
    from fsanet.faces.detectors import MTCNNCascadeDetector
    protocol = get_protocol(args.protocol).number
    summary = prepare(args.input, args.output_dir, protocol, args.seed, args.train_videos, args.split,
                      args.workers, args.strict, args.image_size,
                      detector_factory=functools.partial(MTCNNCascadeDetector, rgb=args.detector_rgb),
                      box_rules=args.box_rules)
    print("\n".join(summary_lines(summary, protocol)))
    return 0
