"""ONNX export and the onnxruntime backend: the same pixels as torch, any image size, a hint input when the
model takes one, and one-line errors."""
import importlib.util
import sys

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage import data as skdata

from gan_colorizer import onnx_backend
from gan_colorizer.errors import ConfigError
from gan_colorizer.inference import Colorizer
from gan_colorizer.models import build
from tests.conftest import TINY_GENERATOR, small, write_png
from tools import colorize, export

needs_onnxruntime = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                                       reason="onnxruntime is not installed (pip install 'gan_colorizer[onnx]')")


@pytest.fixture
def hinted_generator():
    """A tiny generator taking a hint and points whose BatchNorm statistics, hint layer and point convs are
    not the trivial initial ones, so that folding, the hint input and the points input all change the output."""
    torch.manual_seed(0)
    generator = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], hint=True, points=True)
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
        for parameter in [*generator.film.parameters(), *generator.point_convs.parameters()]:  # zero at first
            parameter.normal_(0.0, 0.3)
    return generator.eval()


@pytest.fixture
def gray_photos() -> list[np.ndarray]:
    """The 48x40 photo and an odd size, as (H, W) uint8 gray."""
    return [cv2.cvtColor(small(skdata.chelsea(), 48, 40), cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(small(skdata.coffee(), 53, 37), cv2.COLOR_RGB2GRAY)]


@needs_onnxruntime
def test_onnx_colorizer_gives_torch_pixels_within_one_level(hinted_generator, gray_photos, tmp_path):
    torch_colorizer = Colorizer(hinted_generator)
    onnx_backend.export_onnx(torch_colorizer.generator, tmp_path / "tiny.onnx")
    onnx_colorizer = Colorizer.from_checkpoint(tmp_path / "tiny.onnx")
    assert onnx_colorizer.takes_hint and onnx_colorizer.takes_points
    for gray in gray_photos:
        # no hint; both hinted calls; points alone and with a mood
        for control in ({}, {"mood": "warm", "strength": 0.5}, {"points": [(20, 15, "#a06040")]},
                        {"mood": "cool", "points": [(20, 15, "#a06040", 3), (5, 30, "#4060a0")]}):
            expected = torch_colorizer(gray, **control).astype(int)
            got = onnx_colorizer(gray, **control).astype(int)
            assert got.shape == expected.shape == (*gray.shape, 3)
            assert np.abs(got - expected).max() <= 1, control
    assert not np.array_equal(torch_colorizer(gray_photos[0]), torch_colorizer(gray_photos[0], mood="warm"))
    assert not np.array_equal(torch_colorizer(gray_photos[0]), torch_colorizer(gray_photos[0], points=[(9, 9, "#f00")]))


@needs_onnxruntime
def test_export_folds_batchnorm_and_has_dynamic_batch_height_and_width(tiny_generator, tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'gan_colorizer[onnx]')")
    prepared = Colorizer(tiny_generator).generator
    assert onnx_backend.export_onnx(prepared, tmp_path / "plain.onnx") == ["L_n"]
    assert "BatchNormalization" not in {node.op_type for node in onnx.load(tmp_path / "plain.onnx").graph.node}
    generator = onnx_backend.OnnxGenerator(tmp_path / "plain.onnx")
    assert not generator.takes_hint
    for shape in [(2, 1, 32, 64), (1, 1, 7, 5), (3, 1, 41, 29)]:
        L_n = torch.rand(*shape) * 2.0 - 1.0
        with torch.no_grad():
            expected = prepared(L_n)
        torch.testing.assert_close(generator(L_n), expected, atol=1e-4, rtol=0)


@needs_onnxruntime
def test_export_and_colorize_tools_run_onnx(tiny_checkpoint, tmp_path):
    src = tmp_path / "gray"
    for index, photo in enumerate([skdata.astronaut(), skdata.rocket()]):
        write_png(src / f"{index}.png", small(photo, 45 + 8 * index, 33 + 2 * index))
    model = tmp_path / "model.onnx"
    result = CliRunner().invoke(export.main, ["--checkpoint", str(tiny_checkpoint), "--onnx", str(model)])
    assert result.exit_code == 0, result.output
    assert model.is_file() and "inputs L_n;" in result.output
    for backend, checkpoint_path in (("onnx", model), ("torch", tiny_checkpoint)):
        result = CliRunner().invoke(colorize.main, ["--in", str(src), "--out", str(tmp_path / backend), "--checkpoint",
                                                    str(checkpoint_path), "--backend", backend])
        assert result.exit_code == 0, result.output
    for name in ("0.png", "1.png"):
        by_onnx, by_torch = (cv2.imread(str(tmp_path / backend / name)).astype(int) for backend in ("onnx", "torch"))
        assert by_onnx.shape == cv2.imread(str(src / name)).shape
        assert np.abs(by_onnx - by_torch).max() <= 1


@needs_onnxruntime
def test_a_torch_checkpoint_given_to_the_onnx_backend_is_one_error_line(tiny_checkpoint, photo_dir, tmp_path):
    result = CliRunner().invoke(colorize.main, ["--in", str(photo_dir), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(tiny_checkpoint), "--backend", "onnx"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: ") and "not a readable ONNX model" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_onnxruntime_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail as if absent
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match="onnxruntime"):
        Colorizer.from_checkpoint(tmp_path / "model.onnx")


def test_export_of_a_missing_checkpoint_is_one_error_line(tmp_path):
    result = CliRunner().invoke(export.main, ["--checkpoint", str(tmp_path / "none.pt"), "--onnx", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output == f"Error: {tmp_path / 'none.pt'}: no such checkpoint\n"
    assert not (tmp_path / "m.onnx").exists()


def test_unknown_backend_is_a_config_error(tiny_checkpoint):
    with pytest.raises(ConfigError, match="backend"):
        Colorizer.from_checkpoint(tiny_checkpoint, backend="tensorrt")
