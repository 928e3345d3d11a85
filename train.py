"""Train a variant or each member of a fusion with a config's recipe (``fsanet train``).

    python train.py configs/protocol1/capsule.toml --data-dir data --output-dir runs/protocol1
    python train.py configs/protocol1/capsule.toml --output-dir runs/protocol1 --resume
    python train.py configs/protocol2/fusion.toml --init authors --epochs 10 --learning-rate 1e-4
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("train", prog="train.py"))
