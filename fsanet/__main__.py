"""``python -m fsanet``: the ``fsanet`` command (see ``fsanet.cli``); alone, the demo on a built-in photo."""

import sys

from fsanet.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m fsanet"))
