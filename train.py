"""Train an FSA-Net variant (or each member of a fusion) with the recipe of a config.

    python train.py configs/protocol1/capsule.toml --data-dir data --output-dir runs/protocol1
    python train.py configs/protocol1/capsule.toml --output-dir runs/protocol1 --resume
    python train.py configs/protocol2/fusion.toml --init authors --epochs 10 --learning-rate 1e-4

Each variant trains into ``<output-dir>/<variant alias>/`` (see ``fsanet.training`` for the files).
Flags override the config's values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fsanet.config import ConfigError, load_config
from fsanet.data import DatasetError
from fsanet.model_spec import ModelSpecError
from fsanet.training import TrainingError, train
from fsanet.weights import WeightFileError


def _strategy(name):
    import tensorflow as tf
    return {"default": tf.distribute.get_strategy, "mirrored": tf.distribute.MirroredStrategy}[name]()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="a file in configs/")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="folder of the npz files")
    parser.add_argument("--output-dir", type=Path, default=Path("runs"))
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run(s)")
    parser.add_argument("--init", help="fine-tune from: 'authors' (released weights), an .h5 or a .keras")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-augmentation", dest="augmentation", action="store_false", default=None)
    parser.add_argument("--train", nargs="+", help="training npz files (relative to --data-dir)")
    parser.add_argument("--validation", nargs="+", help="validation npz files")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="tf.distribute strategy; 'mirrored' uses every visible GPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    overrides = {"init": args.init, "training.epochs": args.epochs, "training.batch_size": args.batch_size,
                 "training.learning_rate": args.learning_rate, "training.seed": args.seed,
                 "training.augmentation": args.augmentation, "data.train": args.train,
                 "data.validation": args.validation}
    try:
        config = load_config(args.config, overrides)
        for member in config.members:
            run_dir = args.output_dir / member
            print(f"training {member} into {run_dir}")
            state = train(config.for_member(member), run_dir, args.data_dir, args.resume,
                          _strategy(args.strategy), verbose=0 if args.quiet else 1)
            print(f"{member}: {state['epochs_done']} epochs, best validation MAE "
                  f"{state['best_val_mae']:.3f} at epoch {state['best_epoch'] + 1}; "
                  f"final model {run_dir / 'final.keras'}")
    except (ConfigError, DatasetError, ModelSpecError, TrainingError, WeightFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
