"""Train an FSA-Net variant (or each member of a fusion) with the recipe of a config.

    fsanet train configs/protocol1/capsule.toml --data-dir data --output-dir runs/protocol1
    fsanet train configs/protocol1/capsule.toml --output-dir runs/protocol1 --resume
    fsanet train configs/protocol2/fusion.toml --init authors --epochs 10 --learning-rate 1e-4

Each variant trains into <output-dir>/<variant alias>/ (see fsanet.experiments.training for the files). Flags
override the config's values. --init takes 'authors' (the released checkpoint of the variant and
protocol) or any model spec (a .keras, an authors' .h5, a released name).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fsanet.commands import positive_float, positive_int, seed


def _strategy(name):
    import tensorflow as tf
    return {"default": tf.distribute.get_strategy, "mirrored": tf.distribute.MirroredStrategy}[name]()


def add_arguments(parser):
    parser.add_argument("config", type=Path, help="a file in configs/")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="folder of the npz files")
    parser.add_argument("--output-dir", type=Path, default=Path("runs"),
                        help="each variant trains into <output-dir>/<alias>/ (default runs)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run(s) after their last finished epoch (printed)")
    parser.add_argument("--init", help="fine-tune from: 'authors' (released weights), an .h5 or a .keras")
    parser.add_argument("--epochs", type=positive_int, help="epochs in all, counted from 1 (a resumed run may extend it)")
    parser.add_argument("--batch-size", type=positive_int, help="the config's value otherwise")
    parser.add_argument("--learning-rate", type=positive_float, help="the initial learning rate")
    parser.add_argument("--seed", type=seed, help="data order, augmentation, split and initial weights")
    parser.add_argument("--no-augmentation", dest="augmentation", action="store_false", default=None,
                        help="train on the crops as stored (no random crops, shifts or zooms)")
    parser.add_argument("--train", nargs="+", help="training npz files (relative to --data-dir)")
    parser.add_argument("--validation", nargs="+", help="validation npz files")
    parser.add_argument("--validation-split-by", metavar="{frame,identity}",
                        help="without validation files: hold out frames (the authors') or whole identities")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="tf.distribute strategy; 'mirrored' uses every visible GPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from fsanet.core.outputs import check_output
    from fsanet.experiments.config import load_config
    from fsanet.experiments.runs import check_run, read_run_state
    check_output(args.output_dir, "--output-dir", folder=True)
    overrides = {"init": args.init, "training.epochs": args.epochs, "training.batch_size": args.batch_size,
                 "training.learning_rate": args.learning_rate, "training.seed": args.seed,
                 "training.augmentation": args.augmentation, "data.train": args.train,
                 "data.validation": args.validation, "data.validation_split_by": args.validation_split_by}
    config = load_config(args.config, overrides)
    for member in config.members:  # every run's folder and data files, before TensorFlow loads
        check_run(config.for_member(member), args.output_dir / member, args.data_dir, args.resume)
    if args.resume:  # a run already finished at these epochs: said without loading TensorFlow
        states = {m: read_run_state(args.output_dir / m, config.for_member(m)) for m in config.members}
        if all(s.get("finished") and s["epochs_done"] == config.training.epochs for s in states.values()):
            for member, state in states.items():
                print(f"{_outcome(member, state, args.output_dir / member)} (finished before)")
            return 0
    from fsanet.experiments.training import train
    for member in config.members:
        run_dir = args.output_dir / member
        print(f"training {member} into {run_dir}")
        state = train(config.for_member(member), run_dir, args.data_dir, args.resume,
                      _strategy(args.strategy), verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2))
        print(_outcome(member, state, run_dir))
    return 0


def _outcome(member, state, run_dir) -> str:
    return (f"{member}: {state['epochs_done']} epochs, best validation MAE {state['best_val_mae']:.3f} at epoch "
            f"{state['best_epoch']}; final model {run_dir / 'final.keras'}")
