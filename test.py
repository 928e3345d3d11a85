"""Evaluate models on the test sets and print the paper's table (``fsanet test``).

    python test.py --preset configs/protocol1/evaluate.toml --data-dir data
    python test.py --models capsule fusion --test data/AFLW2000.npz --json out.json --plot plots/
"""

import sys

from fsanet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("test", prog="test.py"))
