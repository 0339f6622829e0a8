"""inference: the input's own L at full size, gamut handling that keeps lightness, the Colorizer API."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from gan_colorizer import checkpoint, color, image_writer, images, inference, memory, models
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
    assert memory.working_size(3000, 4000, 256) == (256, 341)
    assert memory.working_size(4000, 3000, 256) == (341, 256)
    assert memory.working_size(100, 50, 256) == (100, 50)
    assert memory.working_size(2, 10_000, 256) == (2, 10_000)


@pytest.mark.parametrize("ab_n", [(0.9, 0.9), (-0.9, 0.2), (0.3, -0.95)])
def test_written_file_keeps_lightness_where_clipping_would_not(tmp_path: Path, ab_n: tuple[float, float]) -> None:
    rgb = photo(64, 80)
    L_in = color.rgb_to_L(rgb)
    colorizer = inference.Colorizer(ConstantChroma(ab_n))
    path = tmp_path / "out.png"
    image_writer.write_image(path, colorizer(rgb))
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


class Untouchable(nn.Module):
    """A generator that must not be reached: the memory check has to refuse first."""

    takes_hint = False

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, L_n: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the network ran")


def test_a_render_size_beyond_free_memory_is_refused_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reported failure: a 13.5 MP photo at --render-size 3000 grew to 24 GB and was OOM-killed."""
    monkeypatch.setattr(memory, "available_memory", lambda: 8_000_000_000)
    colorizer = inference.Colorizer(Untouchable(), render_size=3000)
    photo_13mp = np.broadcast_to(np.uint8(128), (3000, 4500))  # a view: nothing allocated
    with pytest.raises(ImageError) as refused:
        colorizer(photo_13mp)
    message = str(refused.value)
    assert message.startswith("image (13.5 MP): --render-size 3000 needs about ")
    assert "this machine has 8.0 GB available: use --render-size " in message and message.endswith(" or less")
    suggested = int(message.split("use --render-size ")[1].split()[0])
    assert memory.memory_needed(3000, 4500, suggested) <= 8_000_000_000
    assert memory.memory_needed(3000, 4500, suggested + 64) > 8_000_000_000


def test_memory_estimate_covers_the_measured_peaks() -> None:
    """Peak RSS of the bundled model's network call (docs/performance.md), and the 24 GB at which the
    13.5 MP run at render size 3000 was killed: the estimate is above each, and not far above."""
    measured = {(1024, 1365, 1024): 388e6, (1536, 2048, 1536): 1596e6, (2048, 2730, 2048): 4579e6,
                (512, 682, 512): 93e6, (3000, 4500, 3000): 24e9}
    for (height, width, render_size), peak in measured.items():
        assert peak <= memory.network_memory(height, width, render_size) <= 1.5 * peak
    assert memory.network_memory(3000, 4500, 256, batch=4) == 4 * memory.network_memory(3000, 4500, 256)


def test_a_small_image_is_not_limited_by_a_large_render_size(monkeypatch: pytest.MonkeyPatch,
                                                              tiny_checkpoint: Path) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 100_000_000)
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=3000)
    assert colorizer(photo(48, 40)).shape == (48, 40, 3)  # the network never enlarges: 48 x 40 it is


def test_a_float_image_in_0_255_is_refused_with_the_fix(tiny_checkpoint: Path) -> None:
    """The reported failure: a float image in 0...255 came out all white without a word."""
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=32)
    gray = (photo(48, 40)[..., 0] * 255).round()
    with pytest.raises(ImageError, match=r"^float image with values up to 2\d\d\.0: expected \[0, 1\]; "
                                         r"divide by 255 \(or pass uint8\)$"):
        colorizer(gray)
    with pytest.raises(ImageError, match="values down to -2.0"):
        colorizer(np.full((8, 8), -2.0))
    with pytest.raises(ImageError, match="NaN"):
        colorizer(np.full((8, 8), np.nan, np.float32))


def test_a_small_float_overshoot_is_clipped(tiny_checkpoint: Path) -> None:
    """Bicubic resampling of a [0, 1] image overshoots a little: that is still a [0, 1] image."""
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=32)
    rgb = photo(48, 40)
    overshoot = rgb.copy()
    overshoot[rgb > 0.9] += 0.05
    overshoot[rgb < 0.1] -= 0.05
    np.testing.assert_array_equal(colorizer(overshoot), colorizer(np.clip(overshoot, 0.0, 1.0)))


def test_colorizer_takes_a_path(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """The reported failure: a path string gave a cryptic shape error."""
    colorizer = inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=32)
    gray8 = (photo(48, 40)[..., 0] * 255).astype(np.uint8)
    path = tmp_path / "scan.png"
    cv2.imwrite(str(path), gray8)
    expected = colorizer(gray8)
    np.testing.assert_array_equal(colorizer(str(path)), expected)
    np.testing.assert_array_equal(colorizer(path), expected)
    with pytest.raises(ImageError, match="missing.png"):
        colorizer(tmp_path / "missing.png")


@pytest.mark.parametrize("size", [(300, 451), (257, 383), (131, 97)])
def test_the_bundled_model_paints_no_strip_along_the_frame(size: tuple[int, int]) -> None:
    """Zero-padded convolutions see the frame's edge; inference mirrors a margin around the input so the
    outermost rows and columns get the chroma of their neighbours (a strip was 7.9 units above them)."""
    height, width = size
    rgb = small(data.chelsea(), width, height).astype(np.float32) / 255.0
    out = inference.Colorizer.from_checkpoint()(rgb)
    lab = color.rgb_to_lab(out.astype(np.float32) / 255.0)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    for side in (chroma, chroma[::-1], chroma.T, chroma.T[::-1]):  # top, bottom, left, right as rows
        edge, inside = side[:2].mean(), side[4:10].mean()
        assert abs(edge - inside) < 3.0, (edge, inside)
