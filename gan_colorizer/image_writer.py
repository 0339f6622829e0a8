"""Write colorized results: quantized to 8 or 16 bits, with the source's metadata, replaced atomically.

8 or 16 bits per channel (16 in PNG and TIFF), the source's EXIF, XMP, IPTC and DPI carried over
(`images.Picture.metadata`, see gan_colorizer.metadata), tagged sRGB; a crash mid-write never
leaves a half file. The reading side is gan_colorizer.images.
"""
import io
import os
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

from gan_colorizer.errors import ConfigError, ImageError
from gan_colorizer.metadata import Metadata, add_jpeg_segments, add_png_chunks, pillow_save_args, tifffile_args

_ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")
_SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


def _quantize(values: np.ndarray, bits: int) -> np.ndarray:
    """float [0, 1] (or uint8/uint16) -> uint8 or uint16, rounded: round(x * 255) or round(x * 65535).

    Rounding, not truncation (which would darken every pixel by half a step). OpenCV's saturating
    multiply rounds and clips in one pass; it runs on a 1-channel view because a scalar given for
    a multi-channel array would scale only the first channel. NaN becomes 0, +inf full scale and
    -inf 0 (`_finite`): what OpenCV makes of them changes between releases.
    """
    values = np.asarray(values)
    target = np.uint8 if bits == 8 else np.uint16
    if values.dtype == target:
        return values
    if values.dtype in (np.uint8, np.uint16):
        values = values.astype(np.float32) / float(np.iinfo(values.dtype).max)
    else:
        values = _finite(values)
    if bits == 8:  # saturate_cast(|x * 255|): the 8-bit rounding every earlier release wrote, bit for bit
        return cv2.convertScaleAbs(np.clip(values, 0.0, 1.0), alpha=255.0).reshape(values.shape)
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(values.shape[0], -1)
    return cv2.multiply(flat, float(np.iinfo(target).max), dtype=cv2.CV_16U).reshape(values.shape)


def _finite(values: np.ndarray) -> np.ndarray:
    """`values` with NaN -> 0, +inf -> 1, -inf -> 0; the array itself when all are finite.

    OpenCV's saturate_cast of a NaN or an inf is whatever its float-to-int conversion gives, which
    changes between releases (opencv-python-headless 5.1 turned the NaN pixel that 4.x wrote black
    white), so they are replaced before it sees them. The test is a sum, one read-only pass (9 ms on a 12 MP RGB
    image here, against 107 ms for nan_to_num): a NaN or inf anywhere makes it non-finite.
    """
    if np.isfinite(values.sum()):
        return values
    return np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 = round(x * 255), clipped (NaN -> 0, +inf -> 255, -inf -> 0); any shape."""
    return _quantize(rgb, 8)


def to_uint16(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint16 = round(x * 65535), clipped (NaN -> 0, +inf -> 65535, -inf -> 0); any shape.
    Decoding divides by 65535: exact inverse."""
    return _quantize(rgb, 16)


def output_bit_depth(path: Path, metadata: Metadata | None = None, bit_depth: int | None = None) -> int:
    """Bits per channel `write_image` uses for `path`: `bit_depth` if given, else the source's where the
    format holds it (16 for a 16-bit or float source written as PNG or TIFF), else 8.

    Raises ConfigError for a depth other than 8 or 16, ImageError for 16 in a format that holds only 8.
    """
    suffix = Path(path).suffix.lower()
    if bit_depth is None:
        return 16 if metadata is not None and metadata.bit_depth >= 16 and suffix in _SIXTEEN_BIT_SUFFIXES else 8
    if bit_depth not in (8, 16):
        raise ConfigError(f"bit depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and suffix not in _SIXTEEN_BIT_SUFFIXES:
        raise ImageError(f"{path}: {suffix or 'this format'} holds 8 bits per channel; write .png or .tif "
                         f"for 16-bit output")
    return bit_depth


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, *, quality: int = 95,
                metadata: Metadata | None = None, bit_depth: int | None = None) -> None:
    """Encode and write atomically: a crash mid-write never leaves a half file under `path`.

    rgb: (H, W, 3) float in [0, 1], uint8 or uint16. alpha: (H, W) in [0, 1] or None; kept where
    the format carries it (PNG, WebP, TIFF), dropped for JPEG and BMP.
    quality: 1-100 for JPEG and WebP (WebP with alpha is always written at 100).
    metadata: the source's EXIF, XMP, IPTC and DPI (`Picture.metadata`), carried where the format
    has a place for them (see gan_colorizer.metadata). JPEG, PNG, WebP and TIFF are tagged sRGB.
    bit_depth: 8 or 16 (PNG and TIFF only); None picks the source's depth where the format holds
    it, else 8 (`output_bit_depth`).
    """
    path = Path(path)
    if not 1 <= quality <= 100:
        raise ConfigError(f"quality must be in 1..100, got {quality}")
    bits = output_bit_depth(path, metadata, bit_depth)
    suffix = path.suffix.lower()
    pixels = _quantize(rgb, bits)
    if alpha is not None and suffix in _ALPHA_SUFFIXES:
        pixels = np.dstack([pixels, _quantize(alpha, bits)])
    metadata = metadata or Metadata()
    try:
        encoded = _encode(pixels, suffix, quality, metadata)
    except (cv2.error, OSError, ValueError):  # an encoder refusing these pixels or this suffix
        encoded = None
    if encoded is None:
        raise ImageError(f"{path}: cannot encode as {suffix or 'an image (no suffix)'}")
    _write_atomically(path, encoded)


def write_gray_png(path: Path, values: np.ndarray) -> None:
    """A map that is not a photo ((H, W) float in [0, 1] or uint8, e.g. an uncertainty map) as an 8-bit
    gray PNG, written atomically; no metadata, no colour profile."""
    ok, encoded = cv2.imencode(".png", _quantize(values, 8))
    if not ok:
        raise ImageError(f"{Path(path)}: cannot encode as a gray PNG")
    _write_atomically(Path(path), encoded.tobytes())


def _write_atomically(path: Path, encoded: bytes) -> None:
    """A temp file renamed over `path`: a crash mid-write never leaves a half file; ImageError on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(encoded)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ImageError(f"{path}: cannot write ({err.strerror})") from None


def _encode(pixels: np.ndarray, suffix: str, quality: int, metadata: Metadata) -> bytes | None:
    """(H, W, 3|4) RGB(A) uint8/uint16 -> the file's bytes, or None when OpenCV has no such encoder.

    Each format goes to the fastest encoder that can embed the metadata. Measured on a 12 MP photo
    (OpenCV vs the other): JPEG q95 48 vs 75 ms with Pillow, the same bytes but the metadata segments,
    which come from a Pillow-made carrier (`add_jpeg_segments`); WebP 3.3 s either way with Pillow;
    PNG 1.28 s with OpenCV (Pillow: 1.91 s), the metadata chunks copied in costing nothing; TIFF
    0.93 s with OpenCV's LZW vs 0.91 s with tifffile's zlib (Pillow has no 16-bit colour mode and
    its compressed TIFFs lose the EXIF sub-directory; OpenCV writes no TIFF metadata).
    """
    if suffix in (".jpg", ".jpeg"):
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        return add_jpeg_segments(encoded.tobytes(), metadata) if ok else None
    if suffix == ".webp":
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "WEBP", **pillow_save_args(metadata, "WEBP"),
                                     quality=100 if pixels.shape[2] == 4 else quality)
        return buffer.getvalue()
    if suffix in (".tif", ".tiff"):
        buffer = io.BytesIO()
        # zlib level 1 with the horizontal predictor: OpenCV's LZW speed and size on photos, at 8 or 16 bits.
        tifffile.imwrite(buffer, pixels, photometric="rgb", compression="zlib", compressionargs={"level": 1},
                         predictor=True, extrasamples=("unassalpha",) if pixels.shape[2] == 4 else None,
                         **tifffile_args(metadata))
        return buffer.getvalue()
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(suffix, bgr)
    if not ok:
        return None
    return add_png_chunks(encoded.tobytes(), metadata) if suffix == ".png" else encoded.tobytes()
