"""Colorize photos at full resolution: the network sees a small copy of L, the output keeps the input's own L.

Per image: L = the input's lightness (a colour photo is reduced to its L, i.e. turned gray) ->
a copy shrunk so its shorter side is `render_size` (never enlarged) -> the generator predicts a*b* at
that size -> a*b* is resized back and joined with the full-resolution L (`color.merge_lab`) -> Lab to
sRGB, lowering chroma where a colour falls outside sRGB so lightness is never traded away -> 8 bits.

`Colorizer.predict` is its own step so that colour control can edit a*b* before the merge. `Colorizer` is
the Python API and holds one prepared copy of the network; colour control is an argument of each
call, so one loaded model serves any mood. The folder runner (`folder.py`) drives it for
`tools/colorize.py`.
"""
import copy
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gan_colorizer import checkpoint, hint, image_writer, images, memory, onnx_backend
from gan_colorizer import color as color_module  # `color` is also the hex-colour argument of a call
from gan_colorizer import mood as moods
from gan_colorizer import points as point_module  # `points` is also the argument of a call
from gan_colorizer.assets import asset_path
from gan_colorizer.errors import CheckpointError, ConfigError, ImageError
from gan_colorizer.models import chroma_bins

DEFAULT_CHECKPOINT = asset_path("checkpoints/default.pt")
# Shorter side the network sees. 256 is the training scale; 384/512 cost about 2x/4x the network time
# and cut the chroma lost to resizing from 1.2 to 0.9/0.75 mean ΔE_ab (docs/performance.md).
DEFAULT_RENDER_SIZE = 256
# A float image may overshoot [0, 1] a little after bicubic or Lanczos resampling (up to about 0.1 at
# hard edges); such values are clipped. Anything further out is another scale (0...255) and refused.
FLOAT_SLACK = 0.1


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the conv before it in the same nn.Sequential, in place.

    The fused conv computes the same function (to float rounding) with one pass over memory
    instead of two. Only Sequential containers are searched: a conv and a norm in separate
    branches of a forward() are not known to be adjacent. Returns `module`.
    """
    for container in module.modules():
        if not isinstance(container, nn.Sequential):
            continue
        names = list(container._modules)
        for conv_name, norm_name in zip(names, names[1:]):
            conv, norm = container._modules[conv_name], container._modules[norm_name]
            if (isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(norm, nn.BatchNorm2d)
                    and norm.track_running_stats and not norm.training and not conv.training):
                fused = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                container._modules[conv_name] = fused
                container._modules[norm_name] = nn.Identity()
    return module


def shrink_L(L: np.ndarray, render_size: int) -> np.ndarray:
    """(H, W) L in [0, 100] -> (h, w) L at `working_size`; area averaging, so fine texture does not alias."""
    height, width = memory.working_size(*L.shape, render_size)
    if (height, width) == L.shape:
        return np.ascontiguousarray(L, dtype=np.float32)
    return cv2.resize(L, (width, height), interpolation=cv2.INTER_AREA)


@torch.inference_mode()
def predict_ab(generator: nn.Module | onnx_backend.OnnxGenerator, small_L: np.ndarray,
               hints: torch.Tensor | None = None, point_maps: torch.Tensor | None = None,
               vividness: float | None = None) -> np.ndarray:
    """(B, h, w) L in [0, 100] -> (B, h, w, 2) float32 a*b* in Lab units, one network call.

    The generator may be anywhere; inputs go to its device. It must be in eval mode (BatchNorm
    running statistics, no dropout): `checkpoint.load_generator` returns it so.
    hints: (B, HINT_SIZE) colour hints (`gan_colorizer.hint`) for a generator that takes them.
    point_maps: (B, POINT_CHANNELS, h, w) colour points (`gan_colorizer.points`) for one that takes them.
    vividness: in [0, 1] for a generator with a distribution head (None: its default).
    """
    ab_n = _network(generator, small_L, hints, point_maps, vividness)[0]  # (B, 2, h, w) in [-1, 1]
    return color_module.denormalize_ab(ab_n.float().permute(0, 2, 3, 1).cpu().numpy())


@torch.inference_mode()
def predict_uncertainty(generator: nn.Module, small_L: np.ndarray) -> np.ndarray:
    """(B, h, w) L in [0, 100] -> (B, h, w) float32 in [0, 1]: 1 - the distribution head's confidence
    (`chroma_bins.confidence`: its normalised entropy), where the model does not know the colour."""
    logits = _network(generator, small_L, details=True)[1]  # (B, Q, h'/4, w'/4) of the framed (h', w')
    unsure = 1.0 - chroma_bins.confidence(logits)
    unsure = torch.nn.functional.interpolate(unsure, scale_factor=4.0, mode="bilinear", align_corners=False)
    window = framed_window(*small_L.shape[-2:])
    return unsure[window][:, 0].float().cpu().numpy()


def _network(generator: nn.Module | onnx_backend.OnnxGenerator, small_L: np.ndarray,
             hints: torch.Tensor | None = None, point_maps: torch.Tensor | None = None,
             vividness: float | None = None, details: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One call of the network on the framed input: ab_n (B, 2, h, w) cut back to the photo, and with
    `details` the distribution's logits over the whole frame (None otherwise)."""
    device = next(generator.parameters()).device if isinstance(generator, nn.Module) else generator.device
    L_n = torch.from_numpy(color_module.normalize_L(np.asarray(small_L, dtype=np.float32)))[:, None]  # (B, 1, h, w)
    L_n, window, padding = framed(L_n)
    inputs = {} if hints is None else {"hint": hints.to(device)}
    if point_maps is not None:  # no points in the mirrored margin
        inputs["points"] = torch.nn.functional.pad(point_maps, padding).to(device)
    if vividness is not None:
        inputs["vividness"] = vividness
    if details:
        prediction = generator(L_n.to(device), **inputs, details=True)
        return prediction.ab_n[window], prediction.logits
    return generator(L_n.to(device), **inputs)[window], None


def framed(L_n: torch.Tensor) -> tuple[torch.Tensor, tuple[slice, ...], tuple[int, int, int, int]]:
    """(B, 1, h, w) -> the network's input: memory.BORDER_MARGIN mirrored pixels on every side, and the
    bottom/right grown to a multiple of memory.PAD_MULTIPLE; plus the window of the photo within it and the
    padding (left, right, top, bottom) for F.pad.

    A side too short to mirror (reflection needs fewer pixels than it has) is replicated instead.
    """
    height, width = L_n.shape[-2:]
    bottom = memory.BORDER_MARGIN + (-(height + 2 * memory.BORDER_MARGIN)) % memory.PAD_MULTIPLE
    right = memory.BORDER_MARGIN + (-(width + 2 * memory.BORDER_MARGIN)) % memory.PAD_MULTIPLE
    mode = "reflect" if min(height, width) > max(bottom, right) else "replicate"
    padding = (memory.BORDER_MARGIN, right, memory.BORDER_MARGIN, bottom)
    return torch.nn.functional.pad(L_n, padding, mode=mode), framed_window(height, width), padding


def framed_window(height: int, width: int) -> tuple[slice, ...]:
    """Where an (height, width) photo lies within its `framed` input (index of (..., H', W') arrays)."""
    margin = memory.BORDER_MARGIN
    return Ellipsis, slice(margin, margin + height), slice(margin, margin + width)


def predict_lab(generator: nn.Module, rgb: np.ndarray, render_size: int = DEFAULT_RENDER_SIZE) -> np.ndarray:
    """(H, W, 3) sRGB in [0, 1] -> (H, W, 3) float32 Lab whose L is exactly `color.rgb_to_L(rgb)`.

    A colour input keeps only its lightness (it is colorized as its gray version).
    """
    L = color_module.rgb_to_L(rgb)
    ab = predict_ab(generator, shrink_L(L, render_size)[None])[0]
    return color_module.merge_lab(L, ab)


def array_to_rgb(image: np.ndarray) -> np.ndarray:
    """A numpy image as users hold it -> (H, W, 3) float32 sRGB in [0, 1].

    image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (alpha dropped); uint8, uint16, or float in
    [0, 1]. A float image is never rescaled by guessing: one with values far outside [0, 1] (a 0...255
    float image, say) is refused, as it would otherwise come out all white; a small overshoot
    (FLOAT_SLACK) is clipped. Raises ImageError for anything else.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ImageError(f"image array of shape {image.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        rgb = image[..., :3].astype(np.float32) / float(np.iinfo(image.dtype).max)
    elif np.issubdtype(image.dtype, np.floating):
        rgb = _checked_float_rgb(image[..., :3])
    else:
        raise ImageError(f"image array of dtype {image.dtype}: expected uint8, uint16 or float in [0, 1]")
    return np.ascontiguousarray(np.broadcast_to(rgb, (*rgb.shape[:2], 3)))


def array_to_L(image: np.ndarray) -> np.ndarray:
    """A numpy image as users hold it (see `array_to_rgb`) -> (H, W) float32 L; an 8-bit gray one by table."""
    image = np.asarray(image)
    if image.dtype == np.uint8 and image.ndim == 2 and min(image.shape) >= 1:
        return color_module.gray_to_L(image)
    return color_module.rgb_to_L(array_to_rgb(image))


def _checked_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, C) float in [0, 1] -> float32, clipped; ImageError for NaN or values of another scale."""
    low, high = float(rgb.min()), float(rgb.max())  # NaN propagates through both
    if np.isnan(low) or np.isnan(high):
        raise ImageError("float image with NaN values: expected values in [0, 1]")
    if high > 1.0 + FLOAT_SLACK:
        raise ImageError(f"float image with values up to {high:.1f}: expected [0, 1]; "
                         f"divide by 255 (or pass uint8)")
    if low < -FLOAT_SLACK:
        raise ImageError(f"float image with values down to {low:.1f}: expected [0, 1]")
    if low >= 0.0 and high <= 1.0:
        return np.asarray(rgb, dtype=np.float32)  # no copy for a float32 image already in range
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


class WrittenStats:
    """Measures the a*b* statistics an image would be written with, from about render_size² of its pixels.

    Colour control has to land on the written image's statistics, and the gamut mapping that makes
    it (`Colorizer.render`) pulls chroma back most at the darkest and brightest pixels, which a
    shrunk L (area-averaged) has fewer of. So this keeps every `step`-th full-size pixel's own L and
    samples the a*b* there as `color.merge_lab`'s bilinear resize does; the measure then tracks the
    full-size render to a few tenths of ΔE at a network-size cost (~5 ms at 256²).
    """

    def __init__(self, L: np.ndarray, ab_size: tuple[int, int]) -> None:
        """L: (H, W) full-size lightness in [0, 100]; ab_size: (h, w) of the a*b* to be measured."""
        (height, width), (h, w) = L.shape, ab_size
        step = max(1, min(height // h, width // w))
        self.L = np.ascontiguousarray(L[::step, ::step], dtype=np.float32)
        self.maps = None
        if self.L.shape != (h, w):
            # full-size pixel centre (i * step) in a*b* coordinates, as cv2.resize's INTER_LINEAR maps it
            ys = (np.arange(self.L.shape[0], dtype=np.float32) * step + 0.5) * (h / height) - 0.5
            xs = (np.arange(self.L.shape[1], dtype=np.float32) * step + 0.5) * (w / width) - 0.5
            self.maps = np.meshgrid(xs, ys)

    def __call__(self, ab: np.ndarray) -> moods.ColorTarget:
        """(h, w, 2) a*b* in Lab units -> mean a*b* and spread (`mood.ab_stats`) of the written image."""
        if self.maps is not None:
            ab = cv2.remap(np.ascontiguousarray(ab, dtype=np.float32), *self.maps, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        rgb8 = Colorizer.render(self.L, ab)
        return moods.ab_stats(color_module.rgb_to_lab(rgb8.astype(np.float32) / 255.0)[..., 1:])


@dataclass(frozen=True)
class Prediction:
    """One image's predicted a*b*, (h, w, 2) in Lab units at working size, and what its colour control
    reached (None without control)."""

    ab: np.ndarray
    control: moods.ControlReport | None = None


class Colorizer:
    """A generator ready for inference, and the full-resolution pipeline around it.

    >>> colorizer = Colorizer.from_checkpoint()             # the bundled default model
    >>> rgb8 = colorizer(gray)                              # (H, W) or (H, W, 3|4) array -> (H, W, 3) uint8
    >>> warm = colorizer(gray, mood="warm", strength=0.7)   # the same loaded model, another mood
    >>> rgb8 = colorizer("scan.tif")                        # a path is read with images.read_image

    The generator is copied once, BatchNorm folded into its convs and laid out channels_last (faster
    on CPU convolutions), so the caller's module is left untouched. Colour control (`mood.control`:
    a named mood, a colour temperature, a hex colour or a reference image, at a strength in [0, 1])
    is an argument of each call. A generator that takes a colour hint is asked for the goal and
    paints the photo as one taken in that light (one more network call); other generators, or
    `learned=False`, start from their own colours. Either way `mood.arrive` then corrects what is
    missing, measured on the image as it will be written, so the request is reached (or the closest
    the photo's lightness allows, with a note: `colorize_with_report`). L is never touched.

    Before the network runs, the memory an image needs at `render_size` is estimated and compared
    with what the machine has free (`check_memory`): too much is one ImageError naming a render size
    that fits, instead of an OOM kill.
    """

    def __init__(self, generator: nn.Module | onnx_backend.OnnxGenerator, device: torch.device | str = "cpu",
                 render_size: int = DEFAULT_RENDER_SIZE, vividness: float | None = None) -> None:
        """vividness: every call's default in [0, 1] for a model with a distribution head (None: the
        model's own default); a call's `vividness` overrides it."""
        if render_size < 1:
            raise ConfigError(f"render_size must be at least 1, got {render_size}")
        self.device = torch.device(device)
        self.render_size = render_size
        self.takes_hint = generator.takes_hint
        self.takes_points = getattr(generator, "takes_points", False)
        self.takes_vividness = getattr(generator, "takes_vividness", False)
        self.vividness = self.checked_vividness(vividness)
        if isinstance(generator, nn.Module):  # an OnnxGenerator was folded at export; its session cannot be copied
            generator = fold_batchnorm(copy.deepcopy(generator).eval())
            generator = generator.to(self.device, memory_format=torch.channels_last)
        self.generator = generator

    @classmethod
    def from_checkpoint(cls, path: Path | str | None = None, device: torch.device | str = "cpu",
                        render_size: int = DEFAULT_RENDER_SIZE, backend: str | None = None,
                        vividness: float | None = None) -> "Colorizer":
        """Load a generator-only export or a training checkpoint (its EMA weights when present).

        path None means the bundled default, `checkpoints/default.pt` (inside the installed package,
        or of the source tree). backend "onnx" runs an .onnx file from `onnx_backend.export_onnx` with
        onnxruntime; None picks it by the file's suffix. Raises CheckpointError for a missing, foreign
        or mismatched file.
        """
        if path is None:
            path = DEFAULT_CHECKPOINT
            if not path.is_file():
                raise CheckpointError(f"{path}: the bundled default model is missing; pass a trained "
                                      f"generator with --checkpoint PATH (or Colorizer.from_checkpoint(PATH))")
        if backend not in (None, "torch", "onnx"):
            raise ConfigError(f"backend must be torch or onnx, got {backend!r}")
        if backend == "onnx" or (backend is None and Path(path).suffix.lower() == ".onnx"):
            return cls(onnx_backend.OnnxGenerator(Path(path)), device, render_size, vividness)
        generator, _ = checkpoint.load_generator(Path(path), "cpu")
        return cls(generator, device, render_size, vividness)

    def __call__(self, image: np.ndarray | Path | str, *, mood: str | None = None, color: str | None = None,
                 reference: Path | str | None = None, temperature: float | None = None, strength: float = 1.0,
                 learned: bool = True, points: list | tuple | None = None,
                 vividness: float | None = None) -> np.ndarray:
        """(H, W) or (H, W, 3|4) uint8/uint16/float image, or an image file's path -> (H, W, 3) uint8
        colorized sRGB, same size.

        A float image must hold values in [0, 1] (`array_to_rgb`). A colour image is colorized from
        its lightness alone, as if it were gray. At most one of mood / color / reference / temperature; see
        `mood.control`. points: colour points in the image's pixels, each (x, y, colour[, radius]) or
        {"x", "y", "color"[, "radius"]}, a colour "#rrggbb" or an (a*, b*) pair (`points.parse_point`);
        they combine with a mood. vividness: from the calm estimate (0) to the distribution's vivid one
        (1), for a model with a distribution head (`models.chroma_bins`). Raises ImageError for an
        unreadable file, a bad array, or an image that needs more memory than the machine has at this
        render size; ConfigError for a bad point or vividness.
        """
        request = moods.control(mood, color, reference, strength, learned, temperature)
        wanted = self.checked_points(points)
        return self.colorize(self._input_image(image), request, wanted, self.checked_vividness(vividness))

    def checked_vividness(self, vividness: float | None) -> float | None:
        """A vividness as given (None stays None); ConfigError outside [0, 1] or for a model without a
        distribution head."""
        if vividness is None:
            return None
        if not self.takes_vividness:
            raise ConfigError("this model has no colour-distribution head, so vividness has nothing to change "
                              "(train one with distribution.head: true: docs/training.md)")
        if not 0.0 <= vividness <= 1.0:
            raise ConfigError(f"vividness must be in [0, 1], got {vividness}")
        return float(vividness)

    @property
    def default_vividness(self) -> float:
        """The vividness of a call that gives none (a model with a distribution head)."""
        return self.generator.default_vividness if self.vividness is None else self.vividness

    @property
    def gives_uncertainty(self) -> bool:
        """Whether `uncertainty` works: a torch model with a distribution head (an ONNX file holds the colour only)."""
        return self.takes_vividness and isinstance(self.generator, nn.Module)

    def check_uncertainty(self) -> None:
        """ConfigError unless this model can give an uncertainty map (a torch model with a distribution head)."""
        if not self.gives_uncertainty:
            raise ConfigError("an uncertainty map needs a torch model with a colour-distribution head "
                              "(trained with distribution.head: true)")

    def uncertainty(self, L: np.ndarray) -> np.ndarray:
        """(H, W) L in [0, 100] -> (H, W) uint8: 255 where the model is least sure of the colour (the
        distribution's normalised entropy), 0 where it is sure; where a colour point helps most.
        ConfigError for a model without a distribution head (or an ONNX one: it exports the colour only)."""
        self.check_uncertainty()
        unsure = predict_uncertainty(self.generator, shrink_L(L, self.render_size)[None])[0]
        full = cv2.resize(unsure, (L.shape[1], L.shape[0]), interpolation=cv2.INTER_LINEAR)
        return image_writer.to_uint8(full)

    def checked_points(self, points: list | tuple | None) -> tuple[point_module.Point, ...] | None:
        """Points as users write them -> Points (None for none); ConfigError for a malformed point or a
        model that takes none."""
        if not points:
            return None
        if not self.takes_points:
            raise ConfigError("this model takes no colour points (trained without model.args.points: true); "
                              "use the bundled model or one trained with points")
        return point_module.parse_points(points)

    def _input_image(self, image: np.ndarray | Path | str) -> np.ndarray:
        """A path or an array -> an array `array_to_L` takes, after the memory check.

        An array is checked from its shape, before any full-size copy; a file after decoding (the
        decoder is what tells its size; the folder runner checks file headers instead).
        """
        if isinstance(image, str | Path):
            picture = images.read_image(Path(image))
            self.check_memory(*picture.size, name=str(image))
            return picture.pixels if picture.pixels.dtype != np.float32 else picture.rgb  # the latter clipped
        image = np.asarray(image)
        if image.ndim in (2, 3):
            self.check_memory(*image.shape[:2])
        return image

    def check_memory(self, height: int, width: int, name: str = "image", full_size_images: int = 1) -> None:
        """Refuse, before allocating anything, an (height, width) image that needs more memory than is free.

        full_size_images: how many images' full-resolution arrays are alive at once (the folder
        runner decodes one while it renders another). Raises ImageError naming the estimate, the
        memory available and the largest render size that fits, e.g. `x.jpg (13.5 MP): --render-size
        3000 needs about 29.5 GB; this machine has 8.0 GB available: use --render-size 2112 or less`.
        Does nothing where free memory is unknown. On a GPU it counts host memory only.
        """
        memory.check(height, width, self.render_size, name, full_size_images)

    def colorize(self, image: np.ndarray, request: moods.Control | None = None,
                 points: tuple[point_module.Point, ...] | None = None, vividness: float | None = None) -> np.ndarray:
        """The call above with the colour request already resolved (`mood.control`) and the points
        parsed (`checked_points`), for callers that reuse one request over many images."""
        return self.colorize_with_report(image, request, points, vividness)[0]

    def colorize_with_report(self, image: np.ndarray, request: moods.Control | None = None,
                             points: tuple[point_module.Point, ...] | None = None, vividness: float | None = None,
                             ) -> tuple[np.ndarray, moods.ControlReport | None, point_module.PointsReport | None]:
        """`colorize`, what its colour control reached (`mood.ControlReport`; None without control) and
        what its colour points reached (`points.PointsReport`, None without points).

        Each report's `note()` is a one-line message when the photo could not hold the request.
        """
        L = array_to_L(image)
        prediction = self.predict([L], request, None if points is None else [points], vividness)[0]
        rgb8 = self.render(L, prediction.ab)
        return rgb8, prediction.control, self.points_report(rgb8, points)

    @staticmethod
    def points_report(rgb8: np.ndarray, points: tuple[point_module.Point, ...] | None) -> point_module.PointsReport | None:
        """What the written (H, W, 3) uint8 image holds at each point (None without points)."""
        return point_module.PointsReport(points, point_module.written_colours(rgb8, points)) if points else None

    def predict_ab(self, Ls: list[np.ndarray], request: moods.Control | None = None,
                   vividness: float | None = None) -> list[np.ndarray]:
        """`predict` without the reports: the a*b* (h, w, 2) of each image."""
        return [prediction.ab for prediction in self.predict(Ls, request, vividness=vividness)]

    def predict(self, Ls: list[np.ndarray], request: moods.Control | None = None,
                points: list[tuple[point_module.Point, ...] | None] | None = None,
                vividness: float | None = None) -> list[Prediction]:
        """Full-size L arrays (H, W) in [0, 100] -> a*b* (h, w, 2) at each one's working size, with reports.

        Arrays of one working size go through the network as a batch; call with equal sizes.
        request: the colour control (`mood.control`), None for the model's own colours. With one,
        each image's goal is `request.goal` of its uncontrolled result's written statistics; a hinted
        model (and `request.learned`) is asked for that goal, otherwise the uncontrolled a*b* is the
        start; then `mood.arrive` corrects the rest against the written image (`WrittenStats`), so at
        strength 1 the written mean lands within ΔE 2 of the target wherever the photo can hold it.
        vividness: checked by `checked_vividness`; None: the Colorizer's (or the model's) default.
        """
        vividness = self.vividness if vividness is None else vividness
        small = np.stack([shrink_L(L, self.render_size) for L in Ls])  # (B, h, w)
        points = points if points and any(points) else None
        for L, wanted in zip(Ls, points or ()):
            point_module.check_inside(wanted or (), *L.shape)
        maps = (torch.cat([point_module.point_map(wanted or (), L.shape, small.shape[1:]) for L, wanted in zip(Ls, points)])
                if points else None)
        own = predict_ab(self.generator, small, point_maps=maps, vividness=vividness)  # (B, h, w, 2)
        if request is None:
            predictions = [Prediction(ab) for ab in own]
        else:
            predictions = self._controlled(Ls, small, own, request, maps, vividness)
        if points is None:
            return predictions
        return [Prediction(point_module.arrive(p.ab, s, wanted, L.shape), p.control) if wanted else p
                for p, s, wanted, L in zip(predictions, small, points, Ls)]

    def _controlled(self, Ls: list[np.ndarray], small: np.ndarray, own: np.ndarray, request: moods.Control,
                    maps: torch.Tensor | None, vividness: float | None) -> list[Prediction]:
        """`predict`'s colour control: each image's goal from its uncontrolled a*b* `own` (B, h, w, 2),
        the hinted network call, then `mood.arrive`."""
        measures = [WrittenStats(L, own.shape[1:3]) for L in Ls]
        starts = [measure(ab) for measure, ab in zip(measures, own)]
        goals = [request.goal(start) for start in starts]
        is_learned = request.learned and self.takes_hint
        painted = (predict_ab(self.generator, small, torch.cat([hint.target_hint(goal, 1) for goal in goals]), maps,
                              vividness)
                   if is_learned else own)
        predictions = []
        for ab, measure, start, goal in zip(painted, measures, starts, goals):
            ab, reached, first = moods.arrive(ab, measure, goal, None if is_learned else start)
            share = moods.share_of_way(start, first, goal) if is_learned else None
            predictions.append(Prediction(ab, moods.ControlReport(request.label, goal, reached, share)))
        return predictions

    @staticmethod
    def render(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """(H, W) L and (h, w, 2) a*b* -> (H, W, 3) uint8 sRGB whose L is the given one, up to 8-bit rounding."""
        return color_module.lab_to_rgb8_in_gamut(color_module.merge_lab(L, ab))
