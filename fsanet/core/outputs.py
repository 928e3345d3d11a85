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
import shutil
import tempfile
from pathlib import Path

from fsanet.errors import OutputError

CACHE_ENV = "FSANET_CACHE_DIR"


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


class PendingOutput:
    """The one way an output appears whole or not at all: it is written at ``tmp``, a path of the
    same name inside a hidden folder beside ``path`` (so suffix-minded writers such as Keras and
    OpenCV are satisfied, and a file or a folder can be written), and ``commit`` renames it onto
    ``path`` (replacing a file or folder there, first moved to ``keep_previous`` if given) while
    ``discard`` removes it. A location that cannot be written raises ``OutputError`` naming ``path``."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._folder = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                                 suffix=".part"))
        except OSError as e:
            raise OutputError(f"{self.path}: cannot be written ({e.strerror or e})") from None
        self.tmp = self._folder / self.path.name

    def commit(self, keep_previous=None):
        try:
            if self.tmp.is_file():
                os.chmod(self.tmp, _file_mode(self.path))
            if keep_previous is not None and self.path.exists():
                os.replace(self.path, keep_previous)
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise OutputError(f"{self.path}: cannot be written ({e.strerror or e})") from None
        self.discard()

    def discard(self):
        shutil.rmtree(self._folder, ignore_errors=True)


PARTIAL_SUFFIX = ".partial"


class GrowingOutput:
    """An output that grows as a run goes and must survive a kill with all it holds so far (the demo's
    ``--data`` file). It is written unbuffered to ``partial``, ``path`` + ``.partial`` beside ``path``,
    and ``commit`` renames it onto ``path`` when the run completes: an earlier complete file is never
    replaced by a partial one, a run cut short leaves every finished row in ``partial``
    (``keep_partial``), and a link at ``path`` is replaced itself, never the file behind it (as
    every other output). A leftover ``partial`` is removed first, never written through."""

    def __init__(self, path):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.failed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.partial)
            self._file = open(self.partial, "xb", buffering=0)
        except OSError as e:
            raise OutputError(f"{self.partial}: cannot be written ({e.strerror or e})") from None

    def write(self, data: bytes):
        """Append ``data``; on disk when this returns."""
        view = memoryview(data)
        try:
            while view:  # a regular file takes it in one write; the loop only guards short writes
                view = view[self._file.write(view):]
        except OSError as e:
            self.failed = True
            raise OutputError(f"{self.partial}: cannot be written ({e.strerror or e})") from None

    def commit(self) -> Path:
        self._file.close()
        if self.failed:  # rows are missing: never named as complete
            raise OutputError(f"{self.partial}: a write failed, so the file is incomplete and keeps this name")
        try:
            os.chmod(self.partial, _file_mode(self.path))
            os.replace(self.partial, self.path)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot be written ({e.strerror or e}); "
                              f"everything is in {self.partial}") from None
        return self.path

    def keep_partial(self) -> Path:
        self._file.close()
        return self.partial


@contextlib.contextmanager
def atomic_path(path, keep_previous=None):
    """Yield the temporary path of a ``PendingOutput``: committed on success, discarded on any
    exception (including one raised by the caller to reject the content). An ``OSError`` of the
    writing itself (a full disk) becomes an ``OutputError`` naming ``path``."""
    pending = PendingOutput(path)
    try:
        yield pending.tmp
    except OSError as e:
        pending.discard()
        if e.errno is None or e.filename not in (None, str(pending.tmp)):  # not the writing (a download)
            raise
        raise OutputError(f"{pending.path}: cannot be written ({e.strerror or e})") from None
    except BaseException:
        pending.discard()
        raise
    pending.commit(keep_previous)


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file that appears under ``path`` only when whole (see ``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f


def _file_mode(path):
    """The replaced file's permissions, else what a plain ``open`` would give (not mkstemp's 0600)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def default_cache_dir() -> Path:
    """Where downloads (and files derived from them) are kept: ``FSANET_CACHE_DIR``, else the
    user's cache folder (``$XDG_CACHE_HOME/fsanet``, default ``~/.cache/fsanet``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fsanet"


def write_json(path, value):
    """A JSON file, written atomically."""
    with atomic_write(path) as f:
        f.write(json.dumps(value, indent=2).encode())
