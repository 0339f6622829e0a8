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

from gan_colorizer import checkpoint, hint, images
from gan_colorizer import color as color_module  # `color` is also the hex-colour argument of a call
from gan_colorizer import mood as moods
from gan_colorizer.errors import CheckpointError, ConfigError, ImageError

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "default.pt"
# Shorter side the network sees. 256 is the training scale; 384/512 cost about 2x/4x the network time
# and cut the chroma lost to resizing from 1.2 to 0.9/0.75 mean ΔE_ab (docs/performance.md).
DEFAULT_RENDER_SIZE = 256


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


def working_size(height: int, width: int, render_size: int) -> tuple[int, int]:
    """(h, w) the network runs at: shorter side `render_size`, aspect kept, never larger than the input."""
    scale = render_size / min(height, width)
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink_L(L: np.ndarray, render_size: int) -> np.ndarray:
    """(H, W) L in [0, 100] -> (h, w) L at `working_size`; area averaging, so fine texture does not alias."""
    height, width = working_size(*L.shape, render_size)
    if (height, width) == L.shape:
        return np.ascontiguousarray(L, dtype=np.float32)
    return cv2.resize(L, (width, height), interpolation=cv2.INTER_AREA)


@torch.inference_mode()
def predict_ab(generator: nn.Module, small_L: np.ndarray, hints: torch.Tensor | None = None) -> np.ndarray:
    """(B, h, w) L in [0, 100] -> (B, h, w, 2) float32 a*b* in Lab units, one network call.

    The generator may be anywhere; inputs go to its device. It must be in eval mode (BatchNorm
    running statistics, no dropout): `checkpoint.load_generator` returns it so.
    hints: (B, HINT_SIZE) colour hints (`gan_colorizer.hint`) for a generator that takes them.
    """
    device = next(generator.parameters()).device
    L_n = torch.from_numpy(color_module.normalize_L(np.asarray(small_L, dtype=np.float32)))[:, None]  # (B, 1, h, w)
    if hints is None:
        ab_n = generator(L_n.to(device))  # (B, 2, h, w) in [-1, 1]
    else:
        ab_n = generator(L_n.to(device), hints.to(device))
    return color_module.denormalize_ab(ab_n.float().permute(0, 2, 3, 1).cpu().numpy())


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
    [0, 1] (values outside are clipped). Raises ImageError for anything else.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ImageError(f"image array of shape {image.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        rgb = image[..., :3].astype(np.float32) / float(np.iinfo(image.dtype).max)
    elif np.issubdtype(image.dtype, np.floating):
        rgb = np.clip(image[..., :3], 0.0, 1.0).astype(np.float32)
    else:
        raise ImageError(f"image array of dtype {image.dtype}: expected uint8, uint16 or float in [0, 1]")
    return np.ascontiguousarray(np.broadcast_to(rgb, (*rgb.shape[:2], 3)))


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

    The generator is copied once, BatchNorm folded into its convs and laid out channels_last (faster
    on CPU convolutions), so the caller's module is left untouched. Colour control (`mood.control`:
    a named mood, a colour temperature, a hex colour or a reference image, at a strength in [0, 1])
    is an argument of each call. A generator that takes a colour hint is asked for the goal and
    paints the photo as one taken in that light (one more network call); other generators, or
    `learned=False`, start from their own colours. Either way `mood.arrive` then corrects what is
    missing, measured on the image as it will be written, so the request is reached (or the closest
    the photo's lightness allows, with a note: `colorize_with_report`). L is never touched.
    """

    def __init__(self, generator: nn.Module, device: torch.device | str = "cpu",
                 render_size: int = DEFAULT_RENDER_SIZE) -> None:
        if render_size < 1:
            raise ConfigError(f"render_size must be at least 1, got {render_size}")
        self.device = torch.device(device)
        self.render_size = render_size
        self.takes_hint = generator.takes_hint
        generator = fold_batchnorm(copy.deepcopy(generator).eval())
        self.generator = generator.to(self.device, memory_format=torch.channels_last)

    @classmethod
    def from_checkpoint(cls, path: Path | str | None = None, device: torch.device | str = "cpu",
                        render_size: int = DEFAULT_RENDER_SIZE) -> "Colorizer":
        """Load a generator-only export or a training checkpoint (its EMA weights when present).

        path None means the bundled default, `checkpoints/default.pt` of the source tree.
        Raises CheckpointError for a missing, foreign or mismatched file.
        """
        if path is None:
            path = DEFAULT_CHECKPOINT
            if not path.is_file():
                raise CheckpointError(f"{path}: the bundled default model is missing; pass a trained "
                                      f"generator with --checkpoint PATH (or Colorizer.from_checkpoint(PATH))")
        generator, _ = checkpoint.load_generator(Path(path), "cpu")
        return cls(generator, device, render_size)

    def __call__(self, image: np.ndarray, *, mood: str | None = None, color: str | None = None,
                 reference: Path | str | None = None, temperature: float | None = None, strength: float = 1.0,
                 learned: bool = True) -> np.ndarray:
        """(H, W) or (H, W, 3|4) uint8/uint16/float image -> (H, W, 3) uint8 colorized sRGB, same size.

        A colour image is colorized from its lightness alone, as if it were gray. At most one of
        mood / color / reference / temperature; see `mood.control`.
        """
        request = moods.control(mood, color, reference, strength, learned, temperature)
        return self.colorize_with_report(image, request)[0]

    def colorize(self, image: np.ndarray, request: moods.Control | None = None) -> np.ndarray:
        """The call above with the colour request already resolved (`mood.control`), for callers that
        reuse one request over many images."""
        return self.colorize_with_report(image, request)[0]

    def colorize_with_report(self, image: np.ndarray,
                             request: moods.Control | None = None) -> tuple[np.ndarray, moods.ControlReport | None]:
        """`colorize`, and what its colour control reached (`mood.ControlReport`; None without control).

        `report.note()` is a one-line message when the photo could not hold the request.
        """
        L = color_module.rgb_to_L(array_to_rgb(image))
        prediction = self.predict([L], request)[0]
        return self.render(L, prediction.ab), prediction.control

    def predict_ab(self, Ls: list[np.ndarray], request: moods.Control | None = None) -> list[np.ndarray]:
        """`predict` without the reports: the a*b* (h, w, 2) of each image."""
        return [prediction.ab for prediction in self.predict(Ls, request)]

    def predict(self, Ls: list[np.ndarray], request: moods.Control | None = None) -> list[Prediction]:
        """Full-size L arrays (H, W) in [0, 100] -> a*b* (h, w, 2) at each one's working size, with reports.

        Arrays of one working size go through the network as a batch; call with equal sizes.
        request: the colour control (`mood.control`), None for the model's own colours. With one,
        each image's goal is `request.goal` of its uncontrolled result's written statistics; a hinted
        model (and `request.learned`) is asked for that goal, otherwise the uncontrolled a*b* is the
        start; then `mood.arrive` corrects the rest against the written image (`WrittenStats`), so at
        strength 1 the written mean lands within ΔE 2 of the target wherever the photo can hold it.
        """
        small = np.stack([shrink_L(L, self.render_size) for L in Ls])  # (B, h, w)
        own = predict_ab(self.generator, small)  # (B, h, w, 2)
        if request is None:
            return [Prediction(ab) for ab in own]
        measures = [WrittenStats(L, own.shape[1:3]) for L in Ls]
        starts = [measure(ab) for measure, ab in zip(measures, own)]
        goals = [request.goal(start) for start in starts]
        is_learned = request.learned and self.takes_hint
        painted = (predict_ab(self.generator, small, torch.cat([hint.target_hint(goal, 1) for goal in goals]))
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
        return images.to_uint8(color_module.lab_to_rgb_in_gamut(color_module.merge_lab(L, ab)))
