"""The library's error base class: every error a user can cause derives from it.

Commands catch ``FSANetError`` in one place (``fsanet.cli``) and print its message on one line with
its ``exit_status``; anything else is an internal error.
"""


class FSANetError(Exception):
    """A problem with the user's input, flags, files or environment; the message names it."""

    exit_status = 2


class NothingFoundError(FSANetError):
    """The input was fine but holds nothing to work on (e.g. no face): exit status 1, not 2."""

    exit_status = 1


class UsageError(FSANetError):
    """A command-line flag or argument that cannot be used (alone or with the others given)."""


def one_line(error: BaseException) -> str:
    """An unexpected exception as ``Type: message`` on one line (OpenCV's messages span several)."""
    return " ".join(f"{type(error).__name__}: {error}".split())
