"""Read any image file a user has as float RGB (writing results is gan_colorizer.image_writer).

Decoding: Pillow parses the header (size, frame count, orientation, metadata; no pixels), then
OpenCV decodes the pixels (libjpeg-turbo, libwebp, libtiff, OpenJPEG, libavif): faster than
Pillow for JPEG, and the only one of the two that keeps 16-bit colour. PNGs are decoded by Pillow
unless 16-bit colour, because OpenCV's libpng prints its warnings and errors straight to stderr
(16-bit colour PNGs reach it without their ancillary chunks, so only a corrupt one can make it
print); formats OpenCV lacks (TGA, PCX, QOI) fall back to Pillow. This module and image_writer are
the only ones that know OpenCV orders channels BGR. Every decoded image comes back as its `pixels`
as decoded (gray or RGB, 8/16-bit or float) plus an optional `alpha` float32 (H, W) in [0, 1],
turned upright by its EXIF orientation; `Picture.rgb` gives float32 (H, W, 3) in [0, 1] on demand
(gray files give three equal channels, so a gray file and the same picture saved as RGB give the
same L) and `Picture.L` the lightness, from a table for an 8-bit gray file. Only a file's first
frame or page is decoded; `Picture.notes` says when there were more.
"""
import functools
import io
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image

from gan_colorizer import color
from gan_colorizer.errors import DataError, ImageError
from gan_colorizer.metadata import ORIENTATION, Metadata, png_chunks, read_metadata

# Photo formats that OpenCV or Pillow decode here. Left out: icons (ico, icns, cur), textures (dds),
# linear-light float images (hdr, pfm, exr: not sRGB), layered documents (psd); HEIC has no decoder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".dib", ".gif",
                  ".jp2", ".j2k", ".j2c", ".jpf", ".jpx", ".pbm", ".pgm", ".ppm", ".pnm", ".pam", ".ras",
                  ".tga", ".pcx", ".avif", ".qoi")
_JPEG_MAGIC = b"\xff\xd8"
# A JPEG marker: 0xFF (any number: fill bytes may pad it) and a code that is neither 0x00 (a stuffed
# 0xFF in compressed data) nor 0xFF. Markers without a length field: TEM and RST0-7 (ITU T.81 B.1.1.3).
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xff])")
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Every bit depth OpenCV decodes to, mapped to its full-scale value.
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}
# EXIF orientation (tag 274, EXIF 2.32 section 4.6.4) -> the operation that turns the stored pixels upright.
_UPRIGHT = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.rotate(cv2.transpose(a), cv2.ROTATE_180),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}
# Formats whose decoders (libtiff, in OpenCV and in Pillow) already apply the orientation tag.
_ORIENTED_BY_DECODER = ("TIFF",)
# Formats whose extra frames are another picture of the file (MPO: a camera's preview or depth map).
_FRAMES_NOT_PAGES = ("MPO",)

# Decoder chatter must not reach the user. OpenCV logs decoder complaints (libtiff's unknown tags,
# OpenJPEG's colour space guesses, and an ERROR line for every file it cannot read) to stderr;
# every failure already becomes an ImageError naming the file, so the log would only repeat it in
# a worse form. Process-wide: OpenCV has no per-call setting, and this module is imported before
# any decoding thread starts. (libpng prints on its own, whatever the level: see the module doc.)
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@dataclass
class Picture:
    """A decoded image: its pixels as decoded, upright, and what to tell the user about them.

    pixels: (H, W) gray or (H, W, 3) RGB; uint8, uint16 or float32 (full scale 255, 65535 or 1).
    Kept as decoded because most inputs are 8-bit gray scans, whose L is one table lookup: three
    float channels would cost 12 bytes a pixel and a conversion of each. alpha: (H, W) float32 in
    [0, 1] or None. notes: one-line remarks for the user about what decoding left out (later frames
    or pages, unreadable metadata, damage); a folder run prints each as `path: note: ...`.
    metadata: what to carry into the output (`write_image(..., metadata=picture.metadata)`).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    reduced: int = 1  # the file is this many times larger per side (JPEG DCT-scaled decoding)
    notes: list[str] = field(default_factory=list)
    damage: str = ""  # what was wrong with the file and was worked around ('' for a sound file); also a note
    metadata: Metadata = field(default_factory=Metadata)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]

    @functools.cached_property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 sRGB in [0, 1]; gray pixels give three equal channels."""
        scaled = self.pixels.astype(np.float32) / _FULL_SCALE[self.pixels.dtype]
        np.clip(scaled, 0.0, 1.0, out=scaled)
        return cv2.cvtColor(scaled, cv2.COLOR_GRAY2RGB) if scaled.ndim == 2 else scaled

    @property
    def L(self) -> np.ndarray:
        """(H, W) float32 lightness in [0, 100], the same number either way it is computed."""
        if self.pixels.ndim == 2 and self.pixels.dtype == np.uint8:
            return color.gray_to_L(self.pixels)
        return color.rgb_to_L(self.rgb)

    @property
    def is_gray(self) -> bool:
        """True when all three channels agree to within 8-bit rounding (a gray or sepia-free scan).

        Judged on about 64K pixels spread over the picture: as good as all of them, and cheap.
        """
        if self.pixels.ndim == 2:
            return True
        step = max(1, int((self.pixels.shape[0] * self.pixels.shape[1] / 65536) ** 0.5))
        sample = self.pixels[::step, ::step].astype(np.float32)
        spread = sample.max(axis=2) - sample.min(axis=2)
        return bool(np.percentile(spread, 99) <= 2.0 * _FULL_SCALE[self.pixels.dtype] / 255.0)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def list_image_files(root: Path) -> list[Path]:
    """Every image file under the folder `root` (recursive), sorted; the one lister data, inference and
    evaluation share. Raises DataError when the folder holds none, naming the suffixes looked for."""
    found = sorted(p for p in Path(root).rglob("*") if p.is_file() and is_image_name(p.name))
    if not found:
        raise DataError(f"{root}: no images found (looked for {' '.join(IMAGE_SUFFIXES)})")
    return found


def _open_header(file: BinaryIO) -> Image.Image | None:
    """Pillow's lazily loaded image of `file` (header parsed, pixels not read), or None if no plugin knows it.

    This is Image.open's own search (every registered plugin in order, its prefix test, then its
    parser) without the decompression-bomb check Image.open adds after it: that check reads the
    process-wide Image.MAX_IMAGE_PIXELS, raising it would unprotect every other thread, and its
    error hides the image size. `max_pixels` is our guard instead.
    """
    # Pillow warns (UserWarning, printed to stderr) about odd tags in a file's EXIF/TIFF directories
    # and malformed MPO or APNG extras, then carries on. A per-call warnings.catch_warnings would swap
    # the process-wide filter list, which is not safe in our decoding threads; this filter is narrow,
    # and added here rather than at import because callers (pytest among them) reset filters.
    warnings.filterwarnings("ignore", category=UserWarning,
                            module=r"PIL\.(TiffImagePlugin|JpegImagePlugin|PngImagePlugin)$")
    Image.init()  # registers every plugin; returns at once after the first call
    prefix = file.read(16)
    for image_format in Image.ID:
        factory, accept = Image.OPEN[image_format]
        try:
            accepted = accept is None or accept(prefix)
        except (IndexError, struct.error):  # a prefix test reading past the end of a file of 0-3 bytes
            continue
        if not accepted or isinstance(accepted, str):  # a str means "recognised but unsupported"
            continue
        file.seek(0)
        try:
            return factory(file)
        except (SyntaxError, IndexError, TypeError, struct.error):  # not this format: Image.open tries the next
            continue
        except Exception:  # this format, but broken in a way its parser does not survive
            return None
    return None


def _refuse_above(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} ({width * height / 1e6:.1f} megapixels) is above "
                         f"--max-pixels {max_pixels}; raise --max-pixels to colorize it")


def check_pixel_count(path: Path, max_pixels: int) -> tuple[int, int] | None:
    """Refuse an image above `max_pixels` from its header, before decoding allocates it.

    Reads only the header; the error gives the true size (`x.png: 30000x30000 (900.0 megapixels)
    is above --max-pixels ...`). Files Pillow cannot parse pass: decoding reports them.
    read_image(path, max_pixels=...) does the same check on the header it parses anyway.
    Returns the header's (height, width), as stored (before EXIF orientation), for further checks
    (the folder runner's memory estimate); None when Pillow cannot parse the header.
    """
    try:
        with open(path, "rb") as file:
            header = _open_header(file)
            if header is None:
                return None
            _refuse_above(str(path), header.size, max_pixels)
            return header.height, header.width
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from None


def decode_image(data: bytes, name: str, reduce: int = 1, *, max_pixels: int | None = None) -> Picture:
    """Decode the bytes of an image file; `name` is only used in error messages and notes.

    reduce: 1, 2, 4 or 8 decodes a JPEG at about that fraction of its size via DCT scaling (fast
    thumbnails). A hint only: other formats are always decoded whole.
    max_pixels: refuse (ImageError) an image whose header says it is larger, before decoding it.
    The pixels come back upright (EXIF orientation applied, for every format), alpha kept. Only
    the first frame of an animation or page of a multi-page TIFF is decoded, with a note saying so.
    Raises ImageError with a one-line reason for anything that is not a decodable image.
    """
    if len(data) == 0:
        raise ImageError(f"{name}: empty file")
    header = _open_header(io.BytesIO(data))
    if header is not None and max_pixels is not None:
        _refuse_above(name, header.size, max_pixels)
    if header is None and data.startswith(_PNG_MAGIC):
        # A PNG Pillow rejects is broken; OpenCV's libpng would only print the reason to stderr.
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or unsupported format)")
    is_jpeg = data[:2] == _JPEG_MAGIC
    damage = ""
    if is_jpeg:
        data, damage = _without_stray_bytes(data)
    if header is not None and header.format == "PNG" and not _is_16_bit_colour_png(data):
        pixels, channel_order = _pillow_pixels(header, name), "RGB"
    else:
        if header is not None and header.format == "PNG":
            data = _pixel_chunks_only(data)
        pixels, channel_order = _opencv_pixels(data, is_jpeg, reduce), "BGR"
        if pixels is None and header is not None:  # a format OpenCV lacks (TGA, PCX, QOI)
            pixels, channel_order = _pillow_pixels(header, name), "RGB"
    if pixels is None:
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or unsupported format)")
    if is_jpeg and _looks_truncated(data):
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    notes: list[str] = []
    metadata = Metadata(bit_depth=_bit_depth(pixels))
    if header is not None:
        orientation = _orientation(header)  # before read_metadata, which drops the tag
        if header.format not in _ORIENTED_BY_DECODER and orientation in _UPRIGHT:
            pixels = _UPRIGHT[orientation](pixels)
        metadata, notes = read_metadata(header, metadata.bit_depth)
        notes = _frame_notes(header) + notes
    picture = _to_picture(pixels, name, channel_order)
    picture.reduced = reduce if is_jpeg and channel_order == "BGR" else 1
    if damage:
        notes.append(damage)
    picture.notes, picture.metadata, picture.damage = notes, metadata, damage
    return picture


def _without_stray_bytes(jpeg: bytes) -> tuple[bytes, str]:
    """The JPEG without stray bytes between its header segments, and a line saying what was cut ('' if nothing).

    libjpeg skips such bytes anyway, but prints "Corrupt JPEG data: N extraneous bytes before marker
    0x.." to stderr from C on every decode (OpenCV's log level does not reach it), so a training log
    repeated it at every read of the photo. Handing it the bytes without them decodes the same pixels
    in silence, at OpenCV's speed (Pillow, which never prints, was 1.2-2x slower at full size here).
    Only the header, up to the first scan, is walked: a few segments, microseconds. Bytes stray
    inside the compressed data cannot be told from it without decoding, and still print.
    """
    pieces, stray = [], []
    position, copied = len(_JPEG_MAGIC), 0
    while (marker := _JPEG_MARKER.search(jpeg, position)) is not None:
        code = marker.group(1)[0]
        if marker.start() > position:
            stray.append(f"{marker.start() - position} extraneous bytes before marker 0x{code:02x}")
            pieces.append(jpeg[copied:position])
            copied = marker.start()
        if code in (_JPEG_SOS, _JPEG_EOI) or marker.end() + 2 > len(jpeg):
            break
        length = 0 if code in _JPEG_STANDALONE else int.from_bytes(jpeg[marker.end():marker.end() + 2], "big")
        if 0 < length < 2:  # a broken length field: leave the file to the decoder, which reports it
            break
        position = marker.end() + length
    if not stray:
        return jpeg, ""
    return b"".join(pieces) + jpeg[copied:], f"damaged JPEG: decoded without {', '.join(stray)}"


def _orientation(header: Image.Image) -> int:
    """The EXIF orientation (1-8; Pillow falls back to XMP's tiff:Orientation), 1 when absent or unreadable."""
    try:
        return header.getexif().get(ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block fails in Pillow's TIFF parser in many ways; read_metadata notes it
        return 1


def _is_16_bit_colour_png(data: bytes) -> bool:
    """From IHDR, always the first chunk: bit depth at byte 24, colour type (0 = gray) at byte 25."""
    return len(data) > 25 and data[24] == 16 and data[25] != 0


def _pixel_chunks_only(png: bytes) -> bytes:
    """The PNG without its ancillary chunks but transparency: libpng's warnings (a profile it
    dislikes, an odd eXIf) are about those, and their contents were read from Pillow's header."""
    return png[:8] + b"".join(chunk for kind, chunk in png_chunks(png) if kind[:1].isupper() or kind == b"tRNS")


def _opencv_pixels(data: bytes, is_jpeg: bool, reduce: int) -> np.ndarray | None:
    """OpenCV's array as stored (orientation not applied: decode_image applies it for every format)."""
    if is_jpeg and reduce > 1:
        flags = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    elif is_jpeg:
        # ANYCOLOR keeps gray JPEGs 1-channel and converts CMYK/YCCK to BGR.
        flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    else:
        flags = cv2.IMREAD_UNCHANGED
    try:
        pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:  # OpenCV raises on some malformed headers instead of returning None
        return None
    return None if pixels is None or pixels.size == 0 else pixels


def _pillow_pixels(header: Image.Image, name: str) -> np.ndarray:
    """Pillow's pixels as an RGB-ordered array: (H, W) or (H, W, 2|3|4), uint8, uint16 or float32."""
    try:
        header.load()
        if header.mode.startswith("I;16"):
            return np.asarray(header).astype(np.uint16)
        if header.mode == "F":
            return np.asarray(header, dtype=np.float32)
        if header.mode == "LA" or header.mode == "La":
            mode = "LA"
        elif header.has_transparency_data:  # palette or gray with a transparent entry, RGBA, PA
            mode = "RGBA"
        else:
            mode = "L" if header.mode in ("1", "L") else "RGB"
        return np.asarray(header if header.mode == mode else header.convert(mode))  # convert() would copy
    except Exception:  # foreign bytes: Pillow's decoders fail in many ways (truncated, bad CRC, bad zlib)
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or unsupported format)") from None


def _bit_depth(pixels: np.ndarray) -> int:
    return pixels.dtype.itemsize * 8


def _frame_notes(header: Image.Image) -> list[str]:
    """A note when the file holds more frames or pages than the first, which is all that is decoded."""
    try:
        count = getattr(header, "n_frames", 1)
    except Exception:  # counting walks every frame of foreign bytes; a broken later frame is not our concern
        return []
    if count <= 1 or header.format in _FRAMES_NOT_PAGES:
        return []
    if header.format == "TIFF":
        return [f"multi-page TIFF with {count} pages: only the first page is colorized"]
    return [f"animated {header.format} with {count} frames: only the first frame is colorized"]


def _looks_truncated(data: bytes) -> bool:
    """libjpeg fills a cut-off JPEG with gray and only warns; the missing EOI marker gives it away."""
    return b"\xff\xd9" not in data[-64:]


def _to_picture(pixels: np.ndarray, name: str, channel_order: str) -> Picture:
    """A decoder's array (gray, gray+alpha, colour, colour+alpha; 8/16-bit or float) -> Picture."""
    if pixels.dtype not in _FULL_SCALE:
        raise ImageError(f"{name}: unsupported pixel type {pixels.dtype}")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in (1, 2, 3, 4):
        raise ImageError(f"{name}: unsupported number of channels ({channels})")
    alpha = None
    if channels in (2, 4):
        alpha = np.clip(pixels[..., -1].astype(np.float32) / _FULL_SCALE[pixels.dtype], 0.0, 1.0)
    if channels == 1:
        colour = pixels.reshape(pixels.shape[:2])
    elif channels == 2:
        colour = np.ascontiguousarray(pixels[..., 0])
    elif channel_order == "BGR":
        colour = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB if channels == 4 else cv2.COLOR_BGR2RGB)
    else:
        colour = np.ascontiguousarray(pixels[..., :3])
    return Picture(pixels=colour, alpha=alpha, bit_depth=_bit_depth(pixels))


def read_image(path: Path, reduce: int = 1, *, max_pixels: int | None = None) -> Picture:
    """Read an image file from disk (any path, including non-ASCII names); see decode_image."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from None
    return decode_image(data, str(path), reduce, max_pixels=max_pixels)


def fit_within(image: np.ndarray, longest: int) -> np.ndarray:
    """(H, W, C) image -> a copy whose longer side is at most `longest` (area averaging, so fine texture
    does not alias); smaller images come back as they are, never enlarged."""
    height, width = image.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)
