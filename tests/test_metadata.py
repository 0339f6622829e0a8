"""What a source file says about itself is read without its pixel-layout tags and written back faithfully."""
import io

import numpy as np
from PIL import Image, IptcImagePlugin

from gan_colorizer import image_writer, images
from gan_colorizer.metadata import Metadata, _iptc_bytes, _photoshop_segment, read_metadata

PHOTO = Image.fromarray((np.arange(40 * 60 * 3).reshape(40, 60, 3) % 251).astype(np.uint8))


def _open(image: Image.Image, fmt: str, **kwargs) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_a_scanners_tiff_keeps_its_descriptions_not_its_layout():
    tags = Image.Exif()
    tags[271], tags[305], tags[315] = "Epson", "EpsonScan 2", "County Archive"
    tags[700] = b"<x:xmpmeta>caption</x:xmpmeta>"
    tags[33723] = _iptc_bytes({(2, 120): b"Harbour, 1931"})
    metadata, notes = read_metadata(_open(PHOTO, "TIFF", tiffinfo=tags, dpi=(600, 600), compression="tiff_lzw"), 8)
    exif = Image.Exif()
    exif.load(metadata.exif)
    assert dict(exif) == {271: "Epson", 305: "EpsonScan 2", 315: "County Archive"}  # no sizes, strips, compression
    assert metadata.xmp == b"<x:xmpmeta>caption</x:xmpmeta>"
    assert metadata.iptc == _iptc_bytes({(2, 120): b"Harbour, 1931"})
    assert metadata.dpi == (600.0, 600.0) and notes == []


def test_orientation_and_stale_pixel_facts_are_dropped():
    exif = Image.Exif()
    exif[0x0112], exif[0x0110] = 8, "X100"
    sub = exif.get_ifd(0x8769)
    sub[0xA001], sub[0xA002], sub[0xA003], sub[0x829A] = 0xFFFF, 4000, 3000, 0.004  # uncalibrated, sizes, exposure
    metadata, _ = read_metadata(_open(PHOTO, "JPEG", exif=exif), 8)
    kept = Image.Exif()
    kept.load(metadata.exif)
    assert 0x0112 not in kept and kept[0x0110] == "X100"
    assert kept.get_ifd(0x8769) == {0xA001: 1, 0x829A: 0.004}  # colour space now sRGB, like the output


def test_png_dots_per_metre_read_back_as_the_dpi_written():
    assert read_metadata(_open(PHOTO, "PNG", dpi=(300, 300)), 8)[0].dpi == (300.0, 300.0)


def test_a_file_without_metadata_gives_empty_metadata():
    assert read_metadata(_open(PHOTO, "PNG"), 16)[0] == Metadata(bit_depth=16)


def test_non_ascii_captions_survive_every_output(tmp_path):
    exif = Image.Exif()
    exif[0x010E] = "Café au port, 1931".encode()  # cameras and editors write UTF-8 into EXIF text
    iptc = _iptc_bytes({(1, 90): b"\x1b%G", (2, 120): "Großmutter am Hafen".encode()})  # 1:90 ESC % G: UTF-8
    buf = io.BytesIO()
    PHOTO.save(buf, "JPEG", exif=exif, extra=_photoshop_segment(iptc))
    picture = images.decode_image(buf.getvalue(), "in.jpg")
    for name in ("x.jpg", "x.png", "x.webp", "x.tif"):
        image_writer.write_image(tmp_path / name, picture.rgb, metadata=picture.metadata)
        with Image.open(tmp_path / name) as out:
            # Pillow shows EXIF text as Latin-1; the file holds the UTF-8 bytes written above.
            assert out.getexif()[0x010E].encode("latin-1").decode() == "Café au port, 1931"
            if name in ("x.jpg", "x.tif"):
                assert IptcImagePlugin.getiptcinfo(out)[(2, 120)] == "Großmutter am Hafen".encode()
