"""``python data_prep/prepare_biwi.py ...``: the ``fsanet prepare-biwi`` command, under its old name.

See ``fsanet/commands/prepare_biwi.py`` for the flags.
"""

import sys

from fsanet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("prepare-biwi", prog="data_prep/prepare_biwi.py"))
