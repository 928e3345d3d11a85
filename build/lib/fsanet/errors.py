"""The library's error base class: every error a user can cause derives from it.

Commands catch ``FSANetError`` in one place (``fsanet.cli``) and print its message on one line with
its ``exit_status``; anything else is an internal error.
"""


class FSANetError(Exception):
    """A problem with the user's input, flags, files or environment; the message names it."""

    exit_status = 2
