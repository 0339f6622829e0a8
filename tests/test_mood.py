"""mood.py: named moods, colour strings, reference images and the a*b* statistics shift (no model)."""
from pathlib import Path

import numpy as np
import pytest

from gan_colorizer import color, mood
from gan_colorizer.errors import ConfigError, ImageError
from tests.conftest import write_png


@pytest.fixture
def photo_ab(chelsea_48x40: np.ndarray) -> np.ndarray:
    """(40, 48, 2) float32 a*b* of a real photo, in Lab units."""
    return color.rgb_to_lab(chelsea_48x40)[..., 1:]


def _one_line_config_error(call, *args) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_strength_zero_is_the_exact_identity(photo_ab):
    for target in mood.MOODS.values():
        np.testing.assert_array_equal(mood.shift_ab(photo_ab, target, 0.0), photo_ab)


@pytest.mark.parametrize("name", ["warm", "cool", "golden-hour", "sepia"])
def test_mean_moves_monotonically_to_the_target(photo_ab, name):
    target = mood.MOODS[name]
    distances = []
    for strength in (0.0, 0.5, 1.0):
        achieved = mood.ab_stats(mood.shift_ab(photo_ab, target, strength)).mean_ab
        distances.append(float(np.hypot(*np.subtract(achieved, target.mean_ab))))
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 0.5


@pytest.mark.parametrize("name", ["vivid", "muted", "sepia"])
def test_spread_reaches_the_target_and_a_kept_mean_stays(photo_ab, name):
    target = mood.MOODS[name]
    before = mood.ab_stats(photo_ab)
    after = mood.ab_stats(mood.shift_ab(photo_ab, target, 1.0))
    assert after.spread == pytest.approx(target.spread, abs=0.05)
    if target.mean_ab is None:
        np.testing.assert_allclose(after.mean_ab, before.mean_ab, atol=0.05)


def test_shift_keeps_shape_and_works_at_any_size(photo_ab):
    shifted = mood.shift_ab(photo_ab, mood.MOODS["warm"], 0.7)
    assert shifted.shape == photo_ab.shape and shifted.dtype == np.float32
    # global statistics: a 2x nearest upscale gets the same shift, pixel for pixel
    upscaled = photo_ab.repeat(2, axis=0).repeat(2, axis=1)
    shifted_up = mood.shift_ab(upscaled, mood.MOODS["warm"], 0.7)
    np.testing.assert_allclose(shifted_up[::2, ::2], shifted, atol=1e-3)


def test_flat_prediction_only_moves_its_mean():
    flat = np.zeros((8, 8, 2), np.float32)
    shifted = mood.shift_ab(flat, mood.MOODS["vivid"], 1.0)
    np.testing.assert_array_equal(shifted, flat)
    sepia = mood.shift_ab(flat, mood.MOODS["sepia"], 1.0)
    np.testing.assert_allclose(sepia, np.broadcast_to(mood.MOODS["sepia"].mean_ab, flat.shape), atol=1e-4)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_bad_strength_is_a_config_error(photo_ab, strength):
    assert "strength" in _one_line_config_error(mood.shift_ab, photo_ab, mood.MOODS["warm"], strength)


@pytest.mark.parametrize("name", mood.mood_names())
def test_every_named_mood_resolves_to_a_sane_target(name):
    target = mood.resolve(name, None, None)
    assert target is mood.MOODS[name]
    if target.mean_ab is not None:
        assert all(-40 <= v <= 40 for v in target.mean_ab)
    if target.spread is not None:
        assert 0 < target.spread <= 30


def test_moods_point_the_right_way():
    assert mood.MOODS["warm"].mean_ab[1] > 5 and mood.MOODS["warm"].mean_ab[0] > 0
    assert mood.MOODS["cool"].mean_ab[1] < -5
    assert mood.MOODS["vivid"].spread > mood.MOODS["muted"].spread
    assert mood.MOODS["golden-hour"].mean_ab[1] > mood.MOODS["warm"].mean_ab[1]
    assert {"warm", "cool", "vivid", "muted", "sepia", "golden-hour"} <= set(mood.mood_names())


def test_parse_color_gives_the_colours_cast():
    white = mood.parse_color("#ffffff")
    assert np.hypot(*white.mean_ab) < 0.5 and white.spread is None
    red = mood.parse_color("ff0000")
    assert red.mean_ab[0] > 50
    assert mood.parse_color("#abc") == mood.parse_color("#aabbcc")
    tan = mood.resolve(None, "#c8a060", None)
    assert tan.mean_ab[1] > 20  # a yellow-brown: strongly +b


@pytest.mark.parametrize("text", ["", "#12", "#ggg", "c8a06", "red", "#c8a0601"])
def test_bad_colour_string_is_a_one_line_config_error(text):
    assert "#rrggbb" in _one_line_config_error(mood.parse_color, text)


def test_unknown_mood_lists_the_known_ones():
    message = _one_line_config_error(mood.resolve, "spooky", None, None)
    assert "spooky" in message and all(name in message for name in mood.mood_names())


def test_two_options_at_once_is_a_config_error(tmp_path: Path):
    assert "mood and color" in _one_line_config_error(mood.resolve, "warm", "#ffffff", None)
    _one_line_config_error(mood.resolve, None, "#ffffff", tmp_path / "ref.png")


def test_nothing_requested_resolves_to_none():
    assert mood.resolve(None, None, None) is None


def test_reference_target_matches_the_image_lab_stats(tmp_path: Path, chelsea_48x40):
    rgb8 = np.round(chelsea_48x40 * 255).astype(np.uint8)
    path = write_png(tmp_path / "ref.png", rgb8)
    target = mood.resolve(None, None, path)
    ab = color.rgb_to_lab(rgb8.astype(np.float32) / 255.0)[..., 1:].reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(target.mean_ab, ab.mean(axis=0), atol=1e-3)
    spread = np.hypot(*(ab - ab.mean(axis=0)).T).mean()
    assert target.spread == pytest.approx(spread, abs=1e-3)


def test_unreadable_reference_is_an_image_error(tmp_path: Path):
    fake = tmp_path / "ref.png"
    fake.write_text("not an image")
    with pytest.raises(ImageError):
        mood.reference_target(fake)
    with pytest.raises(ImageError):
        mood.reference_target(tmp_path / "missing.jpg")


def test_gray_reference_is_a_config_error(tmp_path: Path):
    gray = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[:, None, None], (1, 32, 3))
    assert "grayscale" in _one_line_config_error(mood.reference_target, write_png(tmp_path / "g.png", gray))
