"""``python -m fsanet``: the ``fsanet`` command (see ``fsanet.cli``); alone, the demo on a built-in photo."""

from fsanet.cli import exit_with, main

if __name__ == "__main__":
    exit_with(main(prog="python -m fsanet"))
