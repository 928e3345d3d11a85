"""Write synthetic head-pose data (``fsanet.synthetic``) as an npz in the authors' format.

    python data_prep/make_synthetic.py --output data/synthetic_train.npz --count 4000 --seed 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsanet.data import write_pose_npz  # noqa: E402
from fsanet.synthetic import synthetic_dataset  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    images, poses = synthetic_dataset(args.count, args.seed, progress=True)
    write_pose_npz(args.output, images, poses)
    print(f"wrote {args.output}: {args.count} synthetic heads (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
