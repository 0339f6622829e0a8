"""Hint files: a photo's points and look saved as JSON, replayed pixel for pixel by a folder or single-photo run."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from gan_colorizer import hint_file, images
from gan_colorizer.errors import ConfigError
from gan_colorizer.inference import Colorizer
from tests.conftest import small
from tools import colorize

def gray_photo(path: Path, source: np.ndarray, width: int = 96, height: int = 72) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(small(source, width, height), cv2.COLOR_RGB2GRAY))
    return path


def pixels(path: Path) -> np.ndarray:
    """A written file's (H, W, 3) uint8 pixels."""
    return np.round(images.read_image(path).rgb * 255.0).astype(np.uint8)


def write_hints(photo: Path, content: dict | str) -> Path:
    path = hint_file.beside(photo)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


HINTS = {"gan_colorizer_hints": 1, "points": [{"x": 30, "y": 20, "color": "#b06040", "radius": 4},
                                                {"x": 70, "y": 50, "color": [-15, 20]}],
         "look": {"mood": "warm", "strength": 0.6}}


def test_a_folder_run_replays_each_photos_hints_as_the_api_gives_them(tmp_path: Path, pointed_checkpoint: Path) -> None:
    cat, coffee = (gray_photo(tmp_path / "in" / f"{name}.png", photo)
                   for name, photo in (("cat", data.chelsea()), ("coffee", data.coffee())))
    write_hints(cat, HINTS)
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(pointed_checkpoint)])
    assert result.exit_code == 0, result.output
    colorizer = Colorizer.from_checkpoint(pointed_checkpoint)
    gray = images.read_image(cat).rgb
    expected = colorizer(gray, points=HINTS["points"], **HINTS["look"])
    assert np.array_equal(pixels(tmp_path / "out" / "cat.png"), expected)
    assert np.array_equal(pixels(tmp_path / "out" / "coffee.png"), colorizer(images.read_image(coffee).rgb))
    assert not np.array_equal(expected, colorizer(gray))


def test_hints_for_one_photo_and_a_hint_file_written_back_give_the_same_pixels(tmp_path: Path,
                                                                               pointed_checkpoint: Path) -> None:
    photo = gray_photo(tmp_path / "scan.png", data.astronaut())
    saved = tmp_path / "mine.json"
    saved.write_text(hint_file.to_json(hint_file.parse(HINTS, "HINTS")))
    for name, hints in (("a", saved), ("b", None)):
        if hints is None:  # the saved file beside the photo instead of --hints
            write_hints(photo, saved.read_text())
        args = ["--in", str(photo), "--out", str(tmp_path / name), "--checkpoint", str(pointed_checkpoint)]
        result = CliRunner().invoke(colorize.main, args + (["--hints", str(hints)] if hints else []))
        assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(tmp_path / "a" / "scan.png"), pixels(tmp_path / "b" / "scan.png"))


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not readable as JSON"),
    ({"points": []}, "not a gan_colorizer hint file"),
    ({"gan_colorizer_hints": 1, "point": []}, "unknown key 'point'"),
    ({"gan_colorizer_hints": 1, "points": [{"x": 500, "y": 5, "color": "#ff0000"}]}, "lies outside the 96 x 72 image"),
    ({"gan_colorizer_hints": 1, "points": [{"x": 5, "y": 5, "color": "crimson"}]}, "point 1: colour 'crimson'"),
    ({"gan_colorizer_hints": 1, "look": {"mood": "sunny"}}, "sunny"),
    ({"gan_colorizer_hints": 1, "vividness": 1.5}, "vividness must be a number in [0, 1]"),
])
def test_a_bad_hint_file_skips_its_photo_with_one_line_and_the_rest_come_out(
        tmp_path: Path, pointed_checkpoint: Path, content, message: str) -> None:
    bad = gray_photo(tmp_path / "in" / "bad.png", data.chelsea())
    gray_photo(tmp_path / "in" / "good.png", data.coffee())
    hints = write_hints(bad, content)
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(pointed_checkpoint)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if str(hints) in line]
    assert len(lines) == 1 and message in lines[0], result.output
    assert (tmp_path / "out" / "good.png").is_file() and not (tmp_path / "out" / "bad.png").exists()


def test_points_for_a_model_without_them_name_the_file_and_the_fix(tmp_path: Path, tiny_checkpoint: Path) -> None:
    photo = gray_photo(tmp_path / "in" / "cat.png", data.chelsea())
    hints = write_hints(photo, HINTS)
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(tiny_checkpoint)])
    assert result.exit_code == 1 and f"{hints}: has colour points, but this model takes none" in result.output


def test_hints_name_one_photo_not_a_folder(tmp_path: Path, pointed_checkpoint: Path) -> None:
    for name in ("a.png", "b.png"):
        gray_photo(tmp_path / "in" / name, data.chelsea())
    (tmp_path / "h.json").write_text(json.dumps(HINTS))
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(pointed_checkpoint), "--hints", str(tmp_path / "h.json")])
    assert result.exit_code == 1 and "--hints" in result.output and "is for one photo" in result.output


def test_a_missing_hint_file_is_one_line() -> None:
    with pytest.raises(ConfigError, match="no such hint file"):
        hint_file.read(Path("/nonexistent/x.hints.json"))


def test_a_hint_files_vividness_is_replayed_and_refused_by_a_model_without_a_head(
        tmp_path: Path, distribution_checkpoint: Path, tiny_checkpoint: Path) -> None:
    cat, coffee = (gray_photo(tmp_path / "in" / f"{name}.png", photo)
                   for name, photo in (("cat", data.chelsea()), ("coffee", data.coffee())))
    write_hints(cat, {"gan_colorizer_hints": 1, "vividness": 1.0})
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(distribution_checkpoint), "--vividness", "0"])
    assert result.exit_code == 0, result.output
    colorizer = Colorizer.from_checkpoint(distribution_checkpoint)
    assert np.array_equal(pixels(tmp_path / "out" / "cat.png"), colorizer(images.read_image(cat).rgb, vividness=1.0))
    assert np.array_equal(pixels(tmp_path / "out" / "coffee.png"), colorizer(images.read_image(coffee).rgb, vividness=0.0))
    assert hint_file.to_json(hint_file.parse({"gan_colorizer_hints": 1, "vividness": 0.25}, "x")).count('"vividness": 0.25') == 1
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out2"),
                                                "--checkpoint", str(tiny_checkpoint)])
    assert result.exit_code == 1 and "has a vividness, but this model has no colour-distribution head" in result.output
