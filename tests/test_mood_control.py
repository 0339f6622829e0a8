"""Colour control through the Colorizer and the CLI: moves toward the target, keeps L, off means off."""
import numpy as np
import pytest
from click.testing import CliRunner

from gan_colorizer import color, mood
from gan_colorizer.inference import Colorizer
from tools import colorize


@pytest.fixture
def gray_L(chelsea_48x40):
    return color.rgb_to_L(chelsea_48x40)


def test_achieved_mean_ab_moves_toward_the_target_as_strength_grows(tiny_generator, gray_L):
    target = np.array(mood.MOODS["golden-hour"].mean_ab)
    distances = []
    for strength in (0.0, 0.5, 1.0):
        ab = Colorizer(tiny_generator).predict_ab([gray_L], mood.control("golden-hour", strength=strength))[0]
        distances.append(np.linalg.norm(ab.reshape(-1, 2).mean(axis=0) - target))
    assert distances[0] > distances[1] > distances[2] and distances[2] < 0.5


@pytest.mark.parametrize("control", [{"mood": name} for name in mood.mood_names()] + [{"color": "#c8a060"}])
def test_lightness_is_kept_in_every_mode(tiny_generator, gray_L, chelsea_48x40, control):
    out = Colorizer(tiny_generator)(chelsea_48x40, **control)
    assert out.shape == (40, 48, 3)
    assert np.abs(color.rgb_to_L(out.astype(np.float32) / 255.0) - gray_L).mean() < 1.0


def test_no_control_and_zero_strength_equal_the_uncontrolled_output(tiny_generator, chelsea_48x40):
    colorizer = Colorizer(tiny_generator)
    plain = colorizer(chelsea_48x40)
    np.testing.assert_array_equal(colorizer(chelsea_48x40, mood="warm", strength=0.0), plain)
    assert not np.array_equal(colorizer(chelsea_48x40, mood="warm"), plain)
    np.testing.assert_array_equal(colorizer(chelsea_48x40), plain)  # a controlled call leaves no state behind


def test_cli_mood_writes_outputs_and_bad_controls_are_one_line(tiny_checkpoint, photo_dir, tmp_path):
    runner = CliRunner()
    base = ["--in", str(photo_dir), "--checkpoint", str(tiny_checkpoint)]
    ok = runner.invoke(colorize.main, [*base, "--out", str(tmp_path / "warm"), "--mood", "warm", "--strength", "0.7"])
    assert ok.exit_code == 0, ok.output
    assert len(list((tmp_path / "warm").rglob("*.png"))) == 8
    ok = runner.invoke(colorize.main, [*base, "--out", str(tmp_path / "shift"), "--mood", "warm", "--shift"])
    assert ok.exit_code == 0 and len(list((tmp_path / "shift").rglob("*.png"))) == 8, ok.output
    for extra, message in [(["--mood", "purple"], "unknown mood 'purple'"),
                           (["--color", "#zz"], "not a hex colour"),
                           (["--mood", "warm", "--color", "#c8a060"], "together"),
                           (["--reference", str(tmp_path / "none.jpg")], "none.jpg")]:
        result = runner.invoke(colorize.main, [*base, "--out", str(tmp_path / "x"), *extra])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


def test_evaluator_reports_requested_vs_achieved_colour(tiny_checkpoint, photo_zip, monkeypatch):
    from gan_colorizer import evaluate, metrics

    monkeypatch.setattr(evaluate, "build_scorer", lambda device, lpips_net="squeeze": metrics.Scorer())
    result = evaluate.evaluate_checkpoint(tiny_checkpoint, [photo_zip], "all", "cpu",
                                          control={"mood": "golden-hour", "strength": 1.0})
    assert list(result.metrics) == ["model", "fallback", "gray"] and result.metrics["fallback"]["n"] == 8
    requested, fallback, plain = result.control["requested"], result.control["fallback"], result.control["model"]
    assert (requested["a"], requested["b"]) == mood.MOODS["golden-hour"].mean_ab
    assert fallback["delta_e"] < plain["delta_e"] / 3
    assert {"change_lpips", "change_fid_lite", "change_kid"} <= set(fallback)
