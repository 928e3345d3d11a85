"""Synthetic head-pose data as an npz (``fsanet make-synthetic``).

    python data_prep/make_synthetic.py --output data/synthetic_train.npz --count 4000 --seed 0
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("make-synthetic", prog="data_prep/make_synthetic.py"))
