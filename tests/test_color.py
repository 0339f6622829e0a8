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
