"""Read any image file a user has as float RGB, and write results atomically.

Decoding is OpenCV's (libjpeg-turbo, libpng, libwebp, libtiff). This is the only module that knows
OpenCV orders channels BGR. Every decoded image comes back as `rgb` float32 (H, W, 3) in [0, 1]
plus an optional `alpha` float32 (H, W) in [0, 1]; gray files give three equal channels, so a gray
file and the same picture saved as RGB give the same L.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gan_colorizer.errors import DataError, ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
_JPEG_MAGIC = b"\xff\xd8"
# Every bit depth OpenCV decodes to, mapped to its full-scale value.
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


@dataclass
class Picture:
    """A decoded image. rgb: (H, W, 3) float32 in [0, 1]; alpha: (H, W) float32 in [0, 1] or None."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    reduced: int = 1  # the file is this many times larger per side (JPEG DCT-scaled decoding)

    @property
    def is_gray(self) -> bool:
        """True when all three channels agree to within 8-bit rounding (a gray or sepia-free scan)."""
        spread = self.rgb.max(axis=2) - self.rgb.min(axis=2)
        return bool(np.percentile(spread, 99) <= 2.0 / 255.0)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def list_image_files(root: Path) -> list[Path]:
    """Every image file under the folder `root` (recursive), sorted; the one lister data, inference and
    evaluation share. Raises DataError when the folder holds none, naming the suffixes looked for."""
    found = sorted(p for p in Path(root).rglob("*") if p.is_file() and is_image_name(p.name))
    if not found:
        raise DataError(f"{root}: no images found (looked for {' '.join(IMAGE_SUFFIXES)})")
    return found


def decode_image(data: bytes, name: str, reduce: int = 1) -> Picture:
    """Decode the bytes of an image file; `name` is only used in error messages.

    reduce: 1, 2, 4 or 8 decodes a JPEG at about that fraction of its size via DCT scaling (fast
    thumbnails). A hint only: other formats are always decoded whole.
    JPEGs are decoded with EXIF orientation applied; PNG/WebP/TIFF keep their alpha channel.
    Raises ImageError with a one-line reason for anything that is not a decodable image.
    """
    if len(data) == 0:
        raise ImageError(f"{name}: empty file")
    buf = np.frombuffer(data, dtype=np.uint8)
    is_jpeg = data[:2] == _JPEG_MAGIC
    if is_jpeg and reduce > 1:
        flags = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    elif is_jpeg:
        # ANYCOLOR keeps gray JPEGs 1-channel and converts CMYK/YCCK to BGR; EXIF orientation applies.
        flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    else:
        flags = cv2.IMREAD_UNCHANGED
    try:
        pixels = cv2.imdecode(buf, flags)
    except cv2.error:  # OpenCV raises on some malformed headers instead of returning None
        pixels = None
    if pixels is None or pixels.size == 0:
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or unsupported format)")
    if is_jpeg and _looks_truncated(data):
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    picture = _to_picture(pixels, name)
    picture.reduced = reduce if is_jpeg else 1
    return picture


def _looks_truncated(data: bytes) -> bool:
    """libjpeg fills a cut-off JPEG with gray and only warns; the missing EOI marker gives it away."""
    return b"\xff\xd9" not in data[-64:]


def _to_picture(pixels: np.ndarray, name: str) -> Picture:
    """OpenCV's array (gray, gray+alpha, BGR, BGRA; 8/16-bit or float) -> Picture."""
    if pixels.dtype not in _FULL_SCALE:
        raise ImageError(f"{name}: unsupported pixel type {pixels.dtype}")
    bit_depth = pixels.dtype.itemsize * 8
    scaled = pixels.astype(np.float32) / _FULL_SCALE[pixels.dtype]
    np.clip(scaled, 0.0, 1.0, out=scaled)
    if scaled.ndim == 2:
        scaled = scaled[..., None]
    channels = scaled.shape[2]
    alpha = None
    if channels in (2, 4):
        alpha = np.ascontiguousarray(scaled[..., -1])
        scaled = scaled[..., :-1]
    if channels in (1, 2):
        rgb = cv2.cvtColor(np.ascontiguousarray(scaled[..., 0]), cv2.COLOR_GRAY2RGB)
    elif channels in (3, 4):
        rgb = cv2.cvtColor(np.ascontiguousarray(scaled), cv2.COLOR_BGR2RGB)
    else:
        raise ImageError(f"{name}: unsupported number of channels ({channels})")
    return Picture(rgb=rgb, alpha=alpha, bit_depth=bit_depth)


def read_image(path: Path, reduce: int = 1) -> Picture:
    """Read an image file from disk (any path, including non-ASCII names); see decode_image."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from None
    return decode_image(data, str(path), reduce)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded (not truncated, which would darken every pixel by half a step)."""
    # saturate_cast rounds to nearest; cv2 drops a trailing 1-channel axis, so restore the shape.
    return cv2.convertScaleAbs(np.clip(rgb, 0.0, 1.0), alpha=255.0).reshape(np.shape(rgb))


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, quality: int = 95) -> None:
    """Encode and write atomically: a crash mid-write never leaves a half file under `path`.

    rgb: (H, W, 3) float in [0, 1] or uint8. alpha: (H, W) in [0, 1] or None; kept where the
    format carries it (PNG, WebP, TIFF), dropped for JPEG and BMP.
    """
    path = Path(path)
    rgb8 = rgb if rgb.dtype == np.uint8 else to_uint8(rgb)
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb8), cv2.COLOR_RGB2BGR)
    suffix = path.suffix.lower()
    if alpha is not None and suffix in (".png", ".webp", ".tif", ".tiff"):
        bgr = np.dstack([bgr, to_uint8(alpha)])
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, quality], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, 100 if alpha is not None else quality]}.get(suffix, [])
    try:
        ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(bgr), params)
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"{path}: cannot encode as {suffix or 'an image (no suffix)'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(encoded.tobytes())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ImageError(f"{path}: cannot write ({err.strerror})") from None
