"""Output files in one place: locations checked before any long work, files written atomically.

``check_output`` is what every command calls on its output paths before it loads a model or reads
a dataset, so a location that cannot be written fails in a second, not after an hour of work;
``atomic_write`` makes each output appear whole or not at all (a crash, Ctrl-C or a full disk
leaves the previous file, or none, under the final name).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from fsanet.errors import FSANetError


class OutputError(FSANetError):
    """An output location that cannot be written; the message names it and says why."""


def check_output(path, flag=None, folder=False, suffixes=None):
    """Raise ``OutputError`` unless ``path`` can be written as a file (or, with ``folder``, a folder
    to write files in): not an existing folder (file) of that name, no regular file on the way, an
    extension among ``suffixes``, and the nearest existing folder accepts new files. Creates nothing."""
    path = Path(path)
    where = f"{flag} {path}" if flag else str(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{where}: is a file, expected a folder")
    if not folder and path.is_dir():
        raise OutputError(f"{where}: is a folder, expected a file name")
    if not folder and path.exists() and not path.is_file():
        raise OutputError(f"{where}: is not a regular file")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputError(f"{where}: unknown extension {path.suffix or '(none)'!r}; "
                          f"use one of {', '.join(sorted(suffixes))}")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{where}: {existing} is a file, so nothing can be created under it")
    try:  # the one reliable test of "can I create files here" (permissions, read-only mounts, ACLs)
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".fsanet-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{where}: cannot write in {existing} ({e.strerror})") from None
    return path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file next to ``path``; on success it is renamed onto ``path``, on any
    exception (including one raised by the caller to reject the content) it is removed. A write
    that fails (a full disk, a folder that cannot be written) raises ``OutputError`` naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    except OSError as e:
        raise OutputError(f"{path}: cannot be written ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno is None or e.filename not in (None, tmp):  # not the writing (a download, another file)
            raise
        raise OutputError(f"{path}: cannot be written ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode(path):
    """The replaced file's permissions, else what a plain ``open`` would give (not mkstemp's 0600)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_json(path, value):
    """A JSON file, written atomically."""
    with atomic_write(path) as f:
        f.write(json.dumps(value, indent=2).encode())
