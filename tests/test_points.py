"""Colour points: the map a generator takes, how training reveals them, and a trained model gaining them."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from gan_colorizer import checkpoint, color, points
from gan_colorizer.config import PointsConfig
from gan_colorizer.errors import CheckpointError, ConfigError
from gan_colorizer.inference import Colorizer
from gan_colorizer.models import build
from tests.conftest import TINY_GENERATOR, small

POINTED = {**TINY_GENERATOR["args"], "points": True}


def truth(batch: int = 4, height: int = 40, width: int = 56) -> torch.Tensor:
    """Smooth chroma (B, 2, H, W) in [-1, 1], different per sample, so a patch's mean is not any pixel's."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    return torch.stack([torch.stack([0.3 * xs * (i + 1) / batch, 0.3 * ys]) for i in range(batch)])


def test_a_pointed_model_starts_as_the_plain_one_and_a_plain_one_refuses_points() -> None:
    torch.manual_seed(0)
    pointed = build("mobilenet_unet", **POINTED).eval()
    L_n = torch.rand(2, 1, 45, 61) * 2 - 1
    maps = points.simulated_points(truth(2, 45, 61), 10, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(pointed(L_n), pointed(L_n, points=maps))
    assert pointed.takes_points and not build("mobilenet_unet", **TINY_GENERATOR["args"]).takes_points
    with pytest.raises(ValueError, match="takes no colour points"):
        build("mobilenet_unet", **TINY_GENERATOR["args"])(L_n, points=maps)


def test_once_trained_a_point_changes_the_colour_around_it() -> None:
    torch.manual_seed(0)
    pointed = build("mobilenet_unet", **POINTED).eval()
    for conv in pointed.point_convs:
        torch.nn.init.normal_(conv.weight, std=0.5)
    L_n = torch.zeros(1, 1, 64, 64)
    one = torch.zeros(1, 3, 64, 64)
    one[:, :, 30:34, 30:34] = torch.tensor([0.5, -0.3, 1.0])[:, None, None]
    with torch.no_grad():
        change = (pointed(L_n, points=one) - pointed(L_n)).abs().sum(dim=1)[0]
    assert change[28:36, 28:36].mean() > 10 * change[:8, :8].mean() > 0


def test_training_points_are_patches_of_the_truths_mean_colour_drawn_alike_from_one_seed() -> None:
    ab_n = truth()
    cfg = PointsConfig(p_none=0.0, mean_count=3.0, patch_min=3, patch_max=3)
    maps = points.training_points(ab_n, cfg, torch.Generator().manual_seed(1))
    again = points.training_points(ab_n, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(maps, again)
    mask = maps[:, 2]
    assert set(mask.unique().tolist()) == {0.0, 1.0} and (mask.sum(dim=(1, 2)) >= 9).all()  # >= 1 point each
    assert (maps[:, :2] * (1 - mask[:, None])).abs().max() == 0  # colour only where the mask is
    sample, (top, left) = 0, torch.nonzero(mask[0])[0].tolist()  # the first patch's top-left pixel
    patch = ab_n[sample, :, top:top + 3, left:left + 3].mean(dim=(1, 2))
    assert torch.allclose(maps[sample, :2, top, left], patch, atol=1e-6) or mask[0, top:top + 3, left:left + 3].sum() < 9


def test_p_none_withholds_points_and_the_count_follows_its_mean() -> None:
    ab_n = truth(batch=400, height=64, width=64)
    none = points.training_points(ab_n, PointsConfig(p_none=1.0), torch.Generator().manual_seed(0))
    assert none.abs().max() == 0
    cfg = PointsConfig(p_none=0.5, mean_count=4.0, patch_min=1, patch_max=1, centre_std=0.25)
    maps = points.training_points(ab_n, cfg, torch.Generator().manual_seed(0))
    hinted = maps[:, 2].sum(dim=(1, 2))
    assert 0.4 < (hinted == 0).float().mean() < 0.6
    assert 3.0 < hinted[hinted > 0].mean() < 5.0  # 1-px points, few overlapping


def test_a_trained_generator_gains_points_on_init_and_nothing_else_may_be_missing(tmp_path: Path) -> None:
    plain = build("mobilenet_unet", **TINY_GENERATOR["args"])
    entry = checkpoint.network_entry("mobilenet_unet", TINY_GENERATOR["args"], plain)
    gained = checkpoint.build_network(entry, tmp_path / "x.pt", added={"points": True}).eval()
    assert gained.takes_points
    L_n = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(gained(L_n), plain.eval()(L_n))
    broken = {**entry, "state_dict": {k: v for k, v in entry["state_dict"].items() if not k.startswith("head.")}}
    with pytest.raises(CheckpointError, match="does not fit head"):
        checkpoint.build_network(broken, tmp_path / "x.pt", added={"points": True})


@pytest.fixture
def pointed_colorizer() -> Colorizer:
    """A tiny pointed generator whose point convs are not zero (so the network itself reacts to points)."""
    torch.manual_seed(0)
    generator = build("mobilenet_unet", **POINTED).eval()
    with torch.no_grad():
        for parameter in generator.point_convs.parameters():
            parameter.normal_(0.0, 0.3)
    return Colorizer(generator)


def chroma_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(H, W) a*b* distance between two uint8 renders."""
    a, b = (color.rgb_to_lab(x.astype(np.float32) / 255.0)[..., 1:] for x in (before, after))
    return np.hypot(*(b - a).transpose(2, 0, 1))


def test_a_points_colour_arrives_in_its_disc_and_far_pixels_stay() -> None:
    """Even a network that ignores points (a fresh pointed one) lands them: the correction after it
    moves each disc onto its colour, and stays near the points."""
    pointed_colorizer = Colorizer(build("mobilenet_unet", **POINTED).eval())
    gray = cv2.cvtColor(small(data.chelsea(), 160, 120), cv2.COLOR_RGB2GRAY)
    asked = [(40, 30, "#b07050", 4), {"x": 120, "y": 90, "color": [-20, 25]}]  # both forms, hex and a*b*
    wanted = pointed_colorizer.checked_points(asked)
    rgb8, _, report = pointed_colorizer.colorize_with_report(gray, None, wanted)
    assert report.misses() == [] and report.note() is None
    for point, reached in zip(wanted, report.reached):
        assert np.hypot(*np.subtract(reached, point.ab)) <= points.ARRIVAL_TOLERANCE
    change = chroma_change(pointed_colorizer(gray), rgb8)
    assert change[:8, -40:].mean() < 0.1 * change[26:34, 36:44].mean()  # the top-right corner, far from both


def test_a_colour_the_lightness_cannot_hold_is_reported_in_one_line(pointed_colorizer: Colorizer) -> None:
    white = np.full((60, 80), 250, np.uint8)
    _, _, report = pointed_colorizer.colorize_with_report(white, None, pointed_colorizer.checked_points(
        [(40, 30, "#0000ff")]))
    assert report.misses() and report.note().startswith("cannot reach point 1 (#0000ff at 40, 30)")
    assert "\n" not in report.note()


@pytest.mark.parametrize(("bad", "message"), [
    ([(200, 10, "#ff0000")], "point 1 at (200, 10) lies outside the 80 x 60 image"),
    ([(10, 10, "red")], "point 1: colour 'red' is not a hex colour"),
    ([(10, 10)], "point 1: expected (x, y, colour)"),
    ([{"x": 1, "y": 2, "colour": "#fff"}], "point 1: expected keys x, y, color"),
    ([(10, 10, "#fff", -2)], "radius a positive number"),
])
def test_a_bad_point_is_one_clear_error(pointed_colorizer: Colorizer, bad: list, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        pointed_colorizer(np.zeros((60, 80), np.uint8), points=bad)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_model_without_points_refuses_them(tiny_generator) -> None:
    with pytest.raises(ConfigError, match="this model takes no colour points"):
        Colorizer(tiny_generator)(np.zeros((30, 40), np.uint8), points=[(3, 3, "#ff0000")])
