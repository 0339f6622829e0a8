"""Every listed format decodes upright, every gray form gives the same L, bad files give one-line
ImageErrors and no decoder chatter; writes carry metadata and bit depth, atomically."""
import io
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, IptcImagePlugin
from skimage import data as skdata

from gan_colorizer import color, image_writer, images
from gan_colorizer.errors import ConfigError, ImageError
from gan_colorizer.metadata import _iptc_bytes, _photoshop_segment
from tests.conftest import with_stray_bytes


def _pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _cv_bytes(rgb: np.ndarray, suffix: str) -> bytes:
    """RGB or RGBA (any depth) encoded by OpenCV, which takes BGR(A)."""
    bgr = np.concatenate([rgb[..., 2::-1], rgb[..., 3:]], axis=2)
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    assert ok
    return buf.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


GRAY8 = np.asarray(Image.fromarray(skdata.camera()).resize((48, 40)))
PHOTO = np.ascontiguousarray(skdata.chelsea()[:40, :60])  # (40, 60, 3) uint8: 60 wide, 40 tall
UPRIGHT = Image.fromarray(PHOTO)


@pytest.mark.parametrize("make", [
    lambda: _pil_bytes(Image.fromarray(GRAY8), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("LA"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("RGB"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("RGBA"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("P"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8.astype(np.uint16) * 257), "PNG"),
    lambda: _cv_bytes(np.repeat(GRAY8[..., None].astype(np.uint16) * 257, 3, axis=2), ".png"),
    lambda: _cv_bytes(np.dstack([np.repeat(GRAY8[..., None], 3, axis=2).astype(np.uint16) * 257,
                                 np.full(GRAY8.shape, 65535, np.uint16)]), ".png"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("CMYK"), "TIFF"),
    lambda: _pil_bytes(Image.fromarray(GRAY8.astype(np.float32) / 255.0), "TIFF"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("RGB"), "BMP"),
    lambda: _pil_bytes(Image.fromarray(GRAY8), "WEBP", lossless=True),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("P"), "GIF"),
], ids=["gray8", "gray+alpha", "rgb-equal", "rgba", "palette", "gray16", "rgb16", "rgba16", "cmyk-tiff",
        "float-tiff", "bmp", "webp", "gif"])
def test_every_gray_form_gives_the_same_L(make):
    expected = color.rgb_to_L(np.repeat(GRAY8[..., None], 3, axis=2).astype(np.float32) / 255.0)
    picture = images.decode_image(make(), "x")
    assert picture.rgb.shape == (40, 48, 3) and picture.rgb.dtype == np.float32
    np.testing.assert_allclose(color.rgb_to_L(picture.rgb), expected, atol=1e-3)
    assert picture.is_gray


def test_sixteen_bit_colour_keeps_every_bit():
    rgb16 = (np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3) * 9 % 65536).astype(np.uint16)
    for suffix in (".png", ".tif"):
        picture = images.decode_image(_cv_bytes(rgb16, suffix), f"x{suffix}")
        assert picture.bit_depth == 16 and picture.metadata.bit_depth == 16
        np.testing.assert_array_equal(image_writer.to_uint16(picture.rgb), rgb16)


def test_one_bit_files_decode_to_black_and_white():
    bits = GRAY8 > 128
    for fmt in ("PNG", "TIFF"):
        picture = images.decode_image(_pil_bytes(Image.fromarray(bits), fmt), "x")
        np.testing.assert_array_equal(picture.rgb[..., 0], bits.astype(np.float32))


def test_palette_transparency_becomes_alpha():
    palette = UPRIGHT.quantize(63)  # indices 0-62; 63 is only the transparent corner
    indices = np.asarray(palette).copy()
    indices[:10, :10] = 63
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.getpalette()[:63 * 3] + [0, 0, 0])
    for fmt in ("PNG", "GIF"):
        picture = images.decode_image(_pil_bytes(image, fmt, transparency=63), "x")
        assert picture.alpha is not None
        assert picture.alpha[:10, :10].max() == 0.0 and picture.alpha[10:, 10:].min() == 1.0


def test_cmyk_jpeg_decodes_close_to_the_gray_original():
    picture = images.decode_image(_pil_bytes(Image.fromarray(GRAY8).convert("CMYK"), "JPEG", quality=100), "x.jpg")
    expected = color.rgb_to_L(np.repeat(GRAY8[..., None], 3, axis=2).astype(np.float32) / 255.0)
    assert np.abs(color.rgb_to_L(picture.rgb) - expected).mean() < 1.0


def test_alpha_is_kept():
    rgba = np.dstack([PHOTO[:20, :30], np.full((20, 30), 128, np.uint8)])
    picture = images.decode_image(_pil_bytes(Image.fromarray(rgba), "PNG"), "x.png")
    assert picture.alpha is not None
    np.testing.assert_allclose(picture.alpha, 128 / 255, atol=1e-6)
    assert not picture.is_gray


# One file per listed suffix, written by Pillow or OpenCV, so each is known to decode here.
_MAKERS = {
    ".jpg": lambda: _pil_bytes(UPRIGHT, "JPEG", quality=95),
    ".png": lambda: _pil_bytes(UPRIGHT, "PNG"),
    ".webp": lambda: _pil_bytes(UPRIGHT, "WEBP", lossless=True),
    ".tif": lambda: _pil_bytes(UPRIGHT, "TIFF", compression="tiff_lzw"),
    ".bmp": lambda: _pil_bytes(UPRIGHT, "BMP"),
    ".gif": lambda: _pil_bytes(UPRIGHT, "GIF"),
    ".jp2": lambda: _pil_bytes(UPRIGHT, "JPEG2000"),
    ".j2k": lambda: _pil_bytes(UPRIGHT, "JPEG2000", no_jp2=True),
    ".pbm": lambda: _pil_bytes(UPRIGHT.convert("1"), "PPM"),
    ".pgm": lambda: _pil_bytes(UPRIGHT.convert("L"), "PPM"),
    ".ppm": lambda: _pil_bytes(UPRIGHT, "PPM"),
    ".pam": lambda: _cv_bytes(PHOTO, ".pam"),
    ".ras": lambda: _cv_bytes(PHOTO, ".ras"),
    ".tga": lambda: _pil_bytes(UPRIGHT, "TGA", compression="tga_rle"),
    ".pcx": lambda: _pil_bytes(UPRIGHT, "PCX"),
    ".avif": lambda: _pil_bytes(UPRIGHT, "AVIF", quality=90),
    ".qoi": lambda: _pil_bytes(UPRIGHT, "QOI"),
}
# Suffixes naming the same bytes as one above.
_SAME_AS = {".jpeg": ".jpg", ".jpe": ".jpg", ".jfif": ".jpg", ".tiff": ".tif", ".dib": ".bmp", ".j2c": ".j2k",
            ".jpf": ".jp2", ".jpx": ".jp2", ".pnm": ".ppm"}


def test_every_listed_suffix_has_a_decoding_test():
    assert set(images.IMAGE_SUFFIXES) == set(_MAKERS) | set(_SAME_AS)
    assert all(images.is_image_name(f"Photo{suffix.upper()}") for suffix in images.IMAGE_SUFFIXES)


@pytest.mark.parametrize("suffix", sorted(_MAKERS))
def test_every_listed_format_decodes(suffix):
    data = _MAKERS[suffix]()
    picture = images.decode_image(data, f"x{suffix}")
    assert picture.rgb.shape == (40, 60, 3) and picture.notes == []
    # What the file holds (after palette or 1-bit reduction), as Pillow or, for PAM, OpenCV reads it.
    expected = PHOTO if suffix == ".pam" else np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    lossy = suffix in (".jpg", ".avif")  # the two libraries' decoders may round differently
    assert np.abs(image_writer.to_uint8(picture.rgb).astype(int) - expected).mean() <= (2.0 if lossy else 0.0)


def test_folder_lister_finds_gifs_and_other_formats(tmp_path):
    for name in ("a.gif", "b.JP2", "c.tga", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in images.list_image_files(tmp_path)] == ["a.gif", "b.JP2", "c.tga"]


@pytest.mark.parametrize("fmt, kwargs, note", [
    ("GIF", {}, "animated GIF with 3 frames: only the first frame is colorized"),
    ("WEBP", {"lossless": True}, "animated WEBP with 3 frames: only the first frame is colorized"),
    ("PNG", {}, "animated PNG with 3 frames: only the first frame is colorized"),
    ("TIFF", {}, "multi-page TIFF with 3 pages: only the first page is colorized"),
])
def test_only_the_first_frame_is_decoded_with_a_note(fmt, kwargs, note):
    frames = [UPRIGHT.transpose(Image.Transpose.FLIP_TOP_BOTTOM), UPRIGHT.rotate(180)]
    data = _pil_bytes(UPRIGHT, fmt, save_all=True, append_images=frames, **kwargs)
    picture = images.decode_image(data, "x")
    assert picture.notes == [note]
    first = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.abs(image_writer.to_uint8(picture.rgb).astype(int) - first).mean() == 0.0


def test_a_camera_jpeg_with_a_preview_image_gets_no_note():
    data = _pil_bytes(UPRIGHT, "MPO", save_all=True, append_images=[UPRIGHT.resize((30, 20))])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert images.decode_image(data, "x.jpg").notes == []


def _with_orientation(fmt: str, orientation: int, **kwargs) -> bytes:
    """UPRIGHT stored so that a viewer applying `orientation` shows it upright."""
    stored = UPRIGHT
    # Undo what the viewer will do: the inverse of each EXIF orientation's transform.
    inverse = {2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180],
               4: [Image.Transpose.FLIP_TOP_BOTTOM], 5: [Image.Transpose.TRANSPOSE],
               6: [Image.Transpose.ROTATE_90], 7: [Image.Transpose.TRANSVERSE], 8: [Image.Transpose.ROTATE_270]}
    for op in inverse.get(orientation, []):
        stored = stored.transpose(op)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _pil_bytes(stored, fmt, exif=exif, **kwargs)
    assert np.array_equal(np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")).shape,
                          PHOTO.shape)
    return data


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt, kwargs", [("JPEG", {"quality": 100}), ("PNG", {}), ("WEBP", {"lossless": True}),
                                         ("TIFF", {}), ("AVIF", {"quality": 100})])
def test_exif_orientation_is_applied_for_every_format(fmt, kwargs, orientation):
    picture = images.decode_image(_with_orientation(fmt, orientation, **kwargs), "x")
    assert picture.rgb.shape == (40, 60, 3)
    # Lossy formats differ by compression noise only; a wrong turn or flip differs by far more.
    assert np.abs(image_writer.to_uint8(picture.rgb).astype(int) - PHOTO).mean() < 3.0


def test_orientation_applies_to_reduced_jpeg_decoding():
    picture = images.decode_image(_with_orientation("JPEG", 6, quality=100), "x.jpg", reduce=2)
    assert picture.rgb.shape == (20, 30, 3) and picture.reduced == 2


def test_xmp_orientation_alone_is_applied():
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    data = _pil_bytes(UPRIGHT.transpose(Image.Transpose.ROTATE_90), "JPEG", xmp=xmp, quality=100)
    picture = images.decode_image(data, "x.jpg")
    assert picture.rgb.shape == (40, 60, 3)
    assert b'tiff:Orientation="1"' in picture.metadata.xmp


def _giant_png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height with one tiny IDAT: parses, never meant to decode."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + _png_chunk(b"IEND", b""))


def test_pixel_check_gives_the_true_size_from_the_header(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(_giant_png_header(30000, 30000))
    expected = f"{path}: 30000x30000 (900.0 megapixels) is above --max-pixels 100000000; raise --max-pixels"
    for check in (lambda: images.check_pixel_count(path, 100_000_000),
                  lambda: images.read_image(path, max_pixels=100_000_000)):
        with pytest.raises(ImageError) as info:
            check()
        assert str(info.value).startswith(expected)


def test_pixel_check_passes_below_the_limit_without_pillow_bomb_warnings(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(_giant_png_header(10000, 10000))  # 100 MP: above Pillow's warning threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images.check_pixel_count(path, 100_000_000)


def _awkward_files() -> dict[str, bytes]:
    """Files whose decoders like to print to stderr: odd chunks, broken data, unknown tags."""
    png = _cv_bytes(PHOTO, ".png")
    idat = png.index(b"IDAT") - 4
    length = struct.unpack(">I", png[idat:idat + 4])[0]
    scrambled = bytes(b ^ 0x55 if 10 <= i < 60 else b for i, b in enumerate(png[idat + 8:idat + 8 + length]))
    tiff = _pil_bytes(UPRIGHT, "TIFF", tiffinfo={65000: "private"})
    jpeg = _cv_bytes(PHOTO, ".jpg")
    bad_exif = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01\x0f\x00\x02\x00\x00\x00\x20\x00\x00\x00\x99"
    png16 = _cv_bytes(PHOTO.astype(np.uint16) * 257, ".png")
    bad_iccp = _png_chunk(b"iCCP", b"x\x00\x00" + zlib.compress(b"not a profile"))
    return {
        "bad-iccp.png": png[:33] + bad_iccp + png[33:],
        "bad-iccp-16-bit.png": png16[:33] + bad_iccp + _png_chunk(b"eXIf", b"MM\x00*junk") + png16[33:],
        "bad-crc.png": png[:33] + struct.pack(">I", 4) + b"tEXt" + b"a\x00bc" + b"\x00" * 4 + png[33:],
        "broken-idat.png": png[:idat] + _png_chunk(b"IDAT", scrambled) + png[idat + 12 + length:],
        "truncated.png": png[: len(png) // 2],
        "unknown-tag.tif": tiff,
        "truncated.tif": tiff[: len(tiff) // 2],
        "no-colour-space.j2k": _pil_bytes(UPRIGHT, "JPEG2000", no_jp2=True),
        "truncated.jp2": _pil_bytes(UPRIGHT, "JPEG2000")[:600],
        "truncated.gif": _pil_bytes(UPRIGHT, "GIF")[:500],
        "corrupt-exif.jpg": jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(bad_exif) + 2) + bad_exif + jpeg[2:],
        "corrupt.jpg": jpeg[:300] + bytes(50) + jpeg[350:],
        "stray-bytes.jpg": with_stray_bytes(jpeg),
        "truncated.avif": _pil_bytes(UPRIGHT, "AVIF")[:200],
        "text.bmp": b"BM this is not a bitmap",
    }


def test_decoders_print_nothing(capfd):
    with warnings.catch_warnings(record=True) as caught:
        for name, data in _awkward_files().items():
            try:
                images.decode_image(data, name)
            except ImageError as err:
                assert str(err).startswith(name) and "\n" not in str(err)
    assert capfd.readouterr() == ("", "")
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("reduce", [1, 2])
def test_stray_bytes_in_a_jpeg_header_are_noted_once_and_decoded_silently(reduce, capfd):
    """libjpeg skips them but prints a line at every decode; the bytes are cut before it sees them."""
    sound = _cv_bytes(PHOTO, ".jpg")
    picture = images.decode_image(with_stray_bytes(sound), "scan.jpg", reduce)
    assert capfd.readouterr() == ("", "")
    assert picture.damage == "damaged JPEG: decoded without 5 extraneous bytes before marker 0xdb"
    assert picture.notes == [picture.damage] and picture.reduced == reduce
    np.testing.assert_array_equal(picture.rgb, images.decode_image(sound, "sound.jpg", reduce).rgb)
    assert images.decode_image(sound, "sound.jpg").damage == ""


def test_bad_files_raise_one_line_errors(broken_files):
    for path in broken_files.values():
        with pytest.raises(ImageError) as info:
            images.read_image(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("bits, convert, scale", [(8, image_writer.to_uint8, 255), (16, image_writer.to_uint16, 65535)])
def test_quantizing_rounds_to_nearest_and_clips(bits, convert, scale):
    steps = np.arange(0, scale + 1, max(1, scale // 1000), dtype=np.float64)
    for offset, expected in ((0.0, steps), (0.49, steps), (-0.49, steps)):
        values = np.clip((steps + offset) / scale, 0.0, 1.0).astype(np.float32)
        np.testing.assert_array_equal(convert(np.stack([values] * 3, axis=-1)), np.stack([expected] * 3, axis=-1))
    assert convert(np.array([[-0.2, 1.3]], np.float32)).tolist() == [[0, scale]]


@pytest.mark.parametrize("value, expected", [(np.nan, 0), (np.inf, 1), (-np.inf, 0)], ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize("convert, scale", [(image_writer.to_uint8, 255), (image_writer.to_uint16, 65535)],
                         ids=["8-bit", "16-bit"])
def test_quantizing_maps_nan_and_inf_to_a_fixed_value(convert, scale, value, expected):
    """NaN -> 0, +inf -> full scale, -inf -> 0 in every OpenCV release (5.1 turned NaN white)."""
    for dtype in (np.float32, np.float64):
        pixels = np.full((2, 3, 3), 0.5, dtype)
        pixels[1, 2, 1] = value
        quantized = convert(pixels)
        assert quantized[1, 2, 1] == expected * scale
        assert (np.delete(quantized.reshape(-1), 3 * 5 + 1) == round(0.5 * scale)).all()  # the rest untouched
        np.testing.assert_array_equal(pixels[1, 2, 1], value)  # the caller's array is left as it was


def test_write_is_atomic_and_round_trips(tmp_path, chelsea_48x40):
    target = tmp_path / "out" / "x.png"
    alpha = np.linspace(0, 1, 48 * 40, dtype=np.float32).reshape(40, 48)
    image_writer.write_image(target, chelsea_48x40, alpha)
    back = images.read_image(target)
    np.testing.assert_allclose(back.rgb, chelsea_48x40, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(back.alpha, alpha, atol=0.5 / 255 + 1e-6)
    assert [p.name for p in target.parent.iterdir()] == ["x.png"]


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
       b'tiff:Orientation="6"><dc:description>Grandmother at the harbour, 1931</dc:description>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta>')


def _photographers_jpeg() -> bytes:
    """A JPEG stored turned (orientation 6) with EXIF date, camera, caption, an XMP packet, IPTC and 300 dpi."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Nikon"
    exif[0x010E] = "Harbour"
    exif.get_ifd(0x8769)[0x9003] = "1931:07:04 10:20:30"
    iptc = _iptc_bytes({(2, 120): b"IPTC caption", (2, 25): [b"harbour", b"family"]})
    return _pil_bytes(UPRIGHT.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif, xmp=XMP,
                      dpi=(300, 300), extra=_photoshop_segment(iptc))


# What each output format has a place for (see gan_colorizer.metadata).
@pytest.mark.parametrize("name, bit_depth, has_exif_subdir, has_iptc, has_dpi", [
    ("out.jpg", None, True, True, True),
    ("out.png", None, True, False, True),
    ("out.png", 16, True, False, True),
    ("out.webp", None, True, False, False),
    ("out.tif", None, False, True, True),
    ("out.tif", 16, False, True, True),
])
def test_metadata_is_carried_to_the_output(tmp_path, name, bit_depth, has_exif_subdir, has_iptc, has_dpi):
    picture = images.decode_image(_photographers_jpeg(), "in.jpg")
    target = tmp_path / name
    image_writer.write_image(target, picture.rgb, metadata=picture.metadata, bit_depth=bit_depth)
    with Image.open(target) as out:
        exif = out.getexif()
        assert out.size == (60, 40)  # the pixels were turned upright...
        assert exif.get(0x0112, 1) == 1  # ...so the tag must not turn them again
        assert exif[0x010F] == "Nikon" and exif[0x010E] == "Harbour"
        assert exif.get_ifd(0x8769).get(0x9003) == ("1931:07:04 10:20:30" if has_exif_subdir else None)
        assert b"Grandmother at the harbour" in out.info["xmp"]
        profile = ImageCms.ImageCmsProfile(io.BytesIO(out.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)
        iptc = IptcImagePlugin.getiptcinfo(out) or {}
        assert iptc.get((2, 120)) == (b"IPTC caption" if has_iptc else None)
        assert tuple(round(v) for v in out.info.get("dpi", (0, 0))) == ((300, 300) if has_dpi else (0, 0))
    assert images.read_image(target).bit_depth == (bit_depth or 8)


def test_sixteen_bit_input_gives_sixteen_bit_output_where_the_format_holds_it(tmp_path):
    rgb16 = (np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3) * 7 % 65536).astype(np.uint16)
    picture = images.decode_image(_cv_bytes(rgb16, ".png"), "in.png")
    alpha = np.linspace(0, 1, 40 * 60, dtype=np.float32).reshape(40, 60)
    for name in ("out.png", "out.tif"):
        image_writer.write_image(tmp_path / name, picture.rgb, alpha, metadata=picture.metadata)
        back = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back[..., 2::-1], rgb16)
        np.testing.assert_array_equal(back[..., 3], image_writer.to_uint16(alpha))
    image_writer.write_image(tmp_path / "out8.png", picture.rgb, metadata=picture.metadata, bit_depth=8)
    image_writer.write_image(tmp_path / "out.jpg", picture.rgb, metadata=picture.metadata)
    assert images.read_image(tmp_path / "out8.png").bit_depth == images.read_image(tmp_path / "out.jpg").bit_depth == 8
    with pytest.raises(ImageError, match="holds 8 bits per channel"):
        image_writer.write_image(tmp_path / "out16.jpg", picture.rgb, bit_depth=16)


def test_jpeg_pixels_are_pillows_with_the_metadata_segments_lent(tmp_path):
    """JPEGs are encoded by OpenCV (faster) with Pillow's metadata segments: the pixels a reader decodes
    are those Pillow's encoder gives at the same quality (test_metadata_is_carried_to_the_output checks
    the metadata)."""
    rgb = np.ascontiguousarray(skdata.astronaut()[:96, :120])
    ours = tmp_path / "out.jpg"
    image_writer.write_image(ours, rgb, quality=90, metadata=images.decode_image(_photographers_jpeg(), "in.jpg").metadata)
    pillows = io.BytesIO()
    Image.fromarray(rgb).save(pillows, "JPEG", quality=90)
    with Image.open(ours) as written, Image.open(pillows) as expected:
        np.testing.assert_array_equal(np.asarray(written), np.asarray(expected))


def test_jpeg_quality_sets_file_size(tmp_path, chelsea_48x40):
    sizes = []
    for quality in (40, 95):
        image_writer.write_image(tmp_path / f"q{quality}.jpg", chelsea_48x40, quality=quality)
        sizes.append((tmp_path / f"q{quality}.jpg").stat().st_size)
    assert sizes[0] < 0.7 * sizes[1]
    with pytest.raises(ConfigError):
        image_writer.write_image(tmp_path / "q0.jpg", chelsea_48x40, quality=0)


def test_outputs_are_tagged_srgb_without_metadata(tmp_path, chelsea_48x40):
    for name in ("x.jpg", "x.png", "x.webp", "x.tif"):
        image_writer.write_image(tmp_path / name, chelsea_48x40)
        with Image.open(tmp_path / name) as out:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(out.info["icc_profile"]))
            assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_sixteen_bit_png_we_write_reads_back_silently(tmp_path, capfd):
    picture = images.decode_image(_photographers_jpeg(), "in.jpg")
    image_writer.write_image(tmp_path / "x.png", picture.rgb, metadata=picture.metadata, bit_depth=16)
    assert images.read_image(tmp_path / "x.png").bit_depth == 16  # through OpenCV's libpng
    assert cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert capfd.readouterr() == ("", "")
