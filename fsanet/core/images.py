"""Images in, strictly: a file is decoded whole or refused, and any pixel array becomes BGR 0..255.

Files are read into memory and decoded there: OpenCV's in-memory decoders refuse a JPEG, PNG, BMP,
TIFF or WebP that ends early, where its file reader (``cv2.imread``) pads a cut JPEG with grey rows
and only prints a warning (a truncated training image would become a grey crop with a real label).
A PNG's chunks are checked first (each checksum, and the end chunk), so a cut or damaged PNG is
named without libpng printing its own complaint. Damage inside a JPEG's compressed data that the
decoder only warns about is not detected.

Pixel arrays, from files or from a user of ``PosePredictor``, follow one contract (``as_bgr``):
uint8 is taken as is; uint16 is 16-bit (0..65535, as OpenCV reads 16-bit files); other integer types
must hold 0..255; floating point needs its ``value_range`` said; NaN and infinity are refused.
Grayscale is repeated into three channels, alpha is dropped.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable

import cv2
import numpy as np

from fsanet.errors import ImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
"""Extensions read as still images (and accepted for image outputs)."""


def decode_image(path, flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """The pixels of an image file, decoded in memory with ``flags``; ``ImageError`` when the file
    is missing, empty, cut short or not an image."""
    path = os.fspath(path)
    try:
        data = np.fromfile(path, np.uint8)
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror or e})") from None
    return decode_bytes(data, path, flags)


def check_image_file(path) -> None:
    """``ImageError`` now for a file no decoder claims (its signature bytes only: nothing is decoded),
    with ``decode_image``'s message; a file cut short past its header is found when it is decoded."""
    path = os.fspath(path)
    try:
        empty = os.path.getsize(path) == 0
    except OSError as e:
        raise ImageError(f"{path}: {'file not found' if isinstance(e, FileNotFoundError) else e.strerror}") from None
    if empty:
        raise ImageError(f"{path}: empty file (0 bytes)")
    if not cv2.haveImageReader(path):
        raise ImageError(f"{path}: {UNREADABLE}")


UNREADABLE = "not a readable image (corrupt, cut short, or not an image format)"


def decode_bytes(data, name="image", flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """The pixels of an image file's bytes (``bytes`` or a uint8 array), as ``decode_image``;
    ``name`` starts each error message."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if not data.size:
        raise ImageError(f"{name}: empty file (0 bytes)")
    damage = _png_damage(data.tobytes()) if data[:8].tobytes() == _PNG_SIGNATURE else None
    if damage:
        raise ImageError(f"{name}: not a readable image (PNG {damage})")
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error:  # e.g. a header announcing more pixels than OpenCV accepts
        image = None
    if image is None or image.size == 0:
        raise ImageError(f"{name}: {UNREADABLE}")
    return image


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_damage(data):
    """Why a PNG's chunk structure is broken (cut short, a checksum that does not match), or None."""
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        end = position + 12 + length
        if end > len(data):
            break
        if zlib.crc32(data[position + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return f"chunk {kind.decode(errors='replace')!r} is damaged (checksum mismatch)"
        if kind == b"IEND":
            return None
        position = end
    return "cut short (no end chunk)"


_ORIENTATIONS = {  # EXIF orientation -> what turns the stored pixels upright
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.swapaxes(a[::-1], 0, 1),
    7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1), 8: lambda a: np.swapaxes(a, 0, 1)[::-1],
}


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation tag (1..8) of a JPEG's APP1 segment, 1 (as stored) where there is none:
    a phone holding the camera sideways stores the pixels sideways and says so here."""
    position = 2 if data[:2] == b"\xff\xd8" else len(data)
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker, length = data[position + 1], int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xE1 and data[position + 4:position + 10] == b"Exif\0\0":
            tiff = data[position + 10:position + 2 + length]
            order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
            if order is None or len(tiff) < 8:
                return 1
            ifd = int.from_bytes(tiff[4:8], order)
            count = int.from_bytes(tiff[ifd:ifd + 2], order)
            for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
                if int.from_bytes(tiff[entry:entry + 2], order) == 0x0112:
                    value = int.from_bytes(tiff[entry + 8:entry + 10], order)
                    return value if value in _ORIENTATIONS else 1
            return 1
        if marker in (0xDA, 0xD9):  # the image data starts: no EXIF before it
            return 1
        position += 2 + length
    return 1


def read_image(path) -> np.ndarray:
    """A BGR uint8 image from a file of any depth and channel count (float files: 0..1), turned
    upright by its EXIF orientation (``exif_orientation``)."""
    image = decode_image(path)
    with open(path, "rb") as f:
        head = f.read(1 << 16)  # APP1 is at most 64 KB, at the start
    return _upright_bgr(image, head, os.fspath(path))


def image_from_bytes(data: bytes, name="image") -> np.ndarray:
    """``read_image`` for a file's bytes held in memory (an upload)."""
    return _upright_bgr(decode_bytes(data, name), data[:1 << 16], name)


def _upright_bgr(image, head, name):
    orientation = exif_orientation(head)
    if orientation != 1:
        image = np.ascontiguousarray(_ORIENTATIONS[orientation](image))
    bgr = as_bgr(image, (0.0, 1.0) if image.dtype.kind == "f" else None, name)
    return bgr if bgr.dtype == np.uint8 else np.rint(bgr).astype(np.uint8)


def as_bgr(image, value_range=None, name="image") -> np.ndarray:
    """HxWx3 BGR with values in 0..255 (see the module docstring): uint8 in, uint8 out; any other
    type becomes float32. ``name`` starts each error message."""
    image = np.asarray(image)
    if image.dtype.kind not in "uif":
        raise ImageError(f"{name}: pixels must be numbers, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (1, 2):  # gray, gray + alpha
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or 0 in image.shape:
        raise ImageError(f"{name}: expected an HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA) image, "
                         f"got shape {image.shape}")
    if image.dtype != np.uint8:
        image = _scaled(image, value_range, name)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]) if image.shape[2] == 4 else image


def _scaled(image, value_range, name):
    """Values of a non-uint8 image mapped to float32 0..255."""
    if image.dtype == np.uint16:
        return image.astype(np.float32) * np.float32(255 / 65535)
    if image.dtype.kind in "iu":
        low, high = image.min(), image.max()
        if low < 0 or high > 255:
            raise ImageError(f"{name}: {image.dtype} pixels must lie in 0..255, found {low}..{high} "
                             "(give uint8, uint16, or floats with their value range)")
        return image.astype(np.float32)
    if not np.isfinite(image).all():
        raise ImageError(f"{name}: pixels contain NaN or infinity")
    if value_range is None:
        raise ImageError(f"{name}: {image.dtype} pixels need their range said, e.g. value_range=(0, 1) "
                         "or (0, 255)")
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ImageError(f"{name}: value_range {value_range} must be (low, high) with low < high")
    found = float(image.min()), float(image.max())
    slack = 1e-6 * (high - low)
    if found[0] < low - slack or found[1] > high + slack:
        raise ImageError(f"{name}: pixels span {found[0]:g}..{found[1]:g}, outside the value range "
                         f"{low:g}..{high:g}")
    return ((image.astype(np.float32) - np.float32(low)) * np.float32(255 / (high - low))).clip(0, 255)


def minmax_normalize(crop):
    """The authors' demo normalisation: stretch each crop to 0..255 (cv2.NORM_MINMAX)."""
    return cv2.normalize(crop, None, alpha=0, beta=255, norm_type=cv2.NORM_MINMAX)


def face_crops(crops, value_range=None):
    """(list of HxWx3 BGR crops in 0..255, whether one crop was given) from what a caller passes:
    one image (an HxW or HxWxC array) or several (a sequence of images, or an NxHxWxC array)."""
    if not isinstance(crops, Iterable) or isinstance(crops, (str, bytes)):
        raise ImageError(f"crops: expected an image array or a sequence of them, got {type(crops).__name__}")
    single = isinstance(crops, np.ndarray) and crops.ndim in (2, 3)
    if isinstance(crops, np.ndarray) and crops.ndim not in (2, 3, 4):
        raise ImageError(f"crops: expected one HxW / HxWxC image or an NxHxWxC batch, got shape {crops.shape}")
    items = [crops] if single else list(crops)
    return [as_bgr(crop, value_range, f"crop {i}") for i, crop in enumerate(items)], single
