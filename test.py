"""Evaluate models on the test sets and print the paper's table (``fsanet test``).

    python test.py --preset configs/protocol1/evaluate.toml --data-dir data
    python test.py --models capsule fusion --test data/AFLW2000.npz --json out.json --plot plots/
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("test", prog="test.py"))
