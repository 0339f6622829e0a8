"""Every gray form of one picture decodes to the same L; bad files give one-line ImageErrors."""
import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from gan_colorizer import color, images
from gan_colorizer.errors import ImageError


def _pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


GRAY8 = np.asarray(Image.fromarray(skdata.camera()).resize((48, 40)))


@pytest.mark.parametrize("make", [
    lambda: _pil_bytes(Image.fromarray(GRAY8), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("LA"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("RGB"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("RGBA"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("P"), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8.astype(np.uint16) * 257), "PNG"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("CMYK"), "TIFF"),
    lambda: _pil_bytes(Image.fromarray(GRAY8).convert("RGB"), "BMP"),
    lambda: _pil_bytes(Image.fromarray(GRAY8), "WEBP", lossless=True),
], ids=["gray8", "gray+alpha", "rgb-equal", "rgba", "palette", "gray16", "cmyk-tiff", "bmp", "webp"])
def test_every_gray_form_gives_the_same_L(make):
    expected = color.rgb_to_L(np.repeat(GRAY8[..., None], 3, axis=2).astype(np.float32) / 255.0)
    picture = images.decode_image(make(), "x")
    assert picture.rgb.shape == (40, 48, 3) and picture.rgb.dtype == np.float32
    np.testing.assert_allclose(color.rgb_to_L(picture.rgb), expected, atol=1e-3)
    assert picture.is_gray


def test_cmyk_jpeg_decodes_close_to_the_gray_original():
    picture = images.decode_image(_pil_bytes(Image.fromarray(GRAY8).convert("CMYK"), "JPEG", quality=100), "x.jpg")
    expected = color.rgb_to_L(np.repeat(GRAY8[..., None], 3, axis=2).astype(np.float32) / 255.0)
    assert np.abs(color.rgb_to_L(picture.rgb) - expected).mean() < 1.0


def test_alpha_is_kept():
    rgba = np.dstack([skdata.chelsea()[:20, :30], np.full((20, 30), 128, np.uint8)])
    picture = images.decode_image(_pil_bytes(Image.fromarray(rgba), "PNG"), "x.png")
    assert picture.alpha is not None
    np.testing.assert_allclose(picture.alpha, 128 / 255, atol=1e-6)
    assert not picture.is_gray


def test_exif_orientation_is_applied():
    upright = Image.fromarray(skdata.chelsea()[:40, :60])  # 60 wide, 40 tall
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90° clockwise
    data = _pil_bytes(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif)
    assert images.decode_image(data, "x.jpg").rgb.shape[:2] == (40, 60)


def test_bad_files_raise_one_line_errors(broken_files):
    for path in broken_files.values():
        with pytest.raises(ImageError) as info:
            images.read_image(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_write_is_atomic_and_round_trips(tmp_path, chelsea_48x40):
    target = tmp_path / "out" / "x.png"
    alpha = np.linspace(0, 1, 48 * 40, dtype=np.float32).reshape(40, 48)
    images.write_image(target, chelsea_48x40, alpha)
    back = images.read_image(target)
    np.testing.assert_allclose(back.rgb, chelsea_48x40, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(back.alpha, alpha, atol=0.5 / 255 + 1e-6)
    assert [p.name for p in target.parent.iterdir()] == ["x.png"]
