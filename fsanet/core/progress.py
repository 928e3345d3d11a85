"""What long loops say: the one progress bar (tqdm, on stderr; ``progress=None`` shows it only when
stderr is a terminal, what the commands pass: a log file or a pipe gets no bar; True always, False
never), and counts in their summaries' words."""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(iterable=None, progress=None, **kwargs):
    """``tqdm(iterable, **kwargs)``, shown as ``progress`` says."""
    return tqdm(iterable, disable=None if progress is None else not progress, **kwargs)


def plural(count, noun) -> str:
    """``1 frame``, ``2 frames``: a count with its noun (regular plurals)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
