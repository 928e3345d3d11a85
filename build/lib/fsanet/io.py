"""Atomic file writing, in one place: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file next to ``path``; on success it is renamed onto ``path``, on any
    exception (including one raised by the caller to reject the content) it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, value):
    """A JSON file, written atomically."""
    with atomic_write(path) as f:
        f.write(json.dumps(value, indent=2).encode())
