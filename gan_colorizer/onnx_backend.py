"""ONNX export of a generator, and `OnnxGenerator`: the exported file run by onnxruntime in its place.

Why: onnxruntime runs the network without torch's Python overhead, and an .onnx file can be served
from other languages and runtimes. `inference.Colorizer` takes an OnnxGenerator wherever it takes a
torch generator (it has the call signature and `takes_hint`), so the full-resolution pipeline, the
colour control and the folder runner are the same code for both backends.

The file's interface: input `L_n` (B, 1, H, W) float32 in [-1, 1], for a generator built with
`hint=True` an input `hint` (B, HINT_SIZE) float32 (all zeros = no hint, as in torch), for one built
with `points=True` an input `points` (B, POINT_CHANNELS, H, W) float32 (all zeros = no points), for one
with a colour-distribution head an input `vividness` (B,) float32 in [0, 1] (its default is written in
the file's metadata, `default_vividness`); output `ab_n` (B, 2, H, W) float32 in [-1, 1]. Batch, height and width are dynamic: the generator's own
padding to its stride is in the graph.

The exporter is torch's TorchScript one (`dynamo=False`). The torch.export-based exporter, torch's
default since 2.9, fails on the self-attention block here (onnxscript lowers scaled_dot_product_attention
for 4-D inputs only; ours is 3-D), and would need onnxscript besides. onnxruntime is an optional extra
(`pip install gan_colorizer[onnx]`), imported only when a model is loaded.
"""
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_colorizer.errors import CheckpointError, ConfigError
from gan_colorizer.models.layers import HINT_SIZE, POINT_CHANNELS

INPUT_L, INPUT_HINT, INPUT_POINTS, INPUT_VIVIDNESS, OUTPUT_AB = "L_n", "hint", "points", "vividness", "ab_n"
OPTIONAL_INPUTS = (INPUT_HINT, INPUT_POINTS, INPUT_VIVIDNESS)  # after L_n, in forward's order
DEFAULT_VIVIDNESS = "default_vividness"  # the metadata key of a distribution model's default
# Odd sides are never a multiple of a generator's stride (a power of two), so the trace records the
# pad-to-stride branch: a trace keeps only the branch its example input takes, and a pad of 0 is valid.
_EXAMPLE_HEIGHT, _EXAMPLE_WIDTH = 67, 45


def export_onnx(generator: nn.Module, path: Path) -> list[str]:
    """Write a generator as an ONNX file with dynamic batch, height and width; returns its input names.

    generator: on the CPU, ready for inference, i.e. in eval mode with BatchNorm folded into the convs
    (`inference.Colorizer(...).generator`), so the file computes what the torch backend computes and
    holds no BatchNormalization node. Written to a temporary file and renamed, as checkpoints are.
    """
    image_axes = {0: "batch", 2: "height", 3: "width"}
    inputs = {INPUT_L: (torch.zeros(1, 1, _EXAMPLE_HEIGHT, _EXAMPLE_WIDTH), image_axes)}
    if getattr(generator, "takes_hint", False):
        inputs[INPUT_HINT] = (torch.zeros(1, HINT_SIZE), {0: "batch"})
    if getattr(generator, "takes_points", False):  # a map, not None, so the trace keeps the points branch
        inputs[INPUT_POINTS] = (torch.zeros(1, POINT_CHANNELS, _EXAMPLE_HEIGHT, _EXAMPLE_WIDTH), image_axes)
    if getattr(generator, "takes_vividness", False):
        inputs[INPUT_VIVIDNESS] = (torch.full((1,), 0.5), {0: "batch"})
    # forward(L_n, hint, points, vividness): an input the model does not take stays None
    example = tuple(inputs[name][0] if name in inputs else None for name in (INPUT_L, *OPTIONAL_INPUTS))
    example = example[:max(index for index, tensor in enumerate(example) if tensor is not None) + 1]
    input_names = list(inputs)
    dynamic_axes = {name: axes for name, (_, axes) in inputs.items()} | {OUTPUT_AB: image_axes}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The one data-dependent branch, `if pad_h or pad_w`, is traced taken on purpose (see above),
            # and the exporter's deprecation notice is the choice the module doc explains.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(generator, example, str(tmp), dynamo=False, input_names=input_names,
                              output_names=[OUTPUT_AB], dynamic_axes=dynamic_axes, do_constant_folding=True)
        if INPUT_VIVIDNESS in inputs:
            _write_default_vividness(tmp, generator.default_vividness)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: could not write the ONNX model ({err.strerror or err})") from None
    return input_names


def _write_default_vividness(path: Path, vividness: float) -> None:
    """Record a distribution model's default vividness in the file's metadata (needs the onnx package,
    part of the [onnx] extra), so the onnxruntime backend decodes as the torch model does."""
    try:
        import onnx
    except ModuleNotFoundError:
        raise ConfigError("exporting a model with a colour-distribution head needs the onnx package: "
                          "pip install 'gan_colorizer[onnx]'") from None
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {DEFAULT_VIVIDNESS: repr(float(vividness))})
    onnx.save(model, str(path))


class OnnxGenerator:
    """An exported generator (`export_onnx`) run by onnxruntime on the CPU, called like the torch one.

    >>> generator = OnnxGenerator(Path("model.onnx"))
    >>> ab_n = generator(L_n)            # (B, 1, H, W) in [-1, 1] -> (B, 2, H, W) in [-1, 1]

    It is not an nn.Module: it has no parameters to move or fold, and its session cannot be copied,
    so `inference.Colorizer` uses it as it is. Inputs may be on any device; outputs are CPU tensors.
    """

    device = torch.device("cpu")

    def __init__(self, path: Path, threads: int | None = None) -> None:
        """threads: onnxruntime's intra-op threads; None lets it use every core."""
        try:
            import onnxruntime
        except ModuleNotFoundError:
            raise ConfigError("the ONNX backend needs onnxruntime, which is not installed: "
                              "pip install 'gan_colorizer[onnx]' (or pip install onnxruntime)") from None
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such ONNX model")
        try:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or 0  # 0: onnxruntime's default
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime raises its own classes (Fail, InvalidProtobuf, ...) for foreign bytes
            raise CheckpointError(f"{path}: not a readable ONNX model (make one with gan-colorizer-export)") from None
        names = [node.name for node in self.session.get_inputs()]
        if not names or names[0] != INPUT_L or not set(names[1:]) <= set(OPTIONAL_INPUTS):
            raise CheckpointError(f"{path}: not a gan_colorizer ONNX export (inputs {names}, expected "
                                  f"{INPUT_L} and optionally {', '.join(OPTIONAL_INPUTS)})")
        self.takes_hint, self.takes_points = INPUT_HINT in names, INPUT_POINTS in names
        self.takes_vividness = INPUT_VIVIDNESS in names
        if self.takes_vividness:
            try:
                self.default_vividness = float(self.session.get_modelmeta().custom_metadata_map[DEFAULT_VIVIDNESS])
            except (KeyError, ValueError):
                raise CheckpointError(f"{path}: has a {INPUT_VIVIDNESS} input but no {DEFAULT_VIVIDNESS} "
                                      f"metadata; export it again with gan-colorizer-export") from None

    def __call__(self, L_n: torch.Tensor, hint: torch.Tensor | None = None, points: torch.Tensor | None = None,
                 vividness: float | None = None) -> torch.Tensor:
        """L_n (B, 1, H, W) in [-1, 1], hint (B, HINT_SIZE) or None, points (B, POINT_CHANNELS, H, W) or
        None, vividness in [0, 1] or None (the file's default) -> ab_n (B, 2, H, W) in [-1, 1]."""
        if hint is not None and not self.takes_hint:
            raise ValueError("this generator was exported without a hint input, so it takes no colour hint")
        if points is not None and not self.takes_points:
            raise ValueError("this generator was exported without a points input, so it takes no colour points")
        if vividness is not None and not self.takes_vividness:
            raise ValueError("this generator has no colour-distribution head, so it takes no vividness")
        batch, _, height, width = L_n.shape
        feeds = {INPUT_L: L_n}
        if self.takes_hint:  # zeros = no hint
            feeds[INPUT_HINT] = hint if hint is not None else torch.zeros(batch, HINT_SIZE)
        if self.takes_points:  # zeros = no points
            feeds[INPUT_POINTS] = points if points is not None else torch.zeros(batch, POINT_CHANNELS, height, width)
        if self.takes_vividness:
            feeds[INPUT_VIVIDNESS] = torch.full((batch,), self.default_vividness if vividness is None else vividness)
        feeds = {name: np.ascontiguousarray(value.detach().cpu().numpy(), dtype=np.float32)
                 for name, value in feeds.items()}
        (ab_n,) = self.session.run([OUTPUT_AB], feeds)
        return torch.from_numpy(ab_n)
