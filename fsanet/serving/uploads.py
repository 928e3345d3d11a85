"""Uploaded images, checked before any pixel is decoded: the content type, the body's size, and the
pixel count the file's header announces (a small file can announce a huge image: a decompression
bomb). Each refusal is an ``UploadError`` carrying its HTTP status."""

from __future__ import annotations

import struct

from fsanet.errors import FSANetError

IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000


class UploadError(FSANetError):
    """An upload the service refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def header_size(data: bytes):
    """(width, height) announced by a JPEG, PNG or WebP header, or None when the bytes are none of
    these (or the header is cut short)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = data[12:16]
        if kind == b"VP8 " and len(data) >= 30:
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
        if kind == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8X" and len(data) >= 30:
            return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        return None
    if data[:2] == b"\xff\xd8":
        position = 2
        while position + 9 <= len(data):
            if data[position] != 0xFF:
                return None
            marker = data[position + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                position += 1 if marker == 0xFF else 2
                continue
            length = int.from_bytes(data[position + 2:position + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
                height, width = struct.unpack(">HH", data[position + 5:position + 9])
                return width, height
            position += 2 + length
    return None


def check_image(data: bytes, content_type: str | None, max_pixels: int, name="image") -> None:
    """Refuse what is not a JPEG / PNG / WebP of at most ``max_pixels`` pixels, before decoding.
    ``content_type``: the declared type (None: not declared, e.g. a multipart part without one)."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared and declared not in IMAGE_TYPES and declared != "application/octet-stream":
        raise UploadError(415, f"{name}: content type {declared!r} is not an image; send "
                               f"{', '.join(IMAGE_TYPES)}")
    if not data:
        raise UploadError(400, f"{name}: empty body")
    size = header_size(data)
    if size is None:
        raise UploadError(400, f"{name}: not a readable image (not JPEG, PNG or WebP, or its header is cut short)")
    width, height = size
    if width * height > max_pixels:
        raise UploadError(413, f"{name}: {width}x{height} is more than the limit of {max_pixels} pixels")
