"""What a photo file says about itself (EXIF, XMP, IPTC, DPI): read on decode, written into the output.

Photographers' and archivists' files carry dates, cameras, captions, credits and print sizes; a
colorized copy keeps them. Reading uses the Pillow header `images.decode_image` parses anyway (no
pixels are decoded). Left out on purpose: the orientation (decoding turns the pixels upright, so
the tag would turn them a second time), the tags describing the source's own pixel encoding
(sizes, strips, compression, bit depth, resolution, which the writer sets itself), the source's
colour profile and EXIF thumbnail. Every output is tagged sRGB (`srgb_profile`), which is what
the colorizer writes.

Where each item can go: JPEG and PNG (OpenCV's pixels with segments or chunks from a Pillow-made
carrier) and WebP (written by Pillow) take EXIF, XMP and the profile; IPTC goes into JPEG and TIFF, the
formats that define a place for it; DPI into JPEG, PNG and TIFF. TIFF, 8- or 16-bit, is written
by tifffile (Pillow has no 16-bit colour mode, and its compressed TIFFs drop the EXIF
sub-directory): it takes XMP, IPTC, profile, DPI and the text tags of EXIF's first directory
(caption, camera, date, artist, copyright), not the EXIF sub-directory (exposure, original date).
"""
import functools
import io
import re
import struct
from dataclasses import dataclass

from PIL import Image, ImageCms, IptcImagePlugin, PngImagePlugin

ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# TIFF 6.0 tags that describe how the source file stored its pixels (size, layout, compression,
# sample format, resolution, colour tables and profile, old-style JPEG, Photoshop's own data):
# the output's encoder writes its own, so carrying these would contradict it.
_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, ORIENTATION, 277, 278, 279, 280, 281, 282, 283,
    284, 296, 301, 317, 318, 319, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347,
    512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531, 532,
    700, 33723, 34377, 34675, 37724,  # XMP and IPTC (carried on their own), Photoshop data, ICC, layers
})
# Pixel dimensions and colour space in the EXIF sub-directory: stale after rotation, and the output is sRGB.
_PIXEL_X, _PIXEL_Y, _COLOR_SPACE = 0xA002, 0xA003, 0xA001
# EXIF's first-directory text tags that a TIFF can hold directly (16-bit TIFF output).
_TIFF_TEXT_TAGS = (270, 271, 272, 305, 306, 315, 316, 33432)
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation(?:="|>))[0-9]')
_IPTC_DATASET = 0x1C  # IPTC-IIM tag marker: 0x1C, record, dataset, 2-byte length, data


@dataclass(frozen=True)
class Metadata:
    """What the source file says about itself, ready to write into an output of any format.

    exif: an EXIF block ("Exif\\0\\0" + TIFF structure) without orientation or pixel-layout tags.
    xmp: the XMP packet, any tiff:Orientation set to 1. iptc: IPTC-IIM datasets (captions,
    keywords, credits). dpi: (x, y) dots per inch. bit_depth: bits per channel of the source
    pixels (8, 16, or 32 for float), which picks the default output depth.
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None
    dpi: tuple[float, float] | None = None
    bit_depth: int = 8


def read_metadata(header: Image.Image, bit_depth: int) -> tuple[Metadata, list[str]]:
    """The metadata of an opened (not necessarily loaded) Pillow image, and notes on what was lost.

    EXIF and IPTC are foreign bytes written by many tools: a block Pillow cannot parse or
    re-serialize is left out with a note rather than failing the whole picture. Edits the header's
    cached EXIF (the orientation goes): read the orientation before calling this.
    """
    notes = []
    try:
        exif = _exif_without_layout(header.getexif())
    except Exception:  # a corrupt EXIF block fails in Pillow's TIFF parser in many ways
        exif = None
        notes.append("unreadable EXIF data; not carried to the output")
    try:
        iptc = _iptc_bytes(IptcImagePlugin.getiptcinfo(header))
    except Exception:  # same for IPTC records
        iptc = None
        notes.append("unreadable IPTC data; not carried to the output")
    xmp = header.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if xmp:
        xmp = _XMP_ORIENTATION.sub(rb"\g<1>1", xmp)
    dpi = header.info.get("dpi")
    if dpi is not None:
        # PNG stores dots per metre, so 300 dpi reads back as 299.9994: two decimals undo that.
        dpi = tuple(round(float(value), 2) for value in dpi)
        if len(dpi) != 2 or not all(0.0 < value < 1e6 for value in dpi):
            dpi = None
    return Metadata(exif=exif, xmp=xmp or None, iptc=iptc, dpi=dpi, bit_depth=bit_depth), notes


def _exif_without_layout(exif: Image.Exif) -> bytes | None:
    """Re-serialized EXIF without the tags the output must not inherit; None when nothing is left."""
    for tag in [tag for tag in exif if tag in _LAYOUT_TAGS]:
        del exif[tag]
    _restore_text_bytes(exif)
    for pointer in (_EXIF_IFD, _GPS_IFD):
        if pointer in exif:
            _restore_text_bytes(exif.get_ifd(pointer))  # cached in `exif`, so edits reach tobytes()
    if _EXIF_IFD in exif:
        sub = exif.get_ifd(_EXIF_IFD)
        sub.pop(_PIXEL_X, None)
        sub.pop(_PIXEL_Y, None)
        if _COLOR_SPACE in sub:
            sub[_COLOR_SPACE] = 1  # sRGB
    return exif.tobytes() if len(exif) else None


def _restore_text_bytes(directory: Image.Exif | dict) -> None:
    """Give Pillow back the bytes of non-ASCII EXIF text (a UTF-8 caption), in place.

    Pillow reads EXIF text as Latin-1 and writes text back as ASCII with "?" for every other
    character; bytes it writes untouched, so the Latin-1 decoding is undone to the file's bytes.
    """
    for tag, value in list(directory.items()):
        if isinstance(value, str) and not value.isascii():
            directory[tag] = value.encode("latin-1", "replace")


def _iptc_bytes(records: dict[tuple[int, int], bytes | list[bytes]] | None) -> bytes | None:
    """Pillow's parsed IPTC-IIM records -> the raw dataset stream JPEG's APP13 and TIFF's tag 33723 hold."""
    if not records:
        return None
    stream = bytearray()
    for (record, dataset), values in records.items():
        for value in values if isinstance(values, list) else [values]:
            if len(value) < 0x8000:  # longer values need IIM's extended length form, which no caption needs
                stream += struct.pack(">BBBH", _IPTC_DATASET, record, dataset, len(value)) + value
    return bytes(stream) or None


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile made by LittleCMS (through Pillow), embedded in every output."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def pillow_save_args(metadata: Metadata, image_format: str) -> dict:
    """Keyword arguments for Pillow's `Image.save` in JPEG, PNG or WEBP that embed `metadata`."""
    args: dict = {"icc_profile": srgb_profile()}
    if metadata.exif:
        args["exif"] = metadata.exif
    if metadata.dpi and image_format in ("JPEG", "PNG"):
        args["dpi"] = metadata.dpi
    if image_format in ("JPEG", "WEBP") and metadata.xmp:
        args["xmp"] = metadata.xmp
    if image_format == "JPEG" and metadata.iptc:
        args["extra"] = _photoshop_segment(metadata.iptc)
    if image_format == "PNG" and metadata.xmp:
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", metadata.xmp.decode("utf-8", "replace"))
        args["pnginfo"] = text
    return args


def _photoshop_segment(iptc: bytes) -> bytes:
    """A JPEG APP13 segment holding `iptc` as Photoshop image resource 0x0404, where readers look for it."""
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\x00" + resource + b"\x00" * (len(iptc) % 2)  # resources are padded to even
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def add_png_chunks(png: bytes, metadata: Metadata) -> bytes:
    """`png` (any bit depth) with the profile, EXIF, XMP and DPI chunks inserted after its IHDR.

    Pillow writes no 16-bit colour PNG and OpenCV writes no XMP or DPI, so Pillow encodes a 1x1
    carrier with the metadata and its chunks are moved over; OpenCV keeps its (faster) pixel path.
    """
    carrier = io.BytesIO()
    Image.new("RGB", (1, 1)).save(carrier, "PNG", **pillow_save_args(metadata, "PNG"))
    chunks = b"".join(chunk for kind, chunk in png_chunks(carrier.getvalue())
                      if kind not in (b"IHDR", b"IDAT", b"IEND"))
    header_end = 8 + 25  # signature, then IHDR: 4-byte length, type, 13 bytes of data, CRC
    return png[:header_end] + chunks + png[header_end:]


def add_jpeg_segments(jpeg: bytes, metadata: Metadata) -> bytes:
    """`jpeg` with its application segments replaced by those Pillow writes for `metadata` (JFIF with
    the DPI, EXIF, XMP, the profile, IPTC's Photoshop segment).

    OpenCV encodes with the same libjpeg-turbo as Pillow (the same bytes at the same quality and
    subsampling, 1.5x faster on 12 MP here) but writes none of these, so a 1x1 carrier made by
    Pillow lends them, as for PNG.
    """
    carrier = io.BytesIO()
    Image.new("RGB", (1, 1)).save(carrier, "JPEG", **pillow_save_args(metadata, "JPEG"))
    segments, _ = _jpeg_application_segments(carrier.getvalue())
    _, pixels_start = _jpeg_application_segments(jpeg)
    return jpeg[:2] + b"".join(segments) + jpeg[pixels_start:]


def _jpeg_application_segments(jpeg: bytes) -> tuple[list[bytes], int]:
    """The APPn and COM segments that follow a JPEG's SOI, and the offset of the first other marker.

    Only for files an encoder just wrote: each segment is 0xFF, its code, and a length that counts
    itself (ITU T.81 B.1.1.4).
    """
    segments, offset = [], 2
    while offset + 4 <= len(jpeg) and jpeg[offset] == 0xFF and (0xE0 <= jpeg[offset + 1] <= 0xEF
                                                                  or jpeg[offset + 1] == 0xFE):
        end = offset + 2 + int.from_bytes(jpeg[offset + 2:offset + 4], "big")
        segments.append(jpeg[offset:end])
        offset = end
    return segments, offset


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk: length, type, data and CRC) of every chunk of a PNG file, in order."""
    chunks, offset = [], 8
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        chunks.append((kind, png[offset:offset + 12 + length]))
        offset += 12 + length
    return chunks


def tifffile_args(metadata: Metadata) -> dict:
    """Keyword arguments for `tifffile.imwrite` that embed what it can write of `metadata`.

    tifffile writes no EXIF sub-directory, and Pillow's compressed (libtiff) TIFF writer cannot
    either, so a TIFF gets EXIF's first-directory text tags as TIFF tags of its own.
    """
    tags = []
    if metadata.exif:
        exif = Image.Exif()
        exif.load(metadata.exif)
        for tag in _TIFF_TEXT_TAGS:
            if isinstance(exif.get(tag), str):
                tags.append((tag, "s", 0, exif[tag].encode("latin-1", "replace"), True))  # the file's bytes
    if metadata.xmp:
        tags.append((700, "B", len(metadata.xmp), metadata.xmp, True))
    if metadata.iptc:
        tags.append((33723, "B", len(metadata.iptc), metadata.iptc, True))
    # metadata None and software False: no tifffile JSON caption or "tifffile.py" software tag.
    args = {"iccprofile": srgb_profile(), "extratags": tags, "metadata": None, "software": False}
    if metadata.dpi:
        args.update(resolution=metadata.dpi, resolutionunit="INCH")
    return args
