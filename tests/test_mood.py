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


def test_every_mood_has_a_one_line_description():
    assert mood.MOOD_DESCRIPTIONS.keys() == mood.MOODS.keys()
    assert all(text and "\n" not in text for text in mood.MOOD_DESCRIPTIONS.values())


def test_temperature_6500_is_neutral_lower_is_warmer_higher_is_cooler():
    assert np.hypot(*mood.temperature_target(6500).mean_ab) < 0.3
    kelvins = np.arange(mood.TEMPERATURE_RANGE[0], mood.TEMPERATURE_RANGE[1] + 1, 100)
    b = np.array([mood.temperature_target(k).mean_ab[1] for k in kelvins])
    assert np.all(np.diff(b) < 0)  # monotone: every step up in kelvin is bluer
    a_warm, b_warm = mood.temperature_target(3200).mean_ab
    assert b_warm > 20 and 0 < a_warm < b_warm / 2  # tungsten: strongly yellow, a little red
    assert mood.temperature_target(10000).mean_ab[1] < -8  # shade: blue
    assert mood.temperature_target(3200).spread is None  # the photo keeps its own colourfulness


@pytest.mark.parametrize("kelvin", [1000, 20000, float("nan")])
def test_temperature_out_of_range_is_a_one_line_config_error(kelvin):
    assert "temperature" in _one_line_config_error(mood.temperature_target, kelvin)


def test_control_names_the_request_and_resolves_temperature():
    assert mood.control(temperature=3200).label == "3200 K"
    assert mood.control(temperature=3200).target == mood.temperature_target(3200)
    assert mood.control("Warm", strength=0.5).label == "warm at strength 0.5"
    assert mood.control(color="#4080c0").label == "#4080c0"
    assert mood.control("warm", strength=0.0) is None and mood.control() is None
    assert "temperature" in _one_line_config_error(mood.control, "warm", None, None, 1.0, True, 5000)


def test_goal_is_the_strength_share_of_the_way_and_leaves_open_what_the_target_does():
    start = mood.ColorTarget(mean_ab=(0.0, 10.0), spread=12.0)
    half_warm = mood.control("warm", strength=0.5).goal(start)
    assert half_warm.mean_ab == pytest.approx((2.0, 14.0)) and half_warm.spread is None
    vivid = mood.control("vivid").goal(start)
    assert vivid.mean_ab is None and vivid.spread == pytest.approx(24.0)


def _clipped_measure(ab: np.ndarray) -> mood.ColorTarget:
    """A stand-in for the written image: chroma beyond ±30 per axis cannot be held."""
    return mood.ab_stats(np.clip(ab, -30.0, 30.0))


@pytest.mark.parametrize("goal", [mood.ColorTarget((12.0, 20.0), None), mood.ColorTarget((-5.0, -20.0), 4.0),
                                  mood.ColorTarget(None, 20.0)])
def test_arrive_lands_on_the_measured_goal_through_a_clipping_render(photo_ab, goal):
    ab, reached, first = mood.arrive(photo_ab, _clipped_measure, goal)
    assert first == _clipped_measure(photo_ab)
    assert reached == _clipped_measure(ab)
    report = mood.ControlReport("test", goal, reached)
    assert report.arrived and report.delta_e < 0.5 and report.note() is None


def test_arrive_reports_the_closest_mean_a_render_can_hold(photo_ab):
    goal = mood.ColorTarget((0.0, -45.0), None)  # past the stand-in's -30
    _, reached, _ = mood.arrive(photo_ab, _clipped_measure, goal)
    assert reached.mean_ab[1] < -28 and abs(reached.mean_ab[0]) < 2  # near the edge, on the way
    report = mood.ControlReport("#4080c0", goal, reached)
    assert not report.arrived and report.delta_e > 10
    assert report.note().startswith("cannot reach #4080c0 (a*b* (0, -45)): reached (")
    assert f"dE {report.delta_e:.1f}" in report.note()


def test_share_of_way_projects_on_the_way_and_is_undefined_without_one():
    start, goal = mood.ColorTarget((0.0, 0.0), 10.0), mood.ColorTarget((0.0, 20.0), None)
    assert mood.share_of_way(start, mood.ColorTarget((3.0, 8.0), 9.0), goal) == pytest.approx(0.4)
    assert mood.share_of_way(start, start, mood.ColorTarget((1.0, 1.0), None)) is None
    assert mood.share_of_way(start, mood.ColorTarget((0.0, 0.0), 20.0), mood.ColorTarget(None, 40.0)) == \
        pytest.approx(0.5)
