"""Old-scan degradation of L: shapes and ranges, reproducibility, and each effect doing what it claims."""
from dataclasses import replace

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from gan_colorizer import color, degrade
from gan_colorizer.config import DegradeConfig, load_config, save_config
from gan_colorizer.errors import ConfigError
from tests.conftest import TINY_CONFIG, small

EVERY_EFFECT = DegradeConfig(p=1.0, **{f"{name}_p": 1.0 for name in degrade.EFFECTS})


def only(effect: str, **strengths) -> DegradeConfig:
    """A config that always applies `effect` and nothing else."""
    return DegradeConfig(p=1.0, **{f"{name}_p": float(name == effect) for name in degrade.EFFECTS}, **strengths)


def run(L: np.ndarray, cfg: DegradeConfig, seed: int = 0) -> np.ndarray:
    return degrade.degrade_L(L, cfg, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def photo_L() -> np.ndarray:
    """(64, 64) float32 L of the astronaut photo, in [0, 100]."""
    return color.rgb_to_L(small(skdata.astronaut(), 64, 64).astype(np.float32) / 255.0)


def flat(value: float, side: int = 64) -> np.ndarray:
    return np.full((side, side), value, dtype=np.float32)


def high_frequency_energy(L: np.ndarray) -> float:
    return float(np.mean(cv2.Laplacian(L, cv2.CV_32F) ** 2))


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (2, 3), (5, 7), (41, 37), (300, 260)])
@pytest.mark.parametrize("cfg", [EVERY_EFFECT, degrade.DEGRADE_EVAL, replace(DegradeConfig(), p=1.0)],
                         ids=["every-effect", "eval", "train-defaults"])
def test_any_size_keeps_shape_dtype_and_range(shape, cfg):
    source = np.random.default_rng(1).uniform(-5.0, 105.0, shape)  # float64, a little out of range
    for seed in range(4):
        out = run(source, cfg, seed)
        assert out.shape == shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 100.0


def test_same_seed_same_output_and_other_seeds_differ(photo_L):
    first = run(photo_L, EVERY_EFFECT, seed=3)
    np.testing.assert_array_equal(first, run(photo_L, EVERY_EFFECT, seed=3))
    assert not np.array_equal(first, run(photo_L, EVERY_EFFECT, seed=4))


def test_input_is_left_untouched(photo_L):
    before = photo_L.copy()
    run(photo_L, EVERY_EFFECT)
    np.testing.assert_array_equal(photo_L, before)


def test_p_zero_is_the_identity_and_draws_no_random_numbers(photo_L):
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = degrade.degrade_L(photo_L, DegradeConfig(), rng)
    np.testing.assert_array_equal(out, photo_L)
    assert out is not photo_L and rng.bit_generator.state == state


def test_p_is_the_share_of_degraded_samples(photo_L):
    cfg = replace(EVERY_EFFECT, p=0.3)
    degraded = sum(not np.array_equal(run(photo_L, cfg, seed), photo_L) for seed in range(200))
    assert 40 <= degraded <= 80


def test_choose_effects_follows_the_probabilities():
    rng = np.random.default_rng(0)
    assert degrade.choose_effects(EVERY_EFFECT, rng) == degrade.EFFECTS
    assert degrade.choose_effects(only("grain"), rng) == ("grain",)
    assert degrade.choose_effects(DegradeConfig(), rng) == ()


@pytest.mark.parametrize("effect", degrade.EFFECTS)
def test_each_effect_alone_changes_a_photo(effect, photo_L):
    assert np.abs(run(photo_L, only(effect)) - photo_L).max() > 0.5


def test_fade_lowers_contrast_and_lifts_blacks(photo_L):
    cfg = only("fade", fade_black=(15.0, 15.0), fade_white=(10.0, 10.0), fade_gamma=(1.0, 1.0), fade_clip=(0.0, 0.0))
    L = photo_L.copy()
    L[0, 0], L[0, 1] = 0.0, 100.0
    out = run(L, cfg)
    assert out.std() == pytest.approx(0.75 * L.std(), rel=0.01)  # range [15, 90]: 75 % of the contrast
    assert out.min() == pytest.approx(15.0, abs=0.1) and out.max() == pytest.approx(90.0, abs=0.1)


def test_fade_clip_crushes_shadows_and_highlights(photo_L):
    out = run(photo_L, only("fade", fade_black=(0.0, 0.0), fade_white=(0.0, 0.0), fade_clip=(20.0, 20.0)))
    assert np.all(out[photo_L <= 19.9] == 0.0) and np.all(out[photo_L >= 80.1] == 100.0)


def test_blur_removes_fine_detail(photo_L):
    for seed in range(3):  # gaussian or defocus disk
        blurred = run(photo_L, only("blur", blur=(1.0, 1.0)), seed)
        assert high_frequency_energy(blurred) < 0.5 * high_frequency_energy(photo_L)


def test_grain_is_strongest_in_the_midtones():
    cfg = only("grain", grain=(4.0, 4.0))
    mid, dark = run(flat(50.0), cfg).std(), run(flat(3.0), cfg).std()
    assert mid > 2.0 and dark < 0.6 * mid


def test_noise_raises_local_variance():
    assert run(flat(50.0), only("noise", noise=(2.0, 2.0))).std() > 1.5


def test_vignette_darkens_corners_more_than_the_centre():
    out = run(flat(60.0), only("vignette", vignette=(0.3, 0.3)))
    corners = np.mean([out[:8, :8].mean(), out[:8, -8:].mean(), out[-8:, :8].mean(), out[-8:, -8:].mean()])
    assert corners < out[28:36, 28:36].mean() - 5.0


def test_exposure_drift_is_smooth():
    out = run(flat(50.0), only("exposure", exposure=(6.0, 6.0)))
    assert out.std() > 1.0 and high_frequency_energy(out) < 1e-3 * out.var()  # white noise: 20 x var


def test_jpeg_leaves_8_pixel_blocks():
    smooth = cv2.GaussianBlur(np.random.default_rng(0).uniform(20, 80, (64, 64)).astype(np.float32), (0, 0), 4.0)
    steps = np.abs(np.diff(run(smooth, only("jpeg", jpeg_quality=(10, 10))), axis=1))  # steps[:, x]: x -> x + 1
    at_block_edges = steps[:, 7::8].mean()
    inside_blocks = np.delete(steps, np.s_[7::8], axis=1).mean()
    assert at_block_edges > 1.5 * inside_blocks


@pytest.mark.parametrize("effect", ["scratch", "dust"])
def test_marks_touch_few_pixels(effect):
    changed = run(flat(50.0, 256), only(effect, scratches=(2, 2), dust=(30, 30))) != 50.0
    assert 0 < changed.mean() < 0.1


def test_scratches_run_mostly_down_the_frame():
    marked_rows = marked_cols = 0
    for seed in range(10):
        changed = np.abs(run(flat(50.0, 128), only("scratch", scratches=(1, 1)), seed) - 50.0) > 2.0
        marked_rows += changed.any(axis=1).sum()
        marked_cols += changed.any(axis=0).sum()
    assert marked_rows > 2 * marked_cols


def test_config_round_trips_with_ranges(tmp_path):
    cfg = load_config(TINY_CONFIG, {"data.degrade.p": 0.5, "data.degrade.grain": [2, 5]})
    assert cfg.data.degrade.grain == (2.0, 5.0) and cfg.data.degrade.p == 0.5
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("overrides, message", [
    ({"data.degrade.p": 1.5}, "data.degrade.p: must be a probability in [0, 1]"),
    ({"data.degrade.grain_p": -0.1}, "data.degrade.grain_p: must be a probability"),
    ({"data.degrade.grain": [5, 2]}, "data.degrade.grain: must be a range [low, high]"),
    ({"data.degrade.blur": 1.0}, "data.degrade.blur: expected a list of 2 numbers"),
    ({"data.degrade.dust": [1, 2, 3]}, "data.degrade.dust: expected a list of 2 numbers"),
    ({"data.degrade.dust": [1.5, 3]}, "data.degrade.dust: expected int"),
    ({"data.degrade.jpeg_quality": [0, 50]}, "data.degrade.jpeg_quality: must lie in [1, 100]"),
    ({"data.degrade.fade_black": [0, 60], "data.degrade.fade_white": [0, 50]}, "data.degrade.fade_black"),
    ({"data.degrade.fade_gamma": [0, 1]}, "data.degrade.fade_gamma: must be positive"),
    ({"data.degrade.grian_p": 0.5}, "data.degrade.grian_p: unknown key; did you mean 'grain_p'?"),
])
def test_bad_degrade_settings_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(TINY_CONFIG, overrides)
    assert message in str(info.value) and "\n" not in str(info.value)
