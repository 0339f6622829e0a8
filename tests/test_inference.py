"""inference: the input's own L at full size, gamut handling that keeps lightness, the Colorizer API."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from gan_colorizer import checkpoint, color, folder, images, inference, models
from gan_colorizer.errors import CheckpointError, ImageError
from tests.conftest import TINY_GENERATOR, small

def photo(height: int, width: int) -> np.ndarray:
    """skimage's chelsea resized to (height, width): (H, W, 3) float32 sRGB in [0, 1]."""
    return small(data.chelsea(), width, height).astype(np.float32) / 255.0


class ConstantChroma(models.Generator):
    """A stand-in generator painting one strong colour everywhere: most of it lands outside sRGB."""

    takes_hint = False

    def __init__(self, ab_n: tuple[float, float]) -> None:
        super().__init__()
        self.ab_n = nn.Parameter(torch.tensor(ab_n).view(1, 2, 1, 1), requires_grad=False)

    def forward(self, L_n: torch.Tensor) -> torch.Tensor:
        return self.ab_n.expand(L_n.shape[0], 2, *L_n.shape[2:])


@pytest.mark.parametrize("size", [(48, 40), (1, 1), (3, 200), (40, 300)])
def test_predict_lab_keeps_the_input_L_exactly(tiny_checkpoint: Path, size: tuple[int, int]) -> None:
    generator, _ = checkpoint.load_generator(tiny_checkpoint)
    rgb = photo(*size)
    lab = inference.predict_lab(generator, rgb, render_size=32)
    assert lab.shape == (*size, 3)
    np.testing.assert_array_equal(lab[..., 0], color.rgb_to_L(rgb))
    assert np.all(np.abs(lab[..., 1:]) <= color.AB_SCALE)


def test_working_size_keeps_aspect_and_never_enlarges() -> None:
    assert inference.working_size(3000, 4000, 256) == (256, 341)
    assert inference.working_size(4000, 3000, 256) == (341, 256)
    assert inference.working_size(100, 50, 256) == (100, 50)
    assert inference.working_size(2, 10_000, 256) == (2, 10_000)


@pytest.mark.parametrize("ab_n", [(0.9, 0.9), (-0.9, 0.2), (0.3, -0.95)])
def test_written_file_keeps_lightness_where_clipping_would_not(tmp_path: Path, ab_n: tuple[float, float]) -> None:
    rgb = photo(64, 80)
    L_in = color.rgb_to_L(rgb)
    colorizer = inference.Colorizer(ConstantChroma(ab_n))
    path = tmp_path / "out.png"
    images.write_image(path, colorizer(rgb))
    error = np.abs(color.rgb_to_L(images.read_image(path).rgb) - L_in)
    assert error.mean() <= 1.0 and np.percentile(error, 99) <= 5.0
    # Clipping channels instead moves L by far more: the test would catch a regression to it.
    clipped = color.lab_to_rgb(color.merge_lab(L_in, np.full((1, 1, 2), ab_n, np.float32) * color.AB_SCALE))
    assert np.percentile(np.abs(color.rgb_to_L(clipped) - L_in), 99) > 5.0


def test_lab_to_rgb_in_gamut_keeps_L_and_in_gamut_colours() -> None:
    rng = np.random.default_rng(0)
    lab = np.stack([rng.uniform(0, 100, (32, 32)), rng.uniform(-110, 110, (32, 32)),
                    rng.uniform(-110, 110, (32, 32))], axis=-1).astype(np.float32)
    rgb = color.lab_to_rgb_in_gamut(lab)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert np.abs(color.rgb_to_L(rgb) - lab[..., 0]).max() < 0.5
    inside = color.rgb_to_lab(photo(16, 16))  # colours of a real photo are left alone
    np.testing.assert_array_equal(color.lab_to_rgb_in_gamut(inside), color.lab_to_rgb(inside))


@pytest.mark.parametrize("name, args", [(TINY_GENERATOR["name"], TINY_GENERATOR["args"]),
                                        ("pix2pix_unet", {"base_channels": 4, "depth": 3})])
def test_folding_batchnorm_keeps_the_output(name: str, args: dict) -> None:
    torch.manual_seed(0)
    generator = models.build(name, **args)
    for module in generator.modules():  # non-trivial running statistics, so folding has work to do
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    generator.eval()
    L_n = torch.rand(2, 1, 48, 40) * 2 - 1
    with torch.inference_mode():
        expected = generator(L_n)
        folded = inference.fold_batchnorm(generator)(L_n)
    torch.testing.assert_close(folded, expected, atol=1e-5, rtol=1e-4)


def test_colorizer_takes_every_array_kind(tiny_checkpoint: Path) -> None:
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=32)
    gray8 = (photo(48, 40)[..., 0] * 255).astype(np.uint8)
    kinds = [gray8, gray8.astype(np.uint16) * 257, gray8 / 255.0, np.dstack([gray8] * 3),
             np.dstack([gray8] * 3 + [np.full_like(gray8, 7)]), gray8[..., None]]
    outputs = [colorizer(kind) for kind in kinds]
    for output in outputs:
        assert output.shape == (48, 40, 3) and output.dtype == np.uint8
        np.testing.assert_array_equal(output, outputs[0])  # same picture, same pixels, whatever the dtype


def test_colorizer_rejects_bad_arrays(tiny_checkpoint: Path) -> None:
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint)
    with pytest.raises(ImageError, match="dtype"):
        colorizer(np.zeros((8, 8), dtype=np.int64))
    with pytest.raises(ImageError, match="shape"):
        colorizer(np.zeros((8, 8, 2), dtype=np.uint8))


def test_missing_bundled_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "DEFAULT_CHECKPOINT", tmp_path / "default.pt")
    with pytest.raises(CheckpointError, match="--checkpoint"):
        inference.Colorizer.from_checkpoint()


def test_wrong_kind_of_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    listed = tmp_path / "list.pt"
    torch.save([1, 2, 3], listed)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    for path in (listed, text):
        with pytest.raises(CheckpointError, match=path.name):
            inference.Colorizer.from_checkpoint(path)


def test_pixel_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.zeros((300, 200), np.uint8))
    with pytest.raises(ImageError, match="max-pixels"):
        folder.check_pixel_count(path, max_pixels=59_999)
    folder.check_pixel_count(path, max_pixels=60_000)
