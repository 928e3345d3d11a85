"""300W-LP / AFLW2000 folders -> the authors' npz (``fsanet prepare-type1``).

    python data_prep/prepare_type1.py --input 300W_LP/AFW --output data/AFW.npz
    python data_prep/prepare_type1.py --300w-lp 300W_LP --output-dir data   # the 8 splits at once
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("prepare-type1", prog="data_prep/prepare_type1.py"))
