import numpy as np
from skimage import color as skcolor

from gan_colorizer import color


def test_lab_round_trip_and_ranges(chelsea_48x40):
    lab = color.rgb_to_lab(chelsea_48x40)
    assert lab.dtype == np.float32 and lab.shape == (40, 48, 3)
    assert 0.0 <= lab[..., 0].min() and lab[..., 0].max() <= 100.0
    assert np.abs(lab[..., 1:]).max() <= 110.0
    np.testing.assert_allclose(color.lab_to_rgb(lab), chelsea_48x40, atol=2e-3)


def test_lab_matches_scikit_image(chelsea_48x40):
    np.testing.assert_allclose(color.rgb_to_lab(chelsea_48x40), skcolor.rgb2lab(chelsea_48x40), atol=0.7)


def test_gamut_extremes_stay_within_documented_range():
    corners = np.array([[[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)]], dtype=np.float32)
    lab = color.rgb_to_lab(corners)
    assert np.abs(lab[..., 1:]).max() <= 110.0
    assert np.abs(color.normalize_ab(lab[..., 1:])).max() <= 1.0


def test_normalisation_inverts():
    L = np.linspace(0, 100, 11, dtype=np.float32)
    np.testing.assert_allclose(color.denormalize_L(color.normalize_L(L)), L, atol=1e-5)
    assert color.normalize_L(np.float32(0.0)) == -1.0 and color.normalize_L(np.float32(100.0)) == 1.0


def test_merge_lab_keeps_L_exactly_and_resizes_ab(chelsea_48x40):
    L = color.rgb_to_L(chelsea_48x40)
    ab = np.full((10, 12, 2), 20.0, dtype=np.float32)
    lab = color.merge_lab(L, ab)
    assert lab.shape == (40, 48, 3)
    np.testing.assert_array_equal(lab[..., 0], L)
    np.testing.assert_allclose(lab[..., 1:], 20.0)


def test_colourfulness_gray_is_zero_and_colour_is_not(chelsea_48x40):
    gray = np.repeat(chelsea_48x40.mean(axis=2, keepdims=True), 3, axis=2)
    assert color.colourfulness(gray) < 1e-6
    assert color.colourfulness(chelsea_48x40) > 10


def _examples() -> list:
    from pathlib import Path
    return sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.jpg"))


def test_an_8_bit_gray_file_gets_the_float_paths_L_from_its_table():
    """gray_to_L is a lookup of the very conversion a float RGB image gets: equal numbers, every level."""
    from gan_colorizer import images
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(color.gray_to_L(levels), color.rgb_to_L(np.repeat(levels[..., None] / 255.0, 3, axis=2)))
    for path in _examples():
        picture = images.read_image(path)
        assert picture.pixels.ndim == 2 and picture.pixels.dtype == np.uint8  # the table path is taken
        np.testing.assert_array_equal(picture.L, color.rgb_to_L(picture.rgb))


def test_the_8_bit_render_is_the_float_render_rounded_on_the_examples():
    """No pixel of the examples moves by more than one 8-bit level against the float render (issue 23),
    with chroma strong enough that many pixels leave sRGB and go through the gamut mapping."""
    from gan_colorizer import image_writer, images
    rng = np.random.default_rng(0)
    for path in _examples():
        L = images.read_image(path).L
        ab = rng.uniform(-90, 90, (L.shape[0] // 16 + 1, L.shape[1] // 16 + 1, 2)).astype(np.float32)
        lab = color.merge_lab(L, ab)
        reference = image_writer.to_uint8(color.lab_to_rgb_in_gamut(lab))
        fast = color.lab_to_rgb8_in_gamut(lab)
        assert fast.dtype == np.uint8 and fast.shape == reference.shape
        assert np.abs(fast.astype(int) - reference).max() <= 1
        rendered = color.lab_to_rgb(lab)
        assert (np.abs(color.rgb_to_L(reference / 255.0) - L) > 2).mean() < 0.01  # gamut mapping kept L
        assert (np.abs(color.rgb_to_L(rendered) - L) > 2).mean() > 0.05  # where clipping alone would not


def test_a_network_nan_renders_gray_not_garbage():
    L = np.full((8, 8), 50.0, np.float32)
    ab = np.full((2, 2, 2), np.nan, np.float32)
    rgb8 = color.lab_to_rgb8_in_gamut(color.merge_lab(L, ab))
    assert np.ptp(rgb8.astype(int), axis=2).max() <= 1  # gray: all three channels alike

