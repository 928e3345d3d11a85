"""The one progress bar (tqdm, on stderr) of long loops: ``progress=None`` shows it only when stderr is
a terminal (what the commands pass: a log file or a pipe gets no bar), True always, False never."""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(iterable=None, progress=None, **kwargs):
    """``tqdm(iterable, **kwargs)``, shown as ``progress`` says."""
    return tqdm(iterable, disable=None if progress is None else not progress, **kwargs)
