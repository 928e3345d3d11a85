"""Write synthetic heads at known poses (fsanet.data.synthetic) as an npz in the authors' format.

    fsanet make-synthetic --output data/synthetic_train.npz --count 4000 --seed 0
"""

from __future__ import annotations

from pathlib import Path

from fsanet.commands import positive_int, seed

USES_TENSORFLOW = False


def add_arguments(parser):
    parser.add_argument("--output", required=True, type=Path, help="the npz file to write")
    parser.add_argument("--count", type=positive_int, default=4000, help="how many heads (default 4000)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="random seed of the poses and faces (default 0): a seed writes the same file")


def run(args) -> int:
    from fsanet.core.outputs import check_output
    from fsanet.data.npz import write_pose_npz
    from fsanet.data.synthetic import synthetic_dataset
    check_output(args.output, "--output")
    images, poses = synthetic_dataset(args.count, args.seed, progress=None)
    write_pose_npz(args.output, images, poses)
    print(f"wrote {args.output}: {args.count} synthetic heads (seed {args.seed})")
    return 0
