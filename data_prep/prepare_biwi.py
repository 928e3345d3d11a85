"""``python data_prep/prepare_biwi.py ...``: the ``fsanet prepare-biwi`` command, under its old name.

See ``fsanet/commands/prepare_biwi.py`` for the flags.
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("prepare-biwi", prog="data_prep/prepare_biwi.py"))
