"""Where a batch job's inputs and tables live: local paths, or URIs of any filesystem pyarrow's
layer reads (``s3://``, ``gs://``, ``abfs://``, ``hdfs://``: the layer Ray Data reads through).

A URI's options ride in its query, as pyarrow takes them, e.g. an S3-compatible server
(MinIO, Ceph, a test server) as ``s3://bucket/talks?endpoint_override=HOST:PORT&scheme=http``
(pyarrow does not read ``AWS_ENDPOINT_URL``); credentials come from each process's own environment
(``AWS_ACCESS_KEY_ID``, a role), so every node of a cluster needs them, as with Ray Data's readers.
A worker copies a URI's video to a local temporary file before decoding it (each unit decodes from
the video's first frame); a video's length is read from the stream itself (``open_stream``).
Writing: a local file is written atomically (``fsanet.core.outputs``); an object store's object
appears whole when its upload completes, so a URI's file is whole or absent too.
"""

from __future__ import annotations

import fnmatch
import io
import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from fsanet.core.outputs import atomic_write
from fsanet.errors import InputError, OutputError, one_line

WILDCARDS = "*?["


def is_uri(text) -> bool:
    return "://" in str(text)


def filesystem(uri):
    """(pyarrow filesystem, path inside it) of a URI; one line naming it if pyarrow cannot use it."""
    import pyarrow.fs
    try:
        return pyarrow.fs.FileSystem.from_uri(str(uri))
    except Exception as e:  # noqa: BLE001  (pyarrow: ArrowInvalid for a scheme it lacks, OSError, ...)
        raise InputError(f"{uri}: {one_line(e, 200)}") from None


def uri_of(uri, path) -> str:
    """The URI of ``path`` (as ``filesystem`` gives paths) on ``uri``'s filesystem, with its options:
    an object store's path starts with the bucket (``s3://bucket/key``), another's is the part after
    the host (``hdfs://host:port/path``, ``file:///path``)."""
    parts = urlsplit(str(uri))
    path = str(path)
    host = "" if not parts.netloc or path == parts.netloc or path.startswith(parts.netloc + "/") else parts.netloc
    return f"{parts.scheme}://{host}{path}" + (f"?{parts.query}" if parts.query else "")


def _inner(uri) -> PurePosixPath:
    parts = urlsplit(str(uri))
    return PurePosixPath(parts.netloc + parts.path)


def join(base, *names) -> str:
    """``base`` (a folder's path or URI) / names."""
    if not is_uri(base):
        return str(Path(base, *names))
    return uri_of(base, _inner(base).joinpath(*names))


def parent(path) -> str:
    """The folder of a path or URI."""
    return uri_of(path, _inner(path).parent) if is_uri(path) else str(Path(path).parent)


def name_of(path) -> str:
    """A path's or URI's file name (a URI's query left out)."""
    return PurePosixPath(urlsplit(str(path)).path).name if is_uri(path) else Path(path).name


def listing(uri, media) -> list | None:
    """The files a URI names, in order: itself, a folder's files (not its subfolders) that ``media``
    accepts (a name), or a glob's matches that it accepts; None when it names nothing."""
    import pyarrow.fs
    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pyarrow.fs.FileType.File:
        return [str(uri)]
    if info.type == pyarrow.fs.FileType.Directory:
        found = fs.get_file_info(pyarrow.fs.FileSelector(path))
        return [uri_of(uri, f.path) for f in sorted(found, key=lambda f: f.path)
                if f.type == pyarrow.fs.FileType.File and media(f.base_name)]
    if not any(c in path for c in WILDCARDS):
        return None
    base = path[:min(path.find(c) for c in WILDCARDS if c in path)].rsplit("/", 1)[0]
    found = fs.get_file_info(pyarrow.fs.FileSelector(base, allow_not_found=True, recursive=True))
    return [uri_of(uri, f.path) for f in sorted(found, key=lambda f: f.path)
            if f.type == pyarrow.fs.FileType.File and fnmatch.fnmatchcase(f.path, path) and media(f.base_name)]


def read_text(uri) -> str:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def copy_to(uri, folder) -> Path:
    """A local copy of a URI's file, under its own name in ``folder`` (OpenCV reads local files)."""
    fs, path = filesystem(uri)
    target = Path(folder) / name_of(uri)
    with fs.open_input_stream(path) as source, open(target, "wb") as f:
        shutil.copyfileobj(source, f, 1 << 20)
    return target


class _RandomAccess(io.RawIOBase):
    """A pyarrow random-access file as Python's raw binary stream (what ``io.BufferedReader`` wraps)."""

    def __init__(self, file):
        super().__init__()
        self.file = file

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        data = self.file.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset, whence=io.SEEK_SET):
        return self.file.seek(offset, whence)

    def tell(self):
        return self.file.tell()

    def close(self):
        self.file.close()
        super().close()


def open_stream(uri) -> io.BufferedReader:
    """A URI's file as a seekable binary stream, read as asked (a container's header without its
    frames); close it, or use it in a ``with``."""
    fs, path = filesystem(uri)
    return io.BufferedReader(_RandomAccess(fs.open_input_file(path)), 1 << 16)


def exists(path) -> bool:
    if not is_uri(path):
        return Path(path).is_file()
    import pyarrow.fs
    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type == pyarrow.fs.FileType.File


def files_under(folder) -> set:
    """The paths (or URIs) of every file under a folder, in one listing (an object store answers one
    listing faster than a request per file); empty if there is no such folder."""
    if not is_uri(folder):
        return {str(p) for p in Path(folder).rglob("*") if p.is_file()}
    import pyarrow.fs
    fs, path = filesystem(folder)
    found = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True, recursive=True))
    return {uri_of(folder, f.path) for f in found if f.type == pyarrow.fs.FileType.File}


def write_bytes(path, data):
    """A file, whole or absent (see the module docstring)."""
    if not is_uri(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            f.write(data)
        return
    fs, inner = filesystem(path)
    fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(inner) as f:
        f.write(data)


def check_folder(uri, flag):
    """Refuse an output URI that names a file, or whose filesystem cannot be reached."""
    import pyarrow.fs
    fs, path = filesystem(uri)
    try:
        kind = fs.get_file_info(path).type
    except OSError as e:
        raise OutputError(f"{flag} {uri}: {one_line(e, 200)}") from None
    if kind == pyarrow.fs.FileType.File:
        raise OutputError(f"{flag} {uri}: is a file, expected a folder")
