"""Colour control through the Colorizer and the CLI: arrives on the written image, says when a photo
cannot hold a request, keeps L, off means off."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage import data as skdata

from gan_colorizer import color, mood
from gan_colorizer.control_scores import achieved_stats
from gan_colorizer.inference import Colorizer
from gan_colorizer.models import build
from tests.conftest import TINY_GENERATOR, small, write_png
from tools import colorize


@pytest.fixture
def gray_L(chelsea_48x40):
    return color.rgb_to_L(chelsea_48x40)


@pytest.fixture(scope="module")
def painting_generator():
    """A tiny hinted generator whose hint changes its colours in arbitrary ways (random FiLM weights):
    the correction has to land whatever the network paints."""
    torch.manual_seed(0)
    generator = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], hint=True).eval()
    torch.nn.init.normal_(generator.film[-1].weight, std=0.5)
    return generator


@pytest.fixture
def chelsea_96x80() -> np.ndarray:
    """(80, 96, 3) float32 RGB: larger than the render size used below, so the written image is
    measured from sampled full-size pixels, not from what the network saw."""
    return small(skdata.chelsea(), 96, 80).astype(np.float32) / 255.0


REQUESTS = [{"mood": name} for name in mood.mood_names()] + [
    {"color": "#c8a060"}, {"color": "#4080c0"}, {"temperature": 3200}, {"temperature": 10000}, {"reference": "coffee"}]


@pytest.mark.parametrize("path", ["shift", "learned"])
@pytest.mark.parametrize("request_args", REQUESTS, ids=lambda args: str(next(iter(args.values()))))
def test_strength_one_arrives_on_the_written_image(tiny_generator, painting_generator, chelsea_96x80, tmp_path,
                                                   path, request_args):
    if "reference" in request_args:
        request_args = {"reference": write_png(tmp_path / "ref.png", small(skdata.coffee(), 60, 40))}
    generator = painting_generator if path == "learned" else tiny_generator
    colorizer = Colorizer(generator, render_size=24)
    rgb8, report, _ = colorizer.colorize_with_report(chelsea_96x80, mood.control(**request_args))
    written = achieved_stats(rgb8)  # the full-size output, after gamut mapping and 8-bit rounding
    target = mood.resolve(**{"mood": None, "color": None, "reference": None, **request_args})
    if target.mean_ab is not None:
        assert np.hypot(*np.subtract(written.mean_ab, target.mean_ab)) <= mood.ARRIVAL_TOLERANCE
    if target.spread is not None:
        assert abs(written.spread - target.spread) <= max(0.1 * target.spread, 1.0)
    assert report.arrived and report.note() is None
    # the report, measured on sampled pixels, tells what was written (within sampling noise at this tiny size)
    assert abs(mood.ControlReport("", report.requested, written).delta_e - report.delta_e) < 1.0
    if path == "shift":
        assert report.network_share is None
    elif target.mean_ab is not None:
        assert report.network_share is not None


def test_a_request_the_photo_cannot_hold_reaches_the_closest_it_can_and_says_so(tiny_generator, chelsea_96x80):
    L = color.rgb_to_L(chelsea_96x80)
    bright = 92.0 + 0.07 * L  # a very bright photo: little room for a strong blue in sRGB
    gray = color.lab_to_rgb(np.dstack([bright, np.zeros_like(bright), np.zeros_like(bright)]))
    colorizer = Colorizer(tiny_generator, render_size=24)
    plain = achieved_stats(colorizer(gray))
    rgb8, report, _ = colorizer.colorize_with_report(gray, mood.control(color="#0040ff"))
    written = achieved_stats(rgb8)
    requested = report.requested.mean_ab
    assert not report.arrived and report.delta_e > mood.ARRIVAL_TOLERANCE
    assert np.hypot(*np.subtract(written.mean_ab, requested)) < np.hypot(*np.subtract(plain.mean_ab, requested)) - 5
    assert np.hypot(*np.subtract(written.mean_ab, report.reached.mean_ab)) < 1.0
    note = report.note()
    assert note.startswith("cannot reach #0040ff (a*b* (") and f"dE {report.delta_e:.1f}" in note and "\n" not in note


@pytest.mark.parametrize("generator_name", ["tiny_generator", "painting_generator"])
def test_strength_half_lands_half_way_on_the_written_statistics(generator_name, chelsea_96x80, request):
    colorizer = Colorizer(request.getfixturevalue(generator_name), render_size=24)
    start = achieved_stats(colorizer(chelsea_96x80))
    for name in ("golden-hour", "moonlight"):
        target = mood.MOODS[name]
        half = achieved_stats(colorizer(chelsea_96x80, mood=name, strength=0.5))
        expected = 0.5 * (np.array(start.mean_ab) + np.array(target.mean_ab))
        assert np.hypot(*(np.array(half.mean_ab) - expected)) <= mood.ARRIVAL_TOLERANCE
        if target.spread is not None:  # spread moves geometrically (mood.toward)
            assert half.spread == pytest.approx(np.sqrt(start.spread * target.spread), rel=0.1)


@pytest.mark.parametrize("control", [{"mood": name} for name in mood.mood_names()]
                         + [{"color": "#c8a060"}, {"temperature": 3200}])
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
    assert fallback["delta_e"] <= mood.ARRIVAL_TOLERANCE < plain["delta_e"]
    assert fallback["arrived"] == 8, fallback
    assert {"change_lpips", "change_fid_lite", "change_kid"} <= set(fallback)
