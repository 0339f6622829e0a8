"""tools/colorize.py: every kind of file a user has comes out at its size; bad ones get one line each."""
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image
from skimage import data

from gan_colorizer import image_writer, images, inference
from tests.conftest import small
from tools import colorize


def gray_photo(height: int = 40, width: int = 48) -> np.ndarray:
    """(H, W) uint8: skimage's camera man, small."""
    return small(data.camera(), width, height)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(colorize.main, [str(arg) for arg in args])


def awkward_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Write one file per mode and format a user may have; returns name -> expected output (H, W)."""
    gray = gray_photo()
    alpha = np.linspace(0, 255, gray.size, dtype=np.uint8).reshape(gray.shape)
    rgb = np.dstack([gray, np.roll(gray, 3, axis=1), 255 - gray])
    (folder / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(gray).save(folder / "gray8.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / "gray16.png")
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(folder / "gray_alpha.png")
    Image.fromarray(rgb).save(folder / "sub" / "rgb.jpg", quality=90)
    Image.fromarray(np.dstack([rgb, alpha])).save(folder / "rgba.png")
    Image.fromarray(gray).convert("P").save(folder / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(gray).save(folder / "sub" / "deeper" / "gray.tif")
    Image.fromarray(np.dstack([rgb, alpha])).save(folder / "rgba.webp", lossless=True)
    Image.fromarray(gray).convert("RGB").save(folder / "gray.bmp")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90 clockwise to display": shown 48 high, 40 wide
    Image.fromarray(gray).save(folder / "rotated.jpg", exif=exif.tobytes())
    Image.fromarray(np.full((1, 1), 128, np.uint8)).save(folder / "one_pixel.png")
    Image.fromarray(gray_photo(3, 200)).save(folder / "wide.png")
    sizes = {path: (40, 48) for path in ["gray8.png", "gray16.png", "gray_alpha.png", "sub/rgb.jpg", "rgba.png",
                                          "palette.png", "cmyk.jpg", "sub/deeper/gray.tif", "rgba.webp", "gray.bmp"]}
    return {**sizes, "rotated.jpg": (48, 40), "one_pixel.png": (1, 1), "wide.png": (3, 200)}


def test_every_awkward_file_comes_out_at_its_size(tmp_path: Path, tiny_checkpoint: Path) -> None:
    expected = awkward_files(tmp_path / "in")
    result = run("--in", tmp_path / "in", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    for name, size in expected.items():
        output = images.read_image(tmp_path / "out" / name)
        assert output.rgb.shape[:2] == size, name
    for name in ["gray_alpha.png", "rgba.png", "rgba.webp"]:  # alpha carried over, untouched
        kept = np.asarray(Image.open(tmp_path / "out" / name).getchannel("A"))
        np.testing.assert_array_equal(kept, np.asarray(Image.open(tmp_path / "in" / name).getchannel("A")))
    assert "sub/rgb.jpg: note" in result.output and "colour" in result.output
    assert "gray8.png: note" not in result.output


def test_broken_files_get_one_line_each_and_the_rest_comes_out(tmp_path: Path, tiny_checkpoint: Path,
                                                                broken_files: dict[str, Path]) -> None:
    source = broken_files["text"].parent
    Image.fromarray(gray_photo()).save(source / "good.png")
    Image.fromarray(gray_photo()).save(source / "whole.jpg")
    Image.fromarray(gray_photo(400, 300)).save(source / "huge.png")
    (source / "two_bytes.bmp").write_bytes(b"BM")  # shorter than any header: Pillow's prefix tests read past it
    result = run("--in", source, "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint, "--max-pixels", 100_000)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    for bad in [*(path.name for path in broken_files.values()), "huge.png", "two_bytes.bmp"]:
        assert len([line for line in lines if f"{bad}:" in line]) == 1, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png", "whole.jpg"]
    assert lines[-1] == f"Error: {len(broken_files) + 2} file(s) skipped; reasons printed above"


@pytest.mark.parametrize("out", ["in", "in/sub", "in/../in/colored"])
def test_out_inside_in_is_refused(tmp_path: Path, tiny_checkpoint: Path, out: str) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(gray_photo()).save(tmp_path / "in" / "sub" / "a.png")
    result = run("--in", tmp_path / "in", "--out", tmp_path / out, "--checkpoint", tiny_checkpoint)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error:") and len(result.output.splitlines()) == 1
    assert [p.name for p in (tmp_path / "in").rglob("*")] == ["sub", "a.png"]


def test_api_and_cli_give_the_same_pixels(tmp_path: Path, tiny_checkpoint: Path) -> None:
    gray = gray_photo(37, 53)
    Image.fromarray(gray).save(tmp_path / "photo.png")
    result = run("--in", tmp_path / "photo.png", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                 "--render-size", 32)
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    api = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=32)(gray)
    np.testing.assert_array_equal(written, api)


def test_format_and_skip_existing(tmp_path: Path, tiny_checkpoint: Path) -> None:
    (tmp_path / "in").mkdir()
    Image.fromarray(gray_photo()).save(tmp_path / "in" / "a.jpg")
    Image.fromarray(gray_photo()).save(tmp_path / "in" / "b.tif")
    args = ["--in", tmp_path / "in", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint, "--format", "png"]
    assert run(*args).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    (tmp_path / "out" / "a.png").write_bytes(b"kept")
    (tmp_path / "out" / "b.png").unlink()
    result = run(*args, "--skip-existing")
    assert result.exit_code == 0 and "1 image(s) colorized" in result.output and "1 already there" in result.output
    assert (tmp_path / "out" / "a.png").read_bytes() == b"kept"


@pytest.mark.parametrize("kind", ["list", "text", "missing"])
def test_wrong_checkpoint_is_one_error_line(tmp_path: Path, kind: str) -> None:
    Image.fromarray(gray_photo()).save(tmp_path / "a.png")
    path = tmp_path / "model.pt"
    if kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "text":
        path.write_text("weights: none\n")
    result = run("--in", tmp_path / "a.png", "--out", tmp_path / "out", "--checkpoint", path)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error:") and "model.pt" in result.output
    assert len(result.output.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_decoding_notes_metadata_and_bit_depth_reach_the_outputs(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    gray = gray_photo()
    frames = [Image.fromarray(np.roll(gray, shift, axis=1)) for shift in (0, 5, 10)]
    frames[0].save(source / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    exif = Image.Exif()
    exif[0x010E] = "Grandmother's farm, 1931"  # ImageDescription
    Image.fromarray(gray).save(source / "captioned.jpg", exif=exif.tobytes(), dpi=(600, 600))
    Image.fromarray(gray.astype(np.uint16) * 257).save(source / "scan16.png")
    result = run("--in", source, "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    assert f"{source / 'animated.gif'}: note: animated GIF with 3 frames: only the first frame is colorized" \
        in result.output.splitlines()
    with Image.open(tmp_path / "out" / "captioned.jpg") as written:
        assert written.getexif()[0x010E] == "Grandmother's farm, 1931"
        assert tuple(round(d) for d in written.info["dpi"]) == (600, 600)
    assert images.read_image(tmp_path / "out" / "scan16.png").bit_depth == 16  # --bit-depth same, the default
    eight = run("--in", source / "scan16.png", "--out", tmp_path / "eight", "--checkpoint", tiny_checkpoint,
                "--bit-depth", 8)
    assert eight.exit_code == 0 and images.read_image(tmp_path / "eight" / "scan16.png").bit_depth == 8


def test_bit_depth_16_into_jpeg_is_refused(tmp_path: Path, tiny_checkpoint: Path) -> None:
    Image.fromarray(gray_photo()).save(tmp_path / "a.jpg")
    upfront = run("--in", tmp_path / "a.jpg", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                  "--bit-depth", 16, "--format", "jpg")
    assert upfront.exit_code == 1 and isinstance(upfront.exception, SystemExit)
    assert upfront.output == "Error: --bit-depth 16 needs --format png or tif; jpg holds 8 bits per channel\n"
    per_file = run("--in", tmp_path / "a.jpg", "--out", tmp_path / "out", "--checkpoint", tiny_checkpoint,
                   "--bit-depth", 16)
    assert per_file.exit_code == 1 and isinstance(per_file.exception, SystemExit)
    assert f"{tmp_path / 'out' / 'a.jpg'}: .jpg holds 8 bits per channel" in per_file.output
    assert not (tmp_path / "out" / "a.jpg").exists()


def test_jpeg_quality_is_used(tmp_path: Path, tiny_checkpoint: Path) -> None:
    Image.fromarray(gray_photo(120, 160)).save(tmp_path / "a.jpg", quality=95)
    sizes = {}
    for quality in (30, 95):
        result = run("--in", tmp_path / "a.jpg", "--out", tmp_path / str(quality), "--checkpoint", tiny_checkpoint,
                     "--jpeg-quality", quality)
        assert result.exit_code == 0, result.output
        sizes[quality] = (tmp_path / str(quality) / "a.jpg").stat().st_size
    assert sizes[30] < 0.7 * sizes[95]


def test_a_request_the_photo_cannot_hold_is_one_note_line_and_the_file_still_comes_out(tiny_checkpoint, tmp_path):
    from click.testing import CliRunner

    from tools import colorize

    image_writer.write_image(tmp_path / "in" / "white.png", np.full((40, 48, 3), 250, np.uint8))  # nearly white
    result = CliRunner().invoke(colorize.main, ["--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(tiny_checkpoint), "--color", "#4080c0"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if ": note: cannot reach #4080c0" in line]
    assert len(notes) == 1 and "white.png" in notes[0] and "reached" in notes[0]
    assert (tmp_path / "out" / "white.png").is_file()
