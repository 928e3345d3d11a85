"""How soon Ctrl-C gives the prompt back during training: seconds from SIGINT to the exit of
``python -m fsanet train`` (smoke config on small synthetic data), at several moments of the run.

    .venv/bin/python benchmarks/interrupt_exit.py [--after 2 20 45]

Each run starts training, waits ``--after`` seconds once ``training capsule`` is printed, sends SIGINT
and times the exit (status 130 expected). tests/test_training_failures.py asserts a generous bound.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "synthetic" / "capsule.toml"


def interrupt_after(seconds, data_dir, output_dir):
    process = subprocess.Popen([sys.executable, "-m", "fsanet", "train", str(CONFIG), "--data-dir", str(data_dir),
                                "--output-dir", str(output_dir), "--epochs", "40", "--quiet"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.startswith("training capsule"):
            break
    time.sleep(seconds)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate()
    return process.returncode, time.monotonic() - signalled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--after", type=float, nargs="+", default=[2.0, 20.0, 45.0],
                        help="seconds of training before each SIGINT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        for name, count, seed in (("synthetic_train.npz", 2000, 0), ("synthetic_validation.npz", 300, 1)):
            subprocess.run([sys.executable, "-m", "fsanet", "make-synthetic", "--output", str(data / name),
                            "--count", str(count), "--seed", str(seed)], cwd=ROOT, check=True, capture_output=True)
        print("| SIGINT after (s of training) | exit status | SIGINT to exit (s) |\n|---:|---:|---:|")
        for i, seconds in enumerate(args.after):
            status, elapsed = interrupt_after(seconds, data, Path(tmp) / f"runs{i}")
            print(f"| {seconds:g} | {status} | {elapsed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
